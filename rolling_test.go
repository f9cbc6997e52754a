package sluice_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/watermark"
)

type rollTxn struct {
	ID     int
	User   string
	Amount int64
	At     int64 // epoch ms
}

// rollSink keeps what it receives.
type rollSink[T any] struct {
	mu  sync.Mutex
	got []T
}

func (c *rollSink[T]) Write(v T) error {
	c.mu.Lock()
	c.got = append(c.got, v)
	c.mu.Unlock()
	return nil
}

func (c *rollSink[T]) Close() error { return nil }

// rollInput is a few users' transactions over a few hours, out of order by up to 20 s.
func rollInput(n int) []rollTxn {
	r := rand.New(rand.NewPCG(3, 4))
	users := []string{"ann", "bob", "cid", "dee", "eve"}
	var in []rollTxn
	now := int64(1_700_000_000_000)
	for i := range n {
		now += r.Int64N(20_000)
		in = append(in, rollTxn{ID: i, User: users[r.IntN(len(users))], Amount: 1 + r.Int64N(500), At: now - r.Int64N(20_000)})
	}
	return in
}

// TestRollingEndToEnd runs rolling sums, maxima and distinct counts over 30 minutes through the
// engine with 3 subtasks and checks every result against a brute-force computation: one result
// per transaction, over the same user's transactions in (ts-30min, ts].
func TestRollingEndToEnd(t *testing.T) {
	in := rollInput(3000)
	p := sluice.NewPipeline("rolling")
	txns := sluice.FromSlice(p, in, sluice.EventTimeMillis(func(x rollTxn) int64 { return x.At },
		watermark.BoundedOutOfOrderness(30*time.Second)), sluice.SourceBatchSize[rollTxn](64))
	byUser := sluice.KeyBy(txns, func(x rollTxn) string { return x.User })
	amount := func(x rollTxn) int64 { return x.Amount }
	sums := sluice.Rolling(byUser, 30*time.Minute, sluice.RollingSum(amount)).UID("spend-30m")
	maxes := sluice.Rolling(byUser, 30*time.Minute, sluice.RollingMax(amount)).UID("max-30m")
	distinct := sluice.Rolling(byUser, 30*time.Minute, sluice.RollingDistinctCount(func(x rollTxn) int64 { return x.Amount % 10 })).UID("distinct-30m")
	gotSums := &rollSink[sluice.Rolled[string, rollTxn, int64]]{}
	gotMaxes := &rollSink[sluice.Rolled[string, rollTxn, int64]]{}
	gotDistinct := &rollSink[sluice.Rolled[string, rollTxn, int64]]{}
	late := &rollSink[sluice.LateElement[string, rollTxn]]{}
	sluice.SinkTo(sums, gotSums)
	sluice.SinkTo(maxes, gotMaxes)
	sluice.SinkTo(distinct, gotDistinct)
	sluice.SinkTo(sluice.RollingLate(sums), late)
	stats := &engine.Stats{}
	if err := engine.Run(context.Background(), p, engine.Parallelism(3), engine.WithStats(stats)); err != nil {
		t.Fatal(err)
	}
	if len(late.got) != 0 || stats.Late() != 0 {
		t.Fatalf("%d late elements (%d counted), want none: the watermark allows 30 s of disorder", len(late.got), stats.Late())
	}
	const rng = 30 * 60_000
	brute := func(e rollTxn) (sum, mx, distinct int64) {
		seen := map[int64]bool{}
		for _, o := range in {
			if o.User == e.User && o.At <= e.At && o.At > e.At-rng {
				sum += o.Amount
				mx = max(mx, o.Amount)
				seen[o.Amount%10] = true
			}
		}
		return sum, mx, int64(len(seen))
	}
	check := func(name string, got []sluice.Rolled[string, rollTxn, int64], want func(rollTxn) int64) {
		t.Helper()
		if len(got) != len(in) {
			t.Fatalf("%s: %d results for %d transactions", name, len(got), len(in))
		}
		seen := make([]bool, len(in))
		for _, r := range got {
			e := r.Element
			if seen[e.ID] || r.Key != e.User || r.Timestamp != e.At {
				t.Fatalf("%s: bad or duplicate result %+v", name, r)
			}
			seen[e.ID] = true
			if w := want(e); r.Value != w {
				t.Fatalf("%s of transaction %d: got %d, want %d", name, e.ID, r.Value, w)
			}
		}
	}
	check("sum", gotSums.got, func(e rollTxn) int64 { s, _, _ := brute(e); return s })
	check("max", gotMaxes.got, func(e rollTxn) int64 { _, m, _ := brute(e); return m })
	check("distinct", gotDistinct.got, func(e rollTxn) int64 { _, _, d := brute(e); return d })
}

// TestRollingLateEndToEnd checks that an element behind the watermark goes to the late side
// output with its reason, is counted, and does not change the other results.
func TestRollingLateEndToEnd(t *testing.T) {
	in := []rollTxn{
		{ID: 0, User: "ann", Amount: 1, At: 10_000},
		{ID: 1, User: "ann", Amount: 2, At: 20_000},
		{ID: 2, User: "ann", Amount: 4, At: 15_000}, // behind the watermark 19_999
		{ID: 3, User: "ann", Amount: 8, At: 30_000},
	}
	p := sluice.NewPipeline("rolling-late")
	txns := sluice.FromSlice(p, in, sluice.EventTimeMillis(func(x rollTxn) int64 { return x.At }, watermark.Monotonic()),
		sluice.SourceBatchSize[rollTxn](1))
	byUser := sluice.KeyBy(txns, func(x rollTxn) string { return x.User })
	counts := sluice.Rolling(byUser, time.Minute, sluice.RollingCount[rollTxn]()).UID("count-1m")
	got := &rollSink[sluice.Rolled[string, rollTxn, int64]]{}
	late := &rollSink[sluice.LateElement[string, rollTxn]]{}
	sluice.SinkTo(counts, got)
	sluice.SinkTo(sluice.RollingLate(counts), late)
	stats := &engine.Stats{}
	if err := engine.Run(context.Background(), p, engine.Parallelism(2), engine.WithStats(stats)); err != nil {
		t.Fatal(err)
	}
	if len(late.got) != 1 || late.got[0].Value.ID != 2 || !strings.Contains(late.got[0].Reason, "watermark") || stats.Late() != 1 {
		t.Fatalf("late: %+v (%d counted), want transaction 2 with a reason", late.got, stats.Late())
	}
	want := map[int]int64{0: 1, 1: 2, 3: 3}
	if len(got.got) != 3 {
		t.Fatalf("got %d results, want 3: %+v", len(got.got), got.got)
	}
	for _, r := range got.got {
		if want[r.Element.ID] != r.Value {
			t.Fatalf("count for transaction %d: got %d, want %d", r.Element.ID, r.Value, want[r.Element.ID])
		}
	}
}

// TestRollingPlanErrors checks what is reported when the pipeline is built: a missing UID, a
// range below a millisecond, and a late output asked of a stream that is not a rolling one.
func TestRollingPlanErrors(t *testing.T) {
	p := sluice.NewPipeline("bad")
	txns := sluice.FromSlice(p, []rollTxn{{}}, sluice.EventTimeMillis(func(x rollTxn) int64 { return x.At }))
	byUser := sluice.KeyBy(txns, func(x rollTxn) string { return x.User })
	noUID := sluice.Rolling(byUser, time.Minute, sluice.RollingCount[rollTxn]())
	sluice.SinkTo(noUID, &rollSink[sluice.Rolled[string, rollTxn, int64]]{})
	if _, err := p.Plan(); err == nil || !strings.Contains(err.Error(), "UID") {
		t.Fatalf("err = %v, want a missing UID", err)
	}
	tiny := sluice.Rolling(byUser, time.Microsecond, sluice.RollingCount[rollTxn]()).UID("tiny")
	sluice.SinkTo(tiny, &rollSink[sluice.Rolled[string, rollTxn, int64]]{})
	filtered := noUID.Filter(func(sluice.Rolled[string, rollTxn, int64]) bool { return true })
	sluice.SinkTo(sluice.RollingLate(filtered), &rollSink[sluice.LateElement[string, rollTxn]]{})
	_, err := p.Plan()
	if err == nil || !strings.Contains(err.Error(), "at least 1ms") || !strings.Contains(err.Error(), "not a rolling aggregate") {
		t.Fatalf("err = %v, want the range and the late output reported", err)
	}
}
