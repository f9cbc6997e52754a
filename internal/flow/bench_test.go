package flow

import (
	"github.com/sluicehq/sluice/internal/cputime"
	"github.com/sluicehq/sluice/internal/hugepage"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/window"
)

// The window and rolling benchmarks share one shape of input: 100k string keys in random order
// (each block of 100k events is a random permutation of all keys), timestamps advancing at a
// steady event-time rate with up to 500 ms of disorder, and a watermark (max timestamp - 500 ms,
// so nothing is late) every 1024 events, as a source batch would emit. Events are built once
// (2^18 of them, 6 MB, reused like a source's batch buffers); the loop only reads them, with
// timestamps from the running index. Each benchmark first runs the operator through
// a warm-up long enough to reach its steady state (every key present, every buffer at its final
// size), so the figures are per record in steady state. Run them on one core:
//
//	go test ./internal/flow/ -run '^$' -bench 'Count|Rolling' -benchtime=1000000x -cpu 1

const (
	benchKeys     = 100_000
	benchEvents   = 1 << 18 // pre-built events, reused cyclically
	benchDisorder = 500     // ms
	benchBatch    = 1024    // events per watermark
)

type benchEvent struct {
	key    string
	jitter int64 // ms behind the event-time clock
	value  int64
}

// benchInput builds the events on first use. It first asks for huge pages, as a pipeline's
// runtime does (package hugepage), so that benchmarks measure the operators as they run.
var benchInput = sync.OnceValue(func() []benchEvent {
	hugepage.Enable()
	r := rand.New(rand.NewPCG(1, 2))
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i)
	}
	ev := make([]benchEvent, benchEvents)
	var perm []int
	for i := range ev {
		if i%benchKeys == 0 {
			perm = r.Perm(benchKeys) // every key, in random order, again and again
		}
		ev[i] = benchEvent{key: keys[perm[i%benchKeys]], jitter: r.Int64N(benchDisorder), value: 1 + r.Int64N(100)}
	}
	return ev
})

// benchFeed drives an operator with events from..to of the shared input; clock(i) is the
// event-time clock at event i (ms).
func benchFeed(op Outlet[Keyed[string, int64]], from, to int, clock func(i int) int64) {
	in := benchInput()
	for i := from; i < to; i++ {
		e := &in[i&(benchEvents-1)]
		now := clock(i)
		op.Collect(now-e.jitter, Keyed[string, int64]{Key: e.key, Value: e.value})
		if i%benchBatch == benchBatch-1 {
			op.Watermark(now - benchDisorder)
		}
	}
}

// benchFeedBatches is benchFeed through CollectBatch, in batches of 512 records as an exchange
// receiver delivers them (the batch is filled from the input first, as a receiver's batch was
// by its sender).
func benchFeedBatches(op batchOutlet, from, to int, clock func(i int) int64) {
	in := benchInput()
	batch := make([]Rec[Keyed[string, int64]], 0, 512)
	for i := from; i < to; i++ {
		e := &in[i&(benchEvents-1)]
		now := clock(i)
		batch = append(batch, Rec[Keyed[string, int64]]{TS: now - e.jitter, V: Keyed[string, int64]{Key: e.key, Value: e.value}})
		if len(batch) == cap(batch) || i%benchBatch == benchBatch-1 || i == to-1 {
			op.CollectBatch(batch)
			batch = batch[:0]
		}
		if i%benchBatch == benchBatch-1 {
			op.Watermark(now - benchDisorder)
		}
	}
}

type batchOutlet interface {
	Outlet[Keyed[string, int64]]
	CollectBatch(recs []Rec[Keyed[string, int64]])
}

type benchCount struct{}

func (benchCount) CreateAccumulator() int64   { return 0 }
func (benchCount) Add(_ int64, a int64) int64 { return a + 1 }
func (benchCount) Merge(a, b int64) int64     { return a + b }

var benchSink int64

func benchWindow(b *testing.B, spec window.Spec, general bool, clock func(i int) int64, warmup int) {
	benchWindowFeed(b, spec, general, false, clock, warmup)
}

func benchWindowFeed(b *testing.B, spec window.Spec, general, batches bool, clock func(i int) int64, warmup int) {
	fire := func(_ string, _ window.Window, _ window.Pane, acc int64) { benchSink += acc }
	var op interface {
		Outlet[Keyed[string, int64]]
		Keys() int
	}
	if general {
		g := &WindowOp[string, int64, int64]{Name: "w", T: NewTask("b", 0, 1), Spec: spec, Agg: benchCount{},
			Fire: fire, Out: Discard[int64]{}, Late: Discard[LateElement[string, int64]]{}}
		g.Init()
		op = g
	} else {
		s := &SliceWindowOp[string, int64, int64]{Name: "w", T: NewTask("b", 0, 1), Spec: spec, Agg: benchCount{},
			Fire: fire, Out: Discard[int64]{}, Late: Discard[LateElement[string, int64]]{}}
		s.Init()
		op = s
	}
	benchDrive(b, op, batches, clock, warmup, nil)
	b.ReportMetric(float64(op.Keys()), "keys")
}

// benchDrive feeds op warmup events, calls warmed (if any), then feeds the b.N measured events,
// one by one or in batches, and reports their rates.
func benchDrive(b *testing.B, op Outlet[Keyed[string, int64]], batches bool, clock func(i int) int64, warmup int, warmed func()) {
	feed := benchFeed
	if batches {
		feed = func(_ Outlet[Keyed[string, int64]], from, to int, clock func(i int) int64) {
			benchFeedBatches(op.(batchOutlet), from, to, clock)
		}
	}
	feed(op, 0, warmup, clock)
	if warmed != nil {
		warmed()
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cputime.Process()
	feed(op, warmup, warmup+b.N, clock)
	reportRates(b, cputime.Process()-cpu)
}

// reportRates reports events per second of wall-clock time and, where the platform measures it,
// per CPU-second of the process (the fairer figure when other processes share the cores).
func reportRates(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
	}
}

// windowClock runs event time at 1M events per minute: ~10 events per key per minute.
func windowClock(i int) int64 { return int64(i) * 3 / 50 }

// BenchmarkTumblingCount counts events per key in 1-minute tumbling windows: the slicing operator
// the DSL picks for it, and the general operator for comparison.
func BenchmarkTumblingCount(b *testing.B) {
	spec := window.NewSpec(window.TumblingMillis(60_000, 0))
	b.Run("op=slicing", func(b *testing.B) { benchWindow(b, spec, false, windowClock, 3_000_000) })
	b.Run("op=slicing-batches", func(b *testing.B) { benchWindowFeed(b, spec, false, true, windowClock, 3_000_000) })
	b.Run("op=general", func(b *testing.B) { benchWindow(b, spec, true, windowClock, 3_000_000) })
}

// BenchmarkSlidingCount counts events per key in 10 s windows sliding by 2 s (5 windows per
// element): the slicing operator the DSL picks for it, and the general operator for comparison.
func BenchmarkSlidingCount(b *testing.B) {
	spec := window.NewSpec(window.SlidingMillis(10_000, 2_000, 0))
	b.Run("op=slicing", func(b *testing.B) { benchWindow(b, spec, false, slidingClock, 1_500_000) })
	b.Run("op=slicing-batches", func(b *testing.B) { benchWindowFeed(b, spec, false, true, slidingClock, 1_500_000) })
	b.Run("op=general", func(b *testing.B) { benchWindow(b, spec, true, slidingClock, 1_500_000) })
}

// slidingClock runs event time at 100k events per second: ~10 events per key per 10 s window.
func slidingClock(i int) int64 { return int64(i) / 100 }

// rollingClock runs event time at ~889 events per second: each key holds ~16 elements in a
// 30-minute range, a realistic count of a user's transactions.
func rollingClock(i int) int64 { return int64(i) * 9 / 8 }

// benchRolledSink consumes rolling results the way a cheap downstream operator would.
type benchRolledSink struct {
	Discard[Rolled[string, int64, int64]]
}

func (benchRolledSink) Collect(_ int64, r Rolled[string, int64, int64]) { benchSink += r.Value }

// BenchmarkRollingSum computes, for every event, the sum of its key's values over the last 30
// minutes.
func BenchmarkRollingSum(b *testing.B) {
	op := &RollingOp[string, int64, int64]{Name: "r", T: NewTask("b", 0, 1), Range: 30 * 60_000,
		Store: RollingSum(func(v int64) int64 { return v })(), Out: benchRolledSink{}, Late: Discard[LateElement[string, int64]]{}}
	op.Init()
	const warmup = 2_000_000 // a full range and more
	benchFeed(op, 0, warmup, rollingClock)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cputime.Process()
	benchFeed(op, warmup, warmup+b.N, rollingClock)
	reportRates(b, cputime.Process()-cpu)
	b.ReportMetric(float64(op.Keys()), "keys")
}
