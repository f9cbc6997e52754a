package nexmark

import (
	"strconv"

	"github.com/sluicehq/sluice"
)

// Q3Row is a row of q3, with the columns name, city, state, id: a seller in Oregon, Idaho or
// California and one of their auctions in category 10.
type Q3Row struct {
	Name  string
	City  string
	State string
	// ID is the auction's id.
	ID int64
	// ready is the later of the person's and the auction's dateTime: when the pair could first
	// be joined. It is not a column.
	ready int64
}

// AppendJSON appends {"name":…,"city":…,"state":…,"id":…}.
func (r Q3Row) AppendJSON(dst []byte) []byte {
	dst = appendKey(dst, true, "name")
	dst = appendJSONString(dst, r.Name)
	dst = appendKey(dst, false, "city")
	dst = appendJSONString(dst, r.City)
	dst = appendKey(dst, false, "state")
	dst = appendJSONString(dst, r.State)
	dst = appendKey(dst, false, "id")
	dst = strconv.AppendInt(dst, r.ID, 10)
	return append(dst, '}')
}

// Ready is the dateTime of the later of the two joined events.
func (r Q3Row) Ready() Readiness { return readyByEvent(r.ready) }

// Key is 0: q3 does not update rows.
func (r Q3Row) Key() int64 { return 0 }

// Q3Category is the auction category q3 selects.
const Q3Category = 10

// q3State reports whether a person's state is one q3 selects.
func q3State(s string) bool { return s == "OR" || s == "ID" || s == "CA" }

// q3Side is a person as q3 keeps it, or an auction (isAuction; no name, city or state).
type q3Side struct {
	Person    int64 // the person's id, or the auction's seller
	Auction   int64 // the auction's id
	IsAuction bool
	Name      string
	City      string
	State     string
	At        int64 // dateTime
}

// Q3 is Nexmark query 3, local item suggestion: every pair of an auction in category 10 and its
// seller, when the seller lives in Oregon, Idaho or California.
//
//	SELECT P.name, P.city, P.state, A.id
//	FROM auction AS A INNER JOIN person AS P ON A.seller = P.id
//	WHERE A.category = 10 AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')
//
// It is an incremental (regular, unwindowed) join, as in Flink: both inputs are filtered, keyed
// by person id (an auction by its seller), and a keyed process function keeps every person and
// every auction of its key in list state; each arrival is joined with what the other side holds
// and emits one row per new pair, whatever the order of arrival. Like Flink's regular join its
// state is never expired.
func Q3(events sluice.Stream[Event]) sluice.Stream[Q3Row] {
	sides := sluice.FlatMap(events, func(e Event, emit func(q3Side)) {
		switch {
		case e.Kind == KindPerson && q3State(e.Person.State):
			p := &e.Person
			emit(q3Side{Person: p.ID, Name: p.Name, City: p.City, State: p.State, At: p.DateTime})
		case e.Kind == KindAuction && e.Auction.Category == Q3Category:
			emit(q3Side{Person: e.Auction.Seller, Auction: e.Auction.ID, IsAuction: true, At: e.Auction.DateTime})
		}
	}).Name("q3-filter")
	perPerson := sluice.KeyBy(sides, func(s q3Side) int64 { return s.Person }).Name("q3-by-person")
	return sluice.Process(perPerson, newQ3Join).Name("q3-join").UID("q3-join")
}

// newQ3Join is the join of q3 for one subtask.
func newQ3Join(s *sluice.StateStore) sluice.KeyedProcessFunction[int64, q3Side, Q3Row] {
	persons := sluice.NewListState[q3Side](s, "persons")
	auctions := sluice.NewListState[q3Side](s, "auctions")
	return sluice.ProcessFuncs[int64, q3Side, Q3Row]{Element: func(ctx *sluice.KeyedContext[int64, Q3Row], v q3Side) error {
		if !v.IsAuction {
			persons.Add(v)
			for _, a := range auctions.Get() {
				ctx.Emit(Q3Row{Name: v.Name, City: v.City, State: v.State, ID: a.Auction, ready: max(v.At, a.At)})
			}
			return nil
		}
		auctions.Add(v)
		for _, p := range persons.Get() {
			ctx.Emit(Q3Row{Name: p.Name, City: p.City, State: p.State, ID: v.Auction, ready: max(v.At, p.At)})
		}
		return nil
	}}
}
