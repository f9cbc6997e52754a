package nexmark

import (
	"strconv"

	"github.com/sluicehq/sluice"
)

// Q2Row is a row of q2, with the columns auction, price.
type Q2Row struct {
	Auction int64
	Price   int64
	// dateTime is the bid's time, for Ready; it is not a column.
	dateTime int64
}

// AppendJSON appends {"auction":…,"price":…}.
func (r Q2Row) AppendJSON(dst []byte) []byte {
	dst = appendKey(dst, true, "auction")
	dst = strconv.AppendInt(dst, r.Auction, 10)
	dst = appendKey(dst, false, "price")
	dst = strconv.AppendInt(dst, r.Price, 10)
	return append(dst, '}')
}

// Ready is the bid's dateTime.
func (r Q2Row) Ready() Readiness { return readyByEvent(r.dateTime) }

// Key is 0: q2 does not update rows.
func (r Q2Row) Key() int64 { return 0 }

// Q2AuctionSkip is q2's selection modulus: bids on auctions whose id is a multiple of it pass.
const Q2AuctionSkip = 123

// Q2 is Nexmark query 2, selection: the bids on auctions whose id is a multiple of 123.
//
//	SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0
func Q2(events sluice.Stream[Event]) sluice.Stream[Q2Row] {
	return sluice.FlatMap(events, func(e Event, emit func(Q2Row)) {
		if e.Kind == KindBid && e.Bid.Auction%Q2AuctionSkip == 0 {
			emit(Q2Row{Auction: e.Bid.Auction, Price: e.Bid.Price, dateTime: e.Bid.DateTime})
		}
	}).Name("q2-select")
}
