package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/window"
)

func TestPanicInUserCodeGoesToDeadLetters(t *testing.T) {
	p := sluice.NewPipeline("dlq")
	s := sluice.FromSlice(p, []int{1, 2, 3, 4, 5, 6})
	m := sluice.Map(s, func(i int) int {
		if i%3 == 0 {
			panic("multiple of three")
		}
		return i * 10
	}).Name("times-ten")
	out := &collect[int]{}
	sluice.SinkTo(m, out)
	dl := &collect[sluice.DeadLetter]{}
	sluice.SinkTo(p.DeadLetters(), dl)
	var st engine.Stats
	if err := engine.Run(context.Background(), p, engine.WithStats(&st)); err != nil {
		t.Fatal(err)
	}
	if len(out.got) != 4 {
		t.Fatalf("got %v, want the four records that did not panic", out.got)
	}
	if len(dl.got) != 2 || st.DeadLetters() != 2 {
		t.Fatalf("dead letters %v (counted %d), want 2", dl.got, st.DeadLetters())
	}
	for _, d := range dl.got {
		if d.Operator != "times-ten" || !strings.Contains(d.Reason, "multiple of three") || d.Record.(int)%3 != 0 {
			t.Fatalf("bad dead letter %+v", d)
		}
	}
}

func TestFailFastStopsThePipeline(t *testing.T) {
	p := sluice.NewPipeline("ff")
	s := sluice.Map(sluice.FromSlice(p, []int{1, 2, 3}), func(i int) int {
		if i == 2 {
			panic("boom")
		}
		return i
	}).Name("explode")
	sluice.SinkTo(s, sluice.SinkFunc[int](func(int) error { return nil }))
	err := engine.Run(context.Background(), p, engine.FailFast())
	if err == nil || !strings.Contains(err.Error(), "explode") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want a failure naming the operator and the panic", err)
	}
}

func TestSinkErrorFailsThePipeline(t *testing.T) {
	p := sluice.NewPipeline("sinkerr")
	bad := errors.New("disk full")
	sluice.SinkTo(sluice.FromSlice(p, []int{1, 2, 3}), sluice.SinkFunc[int](func(int) error { return bad }))
	if err := engine.Run(context.Background(), p); !errors.Is(err, bad) {
		t.Fatalf("err = %v, want %v", err, bad)
	}
}

func TestBuildErrorsNameTheOperator(t *testing.T) {
	cases := map[string]struct {
		build func(p *sluice.Pipeline)
		want  string
	}{
		"missing uid": {func(p *sluice.Pipeline) {
			k := sluice.KeyBy(sluice.FromSlice(p, []int{1}), func(i int) int { return i })
			sluice.SinkTo(sluice.Aggregate(sluice.Window(k, window.Tumbling(time.Second)), agg.Count[int]()).Name("counter"), discard[sluice.Windowed[int, int64]]())
		}, `"counter" is stateful and needs a UID`},
		"size zero": {func(p *sluice.Pipeline) {
			k := sluice.KeyBy(sluice.FromSlice(p, []int{1}), func(i int) int { return i })
			sluice.SinkTo(sluice.Aggregate(sluice.Window(k, window.Tumbling(0)), agg.Count[int]()).UID("c"), discard[sluice.Windowed[int, int64]]())
		}, "tumbling size must be > 0"},
		"offset too big": {func(p *sluice.Pipeline) {
			k := sluice.KeyBy(sluice.FromSlice(p, []int{1}), func(i int) int { return i })
			sluice.SinkTo(sluice.Aggregate(sluice.Window(k, window.Sliding(10*time.Second, 2*time.Second, 3*time.Second)), agg.Count[int]()).UID("c"), discard[sluice.Windowed[int, int64]]())
		}, "|offset| must be < slide"},
		"slide zero": {func(p *sluice.Pipeline) {
			k := sluice.KeyBy(sluice.FromSlice(p, []int{1}), func(i int) int { return i })
			sluice.SinkTo(sluice.Aggregate(sluice.Window(k, window.Sliding(10*time.Second, 0)), agg.Count[int]()).UID("c"), discard[sluice.Windowed[int, int64]]())
		}, "slide must be > 0"},
		"gap negative": {func(p *sluice.Pipeline) {
			k := sluice.KeyBy(sluice.FromSlice(p, []int{1}), func(i int) int { return i })
			sluice.SinkTo(sluice.Aggregate(sluice.Window(k, window.Session(-time.Second)), agg.Count[int]()).UID("c"), discard[sluice.Windowed[int, int64]]())
		}, "session gap must be > 0"},
		"dangling": {func(p *sluice.Pipeline) {
			sluice.Map(sluice.FromSlice(p, []int{1}), func(i int) int { return i }).Name("lonely")
		}, `"lonely" is dangling`},
		"duplicate uid": {func(p *sluice.Pipeline) {
			k := sluice.KeyBy(sluice.FromSlice(p, []int{1}), func(i int) int { return i })
			w := sluice.Window(k, window.Tumbling(time.Second))
			sluice.SinkTo(sluice.Aggregate(w, agg.Count[int]()).UID("same"), discard[sluice.Windowed[int, int64]]())
			sluice.SinkTo(sluice.Aggregate(w, agg.Count[int]()).UID("same"), discard[sluice.Windowed[int, int64]]())
		}, `share the UID "same"`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := sluice.NewPipeline("bad")
			c.build(p)
			err := engine.Run(context.Background(), p)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func discard[T any]() sluice.Sink[T] { return sluice.SinkFunc[T](func(T) error { return nil }) }

// endless is an unbounded source that emits increasing numbers until cancelled.
type endless struct{ n atomic.Int64 }

func (e *endless) Open(context.Context) ([]sluice.SplitReader[int64], error) {
	return []sluice.SplitReader[int64]{e}, nil
}

func (e *endless) Read(ctx context.Context, dst []int64) ([]int64, error) {
	if ctx.Err() != nil {
		return dst, ctx.Err()
	}
	for len(dst) < cap(dst) {
		dst = append(dst, e.n.Add(1))
	}
	return dst, nil
}
func (e *endless) Close() error { return nil }

// TestCancelDrains: cancelling an unbounded pipeline stops the sources, delivers what was read,
// fires no window on the partial input, and returns context.Canceled; goleak (TestMain) checks
// that no goroutine is left behind.
func TestCancelDrains(t *testing.T) {
	p := sluice.NewPipeline("cancel")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen atomic.Int64
	s := sluice.FromSource[int64](p, &endless{})
	k := sluice.KeyBy(s, func(i int64) int64 { return i % 8 })
	fired := &collect[sluice.Windowed[int64, int64]]{}
	sluice.SinkTo(sluice.Aggregate(sluice.Window(k, window.Tumbling(time.Hour)), agg.Count[int64]()).UID("c"), fired)
	sluice.SinkTo(s, sluice.SinkFunc[int64](func(int64) error {
		if seen.Add(1) == 100_000 {
			cancel()
		}
		return nil
	}))
	err := engine.Run(ctx, p, engine.Parallelism(2))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if seen.Load() < 100_000 {
		t.Fatalf("sink saw %d records", seen.Load())
	}
	if len(fired.got) != 0 {
		t.Fatalf("a cancelled run fired %d windows on a partial input", len(fired.got))
	}
}

// TestBackpressureBlocksTheSender: a slow sink fills the bounded channels; the source is held
// back (it cannot run ahead by more than the channel capacity) and nothing is lost.
func TestBackpressureBlocksTheSender(t *testing.T) {
	p := sluice.NewPipeline("bp")
	const n = 3_000
	in := make([]int, n)
	for i := range in {
		in[i] = i
	}
	var produced, consumed atomic.Int64
	sink := 0
	defer func() { _ = sink }()
	var maxAhead atomic.Int64
	s := sluice.Map(sluice.FromSlice(p, in, sluice.SourceBatchSize[int](16)), func(i int) int {
		ahead := produced.Add(1) - consumed.Load()
		for {
			m := maxAhead.Load()
			if ahead <= m || maxAhead.CompareAndSwap(m, ahead) {
				break
			}
		}
		return i
	})
	sluice.SinkTo(s, sluice.SinkFunc[int](func(int) error {
		for i := 0; i < 5000; i++ { // slow consumer: ~µs of CPU per record, far slower than the source
			sink += i ^ int(consumed.Load())
		}
		consumed.Add(1)
		return nil
	}))
	var st engine.Stats
	if err := engine.Run(context.Background(), p, engine.BatchSize(8), engine.ChannelDepth(2), engine.WithStats(&st)); err != nil {
		t.Fatal(err)
	}
	if st.Backpressure() <= 0 {
		t.Fatal("a slow sink behind 2-batch channels blocked the source, but no backpressure time was measured")
	}
	if consumed.Load() != n {
		t.Fatalf("consumed %d of %d", consumed.Load(), n)
	}
	// Channel holds 2 batches of 8, plus the batch being filled, the batch being drained and the
	// source's read batch: far below n if the sender really blocks.
	if m := maxAhead.Load(); m > 200 { // far below n: the source was held back
		t.Fatalf("the source ran %d records ahead of the sink: backpressure did not hold it", m)
	}
}

// failing is a source whose split fails after a few records.
type failing struct{}

func (failing) Open(context.Context) ([]sluice.SplitReader[int], error) {
	return []sluice.SplitReader[int]{&failingSplit{}}, nil
}

type failingSplit struct{ n int }

func (f *failingSplit) Read(_ context.Context, dst []int) ([]int, error) {
	if f.n >= 3 {
		return dst, errors.New("disk on fire")
	}
	f.n++
	return append(dst, f.n), nil
}
func (f *failingSplit) Close() error { return nil }

// TestSourceErrorFailsThePipeline: a source's read error ends the run with that error, naming the
// source, instead of leaving the stages downstream waiting.
func TestSourceErrorFailsThePipeline(t *testing.T) {
	p := sluice.NewPipeline("srcerr")
	k := sluice.KeyBy(sluice.FromSource[int](p, failing{}).Name("flaky"), func(i int) int { return i })
	sluice.SinkTo(sluice.Aggregate(sluice.Window(k, window.Tumbling(time.Second)), agg.Count[int]()).UID("c"), discard[sluice.Windowed[int, int64]]())
	err := engine.Run(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || !strings.Contains(err.Error(), "flaky") {
		t.Fatalf("err = %v, want the source's error naming it", err)
	}
}
