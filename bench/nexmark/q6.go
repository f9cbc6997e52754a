package nexmark

import (
	"cmp"
	"strconv"

	"github.com/sluicehq/sluice"
)

// Q6Row is a row of q6, with the columns seller, avg_price: the average winning price of the
// seller's 10 latest-expiring auctions that have one. q6's results update: a row replaces the
// seller's previous row, and the result is the last row per seller.
type Q6Row struct {
	Seller   int64
	AvgPrice float64
	// closed is the expiry of the auction whose closing produced the row. It is not a column.
	closed int64
}

// AppendJSON appends {"seller":…,"avg_price":…}.
func (r Q6Row) AppendJSON(dst []byte) []byte {
	dst = appendKey(dst, true, "seller")
	dst = strconv.AppendInt(dst, r.Seller, 10)
	dst = appendKey(dst, false, "avg_price")
	dst = appendFloat(dst, r.AvgPrice)
	return append(dst, '}')
}

// Ready is when the watermark passed the expiry of the auction that changed the average.
func (r Q6Row) Ready() Readiness { return readyByWatermark(r.closed) }

// Key is the seller: a row replaces the seller's previous row.
func (r Q6Row) Key() int64 { return r.Seller }

// Q6Auctions is the number of latest-expiring auctions q6 averages per seller.
const Q6Auctions = 10

// Q6 is Nexmark query 6, average selling price by seller: per seller, the average winning price
// (as in q4) of its 10 latest-expiring auctions that have a winning price. "Latest" orders
// auctions by expiry, then by auction id, so that ties on expiry are decided the same way every
// time.
//
//	SELECT Q.seller, AVG(Q.final) OVER (PARTITION BY Q.seller ORDER BY Q.expires
//	                                    ROWS BETWEEN 9 PRECEDING AND CURRENT ROW)
//	FROM (SELECT MAX(B.price) AS final, A.seller, A.expires FROM auction A, bid B
//	      WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
//	      GROUP BY A.id, A.seller, A.expires) Q
//
// Stage 1 is Winners, as in q4; stage 2, keyed by seller, keeps the seller's 10 latest winners in
// list state, sorted, and emits the new average whenever a winner enters them. Winners arrive
// roughly in expiry order, but not exactly (they come from several subtasks), so a winner older
// than the 10 kept changes nothing and emits no row.
func Q6(events sluice.Stream[Event]) sluice.Stream[Q6Row] {
	perSeller := sluice.KeyBy(Winners(events, "q6"), func(w Winner) int64 { return w.Seller }).Name("q6-by-seller")
	return sluice.Process(perSeller, newQ6Average).Name("q6-average").UID("q6-average")
}

// laterWinner orders winners by expiry, then auction id, latest first.
func laterWinner(a, b Winner) int {
	if c := cmp.Compare(b.Expires, a.Expires); c != 0 {
		return c
	}
	return cmp.Compare(b.Auction, a.Auction)
}

func newQ6Average(s *sluice.StateStore) sluice.KeyedProcessFunction[int64, Winner, Q6Row] {
	latest := sluice.NewListState[Winner](s, "latest-winners")
	var next []Winner
	return sluice.ProcessFuncs[int64, Winner, Q6Row]{Element: func(ctx *sluice.KeyedContext[int64, Q6Row], w Winner) error {
		cur := latest.Get()
		next = next[:0]
		placed := false
		for _, c := range cur {
			if !placed && laterWinner(w, c) < 0 {
				next = append(next, w)
				placed = true
			}
			next = append(next, c)
		}
		if !placed {
			next = append(next, w)
		}
		if len(next) > Q6Auctions {
			if next[Q6Auctions] == w {
				return nil // older than the 10 kept: the average does not change
			}
			next = next[:Q6Auctions]
		}
		latest.Update(next)
		var sum int64
		for _, c := range next {
			sum += c.Price
		}
		ctx.Emit(Q6Row{Seller: w.Seller, AvgPrice: float64(sum) / float64(len(next)), closed: w.Expires})
		return nil
	}}
}
