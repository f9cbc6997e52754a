package nexmark

import (
	"slices"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/window"
)

// Q8Row is a row of q8, with the columns id, name, starttime: a person who registered in the
// 10 s tumbling window starting at starttime and opened at least one auction in it.
type Q8Row struct {
	ID        int64
	Name      string
	StartTime int64
}

// AppendJSON appends {"id":…,"name":…,"starttime":…}.
func (r Q8Row) AppendJSON(dst []byte) []byte {
	dst = appendKey(dst, true, "id")
	dst = strconv.AppendInt(dst, r.ID, 10)
	dst = appendKey(dst, false, "name")
	dst = appendJSONString(dst, r.Name)
	dst = appendKey(dst, false, "starttime")
	dst = strconv.AppendInt(dst, r.StartTime, 10)
	return append(dst, '}')
}

// Ready is when the watermark passes the window's end.
func (r Q8Row) Ready() Readiness {
	return readyByWatermark(r.StartTime + Q8WindowSize.Milliseconds() - 1)
}

// Key is 0: every q8 row is final when emitted.
func (r Q8Row) Key() int64 { return 0 }

// Q8WindowSize is the tumbling window of q8.
const Q8WindowSize = 10 * time.Second

// newUser is what q8 needs of a person (Seller is false) or of an auction (Seller is true).
type newUser struct {
	id     int64 // the person's id, or the auction's seller
	name   string
	seller bool
}

// newUsers is the state of one person id in one window: the names it registered with (one,
// unless an input repeats an id) and whether it opened an auction.
type newUsers struct {
	Names  []string
	Seller bool
}

var newUsersAgg = agg.Funcs[newUser, newUsers, newUsers]{
	AddFn: func(u newUser, acc newUsers) newUsers {
		if u.seller {
			acc.Seller = true
		} else if !slices.Contains(acc.Names, u.name) {
			acc.Names = append(acc.Names, u.name)
		}
		return acc
	},
	MergeFn: func(a, b newUsers) newUsers {
		names := slices.Clone(a.Names)
		for _, n := range b.Names {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		return newUsers{Names: names, Seller: a.Seller || b.Seller}
	},
	Get: func(acc newUsers) newUsers { return acc },
}

// Q8 is Nexmark query 8, monitor new users: per 10 s tumbling window, every person who
// registered in the window and opened at least one auction in the same window, once.
//
//	SELECT P.id, P.name, P.starttime
//	FROM (SELECT id, name, window_start AS starttime, window_end AS endtime
//	      FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//	      GROUP BY id, name, window_start, window_end) P
//	JOIN (SELECT seller, window_start AS starttime, window_end AS endtime
//	      FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//	      GROUP BY seller, window_start, window_end) A
//	ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime
//
// The windowed join is one tumbling window keyed by person id over both inputs (persons by id,
// auctions by seller): its accumulator records the person's name and whether an auction was
// seen, and a window emits a row when both are there.
func Q8(events sluice.Stream[Event]) sluice.Stream[Q8Row] {
	users := sluice.FlatMap(events, func(e Event, emit func(newUser)) {
		switch e.Kind {
		case KindPerson:
			emit(newUser{id: e.Person.ID, name: e.Person.Name})
		case KindAuction:
			emit(newUser{id: e.Auction.Seller, seller: true})
		}
	}).Name("q8-persons-and-sellers")
	perID := sluice.KeyBy(users, func(u newUser) int64 { return u.id }).Name("q8-by-person")
	joined := sluice.Aggregate(sluice.Window(perID, window.Tumbling(Q8WindowSize)), newUsersAgg).
		Name("q8-window-join").UID("q8-window-join")
	return sluice.FlatMap(joined, func(w sluice.Windowed[int64, newUsers], emit func(Q8Row)) {
		if !w.Value.Seller {
			return
		}
		for _, n := range w.Value.Names {
			emit(Q8Row{ID: w.Key, Name: n, StartTime: w.Window.Start})
		}
	}).Name("q8-rows")
}
