package nexmark

import (
	"strconv"

	"github.com/sluicehq/sluice"
)

// Q1Row is a row of q1: a bid with its price in euros, with the columns auction, bidder, price,
// dateTime, extra.
type Q1Row struct {
	Auction int64
	Bidder  int64
	// Price is the bid's price × 0.908, computed as price·908/1000 so that it is the double
	// nearest to the exact decimal (which Flink's DECIMAL result holds): its JSON form is that
	// decimal, e.g. 1120.472 for a price of 1234.
	Price    float64
	DateTime int64
	Extra    string
}

// AppendJSON appends {"auction":…,"bidder":…,"price":…,"dateTime":…,"extra":…}.
func (r Q1Row) AppendJSON(dst []byte) []byte {
	dst = appendKey(dst, true, "auction")
	dst = strconv.AppendInt(dst, r.Auction, 10)
	dst = appendKey(dst, false, "bidder")
	dst = strconv.AppendInt(dst, r.Bidder, 10)
	dst = appendKey(dst, false, "price")
	dst = appendFloat(dst, r.Price)
	dst = appendKey(dst, false, "dateTime")
	dst = strconv.AppendInt(dst, r.DateTime, 10)
	dst = appendKey(dst, false, "extra")
	dst = appendJSONString(dst, r.Extra)
	return append(dst, '}')
}

// Ready is the bid's dateTime.
func (r Q1Row) Ready() Readiness { return readyByEvent(r.DateTime) }

// Key is 0: q1 does not update rows.
func (r Q1Row) Key() int64 { return 0 }

// DollarsToEuros converts a price as q1 does: price × 0.908, as the double nearest to the exact
// product.
func DollarsToEuros(price int64) float64 { return float64(price*908) / 1000 }

// Q1 is Nexmark query 1, currency conversion: every bid with its price converted from dollars to
// euros.
//
//	SELECT auction, bidder, 0.908 * price AS price, dateTime, extra FROM bid
func Q1(events sluice.Stream[Event]) sluice.Stream[Q1Row] {
	return sluice.FlatMap(events, func(e Event, emit func(Q1Row)) {
		if e.Kind == KindBid {
			b := &e.Bid
			emit(Q1Row{Auction: b.Auction, Bidder: b.Bidder, Price: DollarsToEuros(b.Price), DateTime: b.DateTime, Extra: b.Extra})
		}
	}).Name("q1-convert")
}
