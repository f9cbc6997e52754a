package nexmark

import (
	"math"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
)

// Q4Row is a row of q4, with the columns category, avg_price: the average winning price of the
// closed auctions of a category. q4's results update: each closed auction with a winning price
// emits its category's new average, and the result is the last row per category.
type Q4Row struct {
	Category int64
	AvgPrice float64
	// closed is the expiry of the auction whose closing produced the row. It is not a column.
	closed int64
}

// AppendJSON appends {"category":…,"avg_price":…}.
func (r Q4Row) AppendJSON(dst []byte) []byte {
	dst = appendKey(dst, true, "category")
	dst = strconv.AppendInt(dst, r.Category, 10)
	dst = appendKey(dst, false, "avg_price")
	dst = appendFloat(dst, r.AvgPrice)
	return append(dst, '}')
}

// Ready is when the watermark passed the expiry of the auction that changed the average.
func (r Q4Row) Ready() Readiness { return readyByWatermark(r.closed) }

// Key is the category: a row replaces the category's previous row.
func (r Q4Row) Key() int64 { return r.Category }

// Q4 is Nexmark query 4, average price for a category: per category, the average of the winning
// prices of its auctions, an auction's winning price being its highest bid with
// auction.dateTime ≤ bid.dateTime ≤ auction.expires (auctions without such a bid are left out).
//
//	SELECT Q.category, AVG(Q.final)
//	FROM (SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
//	      WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
//	      GROUP BY A.id, A.category) Q
//	GROUP BY Q.category
//
// Stage 1 (Winners) finds each auction's winning price when the watermark passes its expiry;
// stage 2, keyed by category, keeps the sum and count of winning prices and emits the new
// average (a float64: sum/count, with the sum kept as an exact integer so that the result does
// not depend on the order in which auctions close). Flink's AVG of a BIGINT would be a BIGINT;
// the benchmark's definition asks for a floating-point average.
func Q4(events sluice.Stream[Event]) sluice.Stream[Q4Row] {
	perCategory := sluice.KeyBy(Winners(events, "q4"), func(w Winner) int64 { return w.Category }).Name("q4-by-category")
	return sluice.Process(perCategory, newQ4Average).Name("q4-average").UID("q4-average")
}

// sumCount is an exact running sum and count.
type sumCount struct{ Sum, N int64 }

func (s sumCount) avg() float64 { return float64(s.Sum) / float64(s.N) }

func newQ4Average(s *sluice.StateStore) sluice.KeyedProcessFunction[int64, Winner, Q4Row] {
	total := sluice.NewValueState[sumCount](s, "sum-count")
	return sluice.ProcessFuncs[int64, Winner, Q4Row]{Element: func(ctx *sluice.KeyedContext[int64, Q4Row], w Winner) error {
		t, _ := total.Value()
		t.Sum += w.Price
		t.N++
		total.Update(t)
		ctx.Emit(Q4Row{Category: w.Category, AvgPrice: t.avg(), closed: w.Expires})
		return nil
	}}
}

// Winner is a closed auction with its winning price, the output of Winners.
type Winner struct {
	// Auction is the auction's id.
	Auction int64
	// Seller is the id of the auction's seller.
	Seller int64
	// Category is the auction's category.
	Category int64
	// Price is the highest bid with auction.dateTime ≤ bid.dateTime ≤ auction.expires.
	Price int64
	// Expires is the auction's expiry (epoch ms), also the record's event time.
	Expires int64
}

// ClosedAuctionRetention is how long (event time, after its expiry) Winners remembers that an
// auction closed, so that bids arriving for it are dropped at once. A bid arriving later still
// gets the right result: it is held as a bid on an unknown auction until the watermark passes it,
// then dropped.
const ClosedAuctionRetention = 10 * time.Second

// auctionOrBid is what Winners needs of an auction or of a bid.
type auctionOrBid struct {
	auction  int64 // the auction's id, or the id of the auction bid on
	at       int64 // dateTime
	expires  int64 // auctions only
	category int64 // auctions only
	seller   int64 // auctions only
	price    int64 // bids only
	isBid    bool
}

// openAuction is the state Winners keeps per auction.
type openAuction struct {
	At, Expires, Category, Seller int64
	Price                         int64 // the best qualifying bid so far, if hasBid
	HasBid                        bool
	Closed                        bool
}

// offer folds a bid into the auction and reports whether it changed.
func (a *openAuction) offer(price, at int64) bool {
	if at < a.At || at > a.Expires || a.HasBid && price <= a.Price {
		return false
	}
	a.Price, a.HasBid = price, true
	return true
}

// earlyBid is a bid that arrived before its auction.
type earlyBid struct{ Price, At int64 }

// Winners is the first stage of q4 and q6: every auction with a winning price, emitted when the
// watermark passes the auction's expiry (the record's event time is the expiry). Auctions and
// bids are keyed by auction id; a keyed process function keeps the auction and its best
// qualifying bid, and an event-time timer at the expiry emits the winner and closes the auction.
//
// Bids that arrive before their auction (the generator bids on auctions up to ten ids ahead) are
// held until the auction arrives, or until the watermark passes them: an auction that could still
// qualify them would then be late. An auction id seen twice keeps its first auction. name prefixes
// the operators' names and UIDs.
func Winners(events sluice.Stream[Event], name string) sluice.Stream[Winner] {
	in := sluice.FlatMap(events, func(e Event, emit func(auctionOrBid)) {
		switch e.Kind {
		case KindAuction:
			a := &e.Auction
			emit(auctionOrBid{auction: a.ID, at: a.DateTime, expires: a.Expires, category: a.Category, seller: a.Seller})
		case KindBid:
			emit(auctionOrBid{auction: e.Bid.Auction, at: e.Bid.DateTime, price: e.Bid.Price, isBid: true})
		}
	}).Name(name + "-auctions-and-bids")
	perAuction := sluice.KeyBy(in, func(v auctionOrBid) int64 { return v.auction }).Name(name + "-by-auction")
	return sluice.Process(perAuction, newWinners).Name(name + "-winners").UID(name + "-winners")
}

func newWinners(s *sluice.StateStore) sluice.KeyedProcessFunction[int64, auctionOrBid, Winner] {
	auction := sluice.NewValueState[openAuction](s, "auction")
	early := sluice.NewListState[earlyBid](s, "early-bids")
	cleanup := sluice.NewValueState[int64](s, "early-bids-timer")
	var kept []earlyBid
	retention := ClosedAuctionRetention.Milliseconds()

	onAuction := func(ctx *sluice.KeyedContext[int64, Winner], v auctionOrBid) {
		a := openAuction{At: v.at, Expires: v.expires, Category: v.category, Seller: v.seller}
		for _, b := range early.Get() {
			a.offer(b.Price, b.At)
		}
		early.Clear()
		if t, ok := cleanup.Value(); ok {
			ctx.DeleteEventTimeTimer(t)
			cleanup.Clear()
		}
		auction.Update(a)
		ctx.RegisterEventTimeTimer(a.Expires)
	}
	onEarlyBid := func(ctx *sluice.KeyedContext[int64, Winner], v auctionOrBid) {
		early.Add(earlyBid{Price: v.price, At: v.at})
		if t, ok := cleanup.Value(); !ok || v.at < t {
			if ok {
				ctx.DeleteEventTimeTimer(t)
			}
			cleanup.Update(v.at)
			ctx.RegisterEventTimeTimer(v.at)
		}
	}
	dropPassedEarlyBids := func(ctx *sluice.KeyedContext[int64, Winner]) {
		wm := ctx.CurrentWatermark()
		kept = kept[:0]
		next := int64(math.MaxInt64)
		for _, b := range early.Get() {
			if b.At > wm {
				kept = append(kept, b)
				next = min(next, b.At)
			}
		}
		early.Update(kept)
		cleanup.Clear()
		if len(kept) > 0 {
			cleanup.Update(next)
			ctx.RegisterEventTimeTimer(next)
		}
	}
	return sluice.ProcessFuncs[int64, auctionOrBid, Winner]{
		Element: func(ctx *sluice.KeyedContext[int64, Winner], v auctionOrBid) error {
			a, known := auction.Value()
			switch {
			case !v.isBid && !known:
				onAuction(ctx, v)
			case !v.isBid: // a repeated auction id: the first auction stands
			case known:
				if !a.Closed && a.offer(v.price, v.at) {
					auction.Update(a)
				}
			default:
				onEarlyBid(ctx, v)
			}
			return nil
		},
		Timer: func(ctx *sluice.KeyedContext[int64, Winner], ts int64) error {
			if a, ok := auction.Value(); ok {
				switch {
				case !a.Closed && ts >= a.Expires:
					if a.HasBid {
						ctx.Emit(Winner{Auction: ctx.Key(), Seller: a.Seller, Category: a.Category, Price: a.Price, Expires: a.Expires})
					}
					a.Closed = true
					auction.Update(a)
					if a.Expires <= math.MaxInt64-retention {
						ctx.RegisterEventTimeTimer(a.Expires + retention)
					}
				case a.Closed && ts-retention >= a.Expires:
					auction.Clear()
				}
			}
			if t, ok := cleanup.Value(); ok && ts >= t {
				dropPassedEarlyBids(ctx)
			}
			return nil
		},
	}
}
