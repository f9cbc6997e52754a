package nexmark

import (
	"strconv"

	"github.com/sluicehq/sluice"
)

// Q0Row is a row of q0: a bid, with the columns auction, bidder, price, dateTime, extra.
type Q0Row struct {
	Auction  int64
	Bidder   int64
	Price    int64
	DateTime int64
	Extra    string
}

// AppendJSON appends {"auction":…,"bidder":…,"price":…,"dateTime":…,"extra":…}.
func (r Q0Row) AppendJSON(dst []byte) []byte {
	dst = appendKey(dst, true, "auction")
	dst = strconv.AppendInt(dst, r.Auction, 10)
	dst = appendKey(dst, false, "bidder")
	dst = strconv.AppendInt(dst, r.Bidder, 10)
	dst = appendKey(dst, false, "price")
	dst = strconv.AppendInt(dst, r.Price, 10)
	dst = appendKey(dst, false, "dateTime")
	dst = strconv.AppendInt(dst, r.DateTime, 10)
	dst = appendKey(dst, false, "extra")
	dst = appendJSONString(dst, r.Extra)
	return append(dst, '}')
}

// Ready is the bid's dateTime: the row exists as soon as the bid does.
func (r Q0Row) Ready() Readiness { return readyByEvent(r.DateTime) }

// Key is 0: q0 does not update rows.
func (r Q0Row) Key() int64 { return 0 }

// Q0 is Nexmark query 0, pass-through: every bid, unchanged. It measures the cost of moving
// events through the engine.
//
//	SELECT auction, bidder, price, dateTime, extra FROM bid
func Q0(events sluice.Stream[Event]) sluice.Stream[Q0Row] {
	return sluice.FlatMap(events, func(e Event, emit func(Q0Row)) {
		if e.Kind == KindBid {
			b := &e.Bid
			emit(Q0Row{Auction: b.Auction, Bidder: b.Bidder, Price: b.Price, DateTime: b.DateTime, Extra: b.Extra})
		}
	}).Name("q0-bids")
}
