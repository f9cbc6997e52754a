package nexmark

import (
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/window"
)

// Q7Row is a row of q7: a bid whose price is the highest of its 10 s tumbling window, with the
// columns auction, price, bidder, dateTime, extra.
type Q7Row struct {
	Auction  int64
	Price    int64
	Bidder   int64
	DateTime int64
	Extra    string
}

// AppendJSON appends {"auction":…,"price":…,"bidder":…,"dateTime":…,"extra":…}.
func (r Q7Row) AppendJSON(dst []byte) []byte {
	dst = appendKey(dst, true, "auction")
	dst = strconv.AppendInt(dst, r.Auction, 10)
	dst = appendKey(dst, false, "price")
	dst = strconv.AppendInt(dst, r.Price, 10)
	dst = appendKey(dst, false, "bidder")
	dst = strconv.AppendInt(dst, r.Bidder, 10)
	dst = appendKey(dst, false, "dateTime")
	dst = strconv.AppendInt(dst, r.DateTime, 10)
	dst = appendKey(dst, false, "extra")
	dst = appendJSONString(dst, r.Extra)
	return append(dst, '}')
}

// Ready is when the watermark passes the end of the bid's window.
func (r Q7Row) Ready() Readiness {
	size := Q7WindowSize.Milliseconds()
	return readyByWatermark(windowStart(r.DateTime, size) + size - 1)
}

// Key is 0: every q7 row is final when emitted.
func (r Q7Row) Key() int64 { return 0 }

// Q7WindowSize is the tumbling window of q7.
const Q7WindowSize = 10 * time.Second

// q7Partitions is the number of partial maxima per window in q7's first stage.
const q7Partitions = 64

// highest is the running maximum price with every bid at that price.
type highest struct {
	Price int64
	Bids  []Q7Row
}

// highestAgg keeps the bids at the maximum price. A new maximum starts a fresh slice, so
// accumulators never share storage.
var highestAgg = agg.Funcs[Q7Row, highest, highest]{
	AddFn: func(b Q7Row, h highest) highest {
		switch {
		case h.Bids == nil || b.Price > h.Price:
			return highest{Price: b.Price, Bids: []Q7Row{b}}
		case b.Price == h.Price:
			h.Bids = append(h.Bids, b)
		}
		return h
	},
	MergeFn: mergeHighest,
	Get:     func(h highest) highest { return h },
}

func mergeHighest(a, b highest) highest {
	switch {
	case a.Bids == nil || b.Bids != nil && b.Price > a.Price:
		return b
	case b.Bids == nil || a.Price > b.Price:
		return a
	}
	return highest{Price: a.Price, Bids: append(append([]Q7Row(nil), a.Bids...), b.Bids...)}
}

// mergeHighestAgg merges the partial maxima of one window.
var mergeHighestAgg = agg.Funcs[sluice.Windowed[int64, highest], highest, highest]{
	AddFn:   func(p sluice.Windowed[int64, highest], h highest) highest { return mergeHighest(h, p.Value) },
	MergeFn: mergeHighest,
	Get:     func(h highest) highest { return h },
}

// Q7 is Nexmark query 7, highest bid: for every 10 s tumbling window, every bid whose price is
// the window's maximum.
//
//	SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra
//	FROM bid B JOIN (SELECT MAX(price) AS maxprice, window_end AS dateTime
//	                 FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//	                 GROUP BY window_start, window_end) B1
//	ON B.price = B1.maxprice WHERE B.dateTime BETWEEN B1.dateTime - INTERVAL '10' SECOND AND B1.dateTime
//
// A bid belongs to its window [start, start+10 s) only (the SQL's BETWEEN would also match a bid
// at exactly window_end, which belongs to the next window; the issue defines q7 per window).
//
// The maximum is computed in two phases, as Flink's optimizer does for a global window
// aggregate: stage 1 keeps, per window and per partition of the bids (price modulo 64, which
// spreads them evenly; keying by auction would send half of them to the hot auction's subtask),
// the bids at the partition's maximum; stage 2, keyed by window, merges the 64 partial results
// in a tumbling window holding the partials' timestamp end−1. The bids at the maximum travel with
// the maximum, so no second pass over the bids (the SQL's join) is needed.
func Q7(events sluice.Stream[Event]) sluice.Stream[Q7Row] {
	bids := sluice.FlatMap(events, func(e Event, emit func(Q7Row)) {
		if e.Kind == KindBid {
			b := &e.Bid
			emit(Q7Row{Auction: b.Auction, Price: b.Price, Bidder: b.Bidder, DateTime: b.DateTime, Extra: b.Extra})
		}
	}).Name("q7-bids")
	partitioned := sluice.KeyBy(bids, func(b Q7Row) int64 { return b.Price % q7Partitions }).Name("q7-by-partition")
	partial := sluice.Aggregate(sluice.Window(partitioned, window.Tumbling(Q7WindowSize)), highestAgg).
		Name("q7-partial-max").UID("q7-partial-max")
	perWindow := sluice.KeyBy(partial, func(p sluice.Windowed[int64, highest]) int64 { return p.Window.Start }).Name("q7-by-window")
	top := sluice.Aggregate(sluice.Window(perWindow, window.Tumbling(Q7WindowSize)), mergeHighestAgg).
		Name("q7-max").UID("q7-max")
	return sluice.FlatMap(top, func(h sluice.Windowed[int64, highest], emit func(Q7Row)) {
		for _, b := range h.Value.Bids {
			emit(b)
		}
	}).Name("q7-rows")
}
