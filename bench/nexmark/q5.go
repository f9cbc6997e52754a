package nexmark

import (
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/window"
)

// Q5Row is a row of q5, with the columns auction, num, starttime, endtime: an auction whose
// number of bids in the hopping window [starttime, endtime) is the window's maximum.
type Q5Row struct {
	Auction   int64
	Num       int64
	StartTime int64
	EndTime   int64
}

// AppendJSON appends {"auction":…,"num":…,"starttime":…,"endtime":…}.
func (r Q5Row) AppendJSON(dst []byte) []byte {
	dst = appendKey(dst, true, "auction")
	dst = strconv.AppendInt(dst, r.Auction, 10)
	dst = appendKey(dst, false, "num")
	dst = strconv.AppendInt(dst, r.Num, 10)
	dst = appendKey(dst, false, "starttime")
	dst = strconv.AppendInt(dst, r.StartTime, 10)
	dst = appendKey(dst, false, "endtime")
	dst = strconv.AppendInt(dst, r.EndTime, 10)
	return append(dst, '}')
}

// Ready is when the watermark passes the window's end: the row is final when it is emitted.
func (r Q5Row) Ready() Readiness { return readyByWatermark(r.EndTime - 1) }

// Key is 0: every q5 row is final when emitted (one pane per window).
func (r Q5Row) Key() int64 { return 0 }

// The hopping window of q5: 10 s long, starting every 2 s.
const (
	// Q5WindowSize is the length of q5's windows.
	Q5WindowSize = 10 * time.Second
	// Q5WindowSlide is the distance between the starts of q5's windows.
	Q5WindowSlide = 2 * time.Second
)

// hottest is the running maximum of bid counts in one hopping window, with every auction that
// reaches it.
type hottest struct {
	Num      int64
	Auctions []int64
	Window   window.Window
}

// hottestAgg folds per-auction counts of one window into the auctions with the maximum count. A
// new maximum starts a fresh slice, so accumulators never share storage.
var hottestAgg = agg.Funcs[sluice.Windowed[int64, int64], hottest, hottest]{
	AddFn: func(c sluice.Windowed[int64, int64], h hottest) hottest {
		switch {
		case h.Auctions == nil || c.Value > h.Num:
			return hottest{Num: c.Value, Auctions: []int64{c.Key}, Window: c.Window}
		case c.Value == h.Num:
			h.Auctions = append(h.Auctions, c.Key)
		}
		return h
	},
	MergeFn: func(a, b hottest) hottest {
		switch {
		case a.Auctions == nil || b.Auctions != nil && b.Num > a.Num:
			return b
		case b.Auctions == nil || a.Num > b.Num:
			return a
		}
		return hottest{Num: a.Num, Auctions: append(append([]int64(nil), a.Auctions...), b.Auctions...), Window: a.Window}
	},
	Get: func(h hottest) hottest { return h },
}

// Q5 is Nexmark query 5, hot items: for every hopping window of 10 s sliding by 2 s, the
// auctions with the most bids in it (every one of them when several tie).
//
//	SELECT AuctionBids.auction, AuctionBids.num, AuctionBids.starttime, AuctionBids.endtime
//	FROM (SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
//	      FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
//	      GROUP BY auction, window_start, window_end) AS AuctionBids
//	JOIN (SELECT max(num) AS maxn, starttime, endtime FROM (…the same…) GROUP BY starttime, endtime) AS MaxBids
//	ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
//	   AND AuctionBids.num >= MaxBids.maxn
//
// Stage 1 counts bids per auction and hopping window (a sliding-window Aggregate keyed by
// auction). Every count of a window carries the window's timestamp end−1, so stage 2, keyed by
// window start, gathers them in a 2 s tumbling window that holds exactly that instant and keeps
// the maximum with its ties (the MaxBids join, fused). Stage 1 emits a window's counts before it
// forwards the watermark that fired them, so stage 2 has them all when the same watermark fires
// it: each row is emitted once, final.
func Q5(events sluice.Stream[Event]) sluice.Stream[Q5Row] {
	bids := sluice.FlatMap(events, func(e Event, emit func(int64)) {
		if e.Kind == KindBid {
			emit(e.Bid.Auction)
		}
	}).Name("q5-bid-auctions")
	perAuction := sluice.KeyBy(bids, func(auction int64) int64 { return auction }).Name("q5-by-auction")
	counts := sluice.Aggregate(sluice.Window(perAuction, window.Sliding(Q5WindowSize, Q5WindowSlide)),
		agg.Count[int64]()).Name("q5-count").UID("q5-count")
	perWindow := sluice.KeyBy(counts, func(c sluice.Windowed[int64, int64]) int64 { return c.Window.Start }).Name("q5-by-window")
	hot := sluice.Aggregate(sluice.Window(perWindow, window.Tumbling(Q5WindowSlide)), hottestAgg).
		Name("q5-max").UID("q5-max")
	return sluice.FlatMap(hot, func(h sluice.Windowed[int64, hottest], emit func(Q5Row)) {
		for _, a := range h.Value.Auctions {
			emit(Q5Row{Auction: a, Num: h.Value.Num, StartTime: h.Value.Window.Start, EndTime: h.Value.Window.End})
		}
	}).Name("q5-rows")
}
