package nexmark

import "fmt"

// Person is a new person registering with the auction site (Nexmark's "person" stream).
type Person struct {
	// ID is the person's id; generated ids start at 1000.
	ID int64 `json:"id"`
	// Name is "First Last" from small fixed lists of names.
	Name string `json:"name"`
	// EmailAddress is a random address of the form "xxx@yyy.com".
	EmailAddress string `json:"emailAddress"`
	// CreditCard is four groups of four digits separated by spaces.
	CreditCard string `json:"creditCard"`
	// City is one of ten US cities.
	City string `json:"city"`
	// State is one of six US state codes.
	State string `json:"state"`
	// DateTime is the event time, in milliseconds since the Unix epoch.
	DateTime int64 `json:"dateTime"`
	// Extra is padding that brings the record to about the configured average size.
	Extra string `json:"extra"`
}

// Auction is a new item put up for auction (Nexmark's "auction" stream).
type Auction struct {
	// ID is the auction's id; generated ids start at 1000.
	ID int64 `json:"id"`
	// ItemName is a short random name.
	ItemName string `json:"itemName"`
	// Description is a longer random text.
	Description string `json:"description"`
	// InitialBid is the opening price, in cents.
	InitialBid int64 `json:"initialBid"`
	// Reserve is the reserve price, in cents; it is never below InitialBid when generated.
	Reserve int64 `json:"reserve"`
	// DateTime is the event time, in milliseconds since the Unix epoch.
	DateTime int64 `json:"dateTime"`
	// Expires is when the auction closes, in milliseconds since the Unix epoch; after DateTime.
	Expires int64 `json:"expires"`
	// Seller is the id of the Person selling the item.
	Seller int64 `json:"seller"`
	// Category is the item's category, 10 to 14 when generated.
	Category int64 `json:"category"`
	// Extra is padding that brings the record to about the configured average size.
	Extra string `json:"extra"`
}

// Bid is a bid on an auction (Nexmark's "bid" stream).
type Bid struct {
	// Auction is the id of the Auction bid on.
	Auction int64 `json:"auction"`
	// Bidder is the id of the bidding Person.
	Bidder int64 `json:"bidder"`
	// Price is the bid, in cents.
	Price int64 `json:"price"`
	// Channel is the channel the bid came through (Flink Nexmark schema). Beam's model has no
	// such field, and the generator leaves it empty.
	Channel string `json:"channel"`
	// URL is the bid's URL (Flink Nexmark schema). Beam's model has no such field, and the
	// generator leaves it empty.
	URL string `json:"url"`
	// DateTime is the event time, in milliseconds since the Unix epoch.
	DateTime int64 `json:"dateTime"`
	// Extra is padding that brings the record to about the configured average size.
	Extra string `json:"extra"`
}

// EventKind says which record an [Event] holds.
type EventKind uint8

const (
	// KindNone marks an empty Event (the zero value); it is never generated or decoded.
	KindNone EventKind = iota
	// KindPerson marks an Event holding a new Person.
	KindPerson
	// KindAuction marks an Event holding a new Auction.
	KindAuction
	// KindBid marks an Event holding a Bid.
	KindBid
)

// String returns "person", "auction", "bid", or "none" (or a number for invalid kinds).
func (k EventKind) String() string {
	switch k {
	case KindNone:
		return "none"
	case KindPerson:
		return "person"
	case KindAuction:
		return "auction"
	case KindBid:
		return "bid"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one element of the Nexmark stream: a Person, an Auction or a Bid, as told by Kind.
// It holds the three records by value so that a caller can generate or decode into one reused
// Event without allocating anything beyond the strings; only the record named by Kind is
// meaningful, and the generator and decoder zero the other two.
type Event struct {
	// Kind says which of Person, Auction and Bid is set.
	Kind EventKind
	// Person is set when Kind is KindPerson.
	Person Person
	// Auction is set when Kind is KindAuction.
	Auction Auction
	// Bid is set when Kind is KindBid.
	Bid Bid
}

// Timestamp returns the event time of the held record (its DateTime), in milliseconds since the
// Unix epoch, or 0 for an event of kind KindNone.
func (e *Event) Timestamp() int64 {
	switch e.Kind {
	case KindPerson:
		return e.Person.DateTime
	case KindAuction:
		return e.Auction.DateTime
	case KindBid:
		return e.Bid.DateTime
	}
	return 0
}

// WatermarkDelayMillis is the out-of-orderness bound of the Flink SQL Nexmark table definitions:
// WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND.
const WatermarkDelayMillis = 4000

// WatermarkFor returns the watermark implied by an event with the given event time (epoch ms),
// following the Flink SQL Nexmark definitions: eventTime − 4000 ms. A stream's watermark is the
// maximum of this over the events seen so far. (Beam's own generator tracks a watermark equal to
// the event time of the current out-of-order group instead; with the default group size of one
// that is the event time itself.)
func WatermarkFor(eventTime int64) int64 {
	return eventTime - WatermarkDelayMillis
}
