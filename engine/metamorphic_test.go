package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/sluicetest"
	"github.com/sluicehq/sluice/watermark"
	"github.com/sluicehq/sluice/window"
)

type ev struct {
	Key string
	TS  int64
	V   int64
}

// randomEvents makes an out-of-order stream: timestamps drift forward with jitter up to 8 s.
func randomEvents(seed uint64, n int) []ev {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]ev, n)
	for i := range out {
		out[i] = ev{Key: fmt.Sprintf("k%d", r.IntN(37)), TS: int64(i)*7 - r.Int64N(8000), V: r.Int64N(100)}
	}
	return out
}

type line struct {
	Key        string
	Start, End int64
	Timing     window.Timing
	Index      int
	Sum        int64
}

type lines struct {
	mu  sync.Mutex
	got []line
}

func (l *lines) Write(w sluice.Windowed[string, int64]) error {
	l.mu.Lock()
	l.got = append(l.got, line{w.Key, w.Window.Start, w.Window.End, w.Pane.Timing, w.Pane.Index, w.Value})
	l.mu.Unlock()
	return nil
}
func (l *lines) Close() error { return nil }

func (l *lines) sorted() []line {
	s := slices.Clone(l.got)
	slices.SortFunc(s, func(a, b line) int { return cmpLine(a, b) })
	return s
}

func cmpLine(a, b line) int {
	return cmpAll(cmpStr(a.Key, b.Key), cmpInt(a.Start, b.Start), cmpInt(a.End, b.End),
		cmpInt(int64(a.Timing), int64(b.Timing)), cmpInt(int64(a.Index), int64(b.Index)), cmpInt(a.Sum, b.Sum))
}

func cmpAll(c ...int) int {
	for _, x := range c {
		if x != 0 {
			return x
		}
	}
	return 0
}
func cmpInt(a, b int64) int { return map[bool]int{true: -1, false: 1}[a < b] * b2i(a != b) }
func cmpStr(a, b string) int {
	if a == b {
		return 0
	}
	if a < b {
		return -1
	}
	return 1
}
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// build makes the pipeline under test: sum per key over the given window, with lateness.
func build(in []ev, a window.Assigner) (*sluice.Pipeline, *lines, *int64s) {
	p := sluice.NewPipeline("meta")
	s := sluice.FromSlice(p, in, sluice.EventTimeMillis(func(e ev) int64 { return e.TS },
		watermark.BoundedOutOfOrderness(2*time.Second)), sluice.SourceBatchSize[ev](97))
	w := sluice.Window(sluice.KeyBy(s, func(e ev) string { return e.Key }), a, window.AllowedLateness(time.Second))
	out := &lines{}
	sluice.SinkTo(sluice.Aggregate(w, agg.Sum(func(e ev) int64 { return e.V })).UID("sum"), out)
	late := &int64s{}
	sluice.SinkTo(sluice.Late(w), sluice.SinkFunc[sluice.LateElement[string, ev]](func(l sluice.LateElement[string, ev]) error {
		late.add(l.Timestamp)
		return nil
	}))
	return p, out, late
}

type int64s struct {
	mu sync.Mutex
	v  []int64
}

func (s *int64s) add(x int64) { s.mu.Lock(); s.v = append(s.v, x); s.mu.Unlock() }
func (s *int64s) sorted() []int64 {
	c := slices.Clone(s.v)
	slices.Sort(c)
	return c
}

// TestMetamorphicParallelismAndBatching: parallelism 1 and N, batch sizes 1 and 1024, and the
// deterministic driver all give the same multiset of results and late elements.
func TestMetamorphicParallelismAndBatching(t *testing.T) {
	assigners := map[string]window.Assigner{
		"tumbling": window.Tumbling(time.Second),
		"sliding":  window.Sliding(3*time.Second, time.Second),
		"session":  window.Session(300 * time.Millisecond),
	}
	for name, a := range assigners {
		t.Run(name, func(t *testing.T) {
			in := randomEvents(uint64(len(name)), 20_000)
			var ref []line
			var refLate []int64
			configs := []struct {
				p, batch int
			}{{1, 1}, {4, 1024}, {3, 7}}
			for i, c := range configs {
				p, out, late := build(in, a)
				if err := engine.Run(context.Background(), p, engine.Parallelism(c.p), engine.BatchSize(c.batch)); err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					ref, refLate = out.sorted(), late.sorted()
					if len(ref) == 0 || len(refLate) == 0 {
						t.Fatalf("reference run emitted %d results and %d late elements: the test needs both", len(ref), len(refLate))
					}
					continue
				}
				if got := out.sorted(); !slices.Equal(got, ref) {
					t.Fatalf("parallelism %d batch %d: %d results differ from the reference's %d", c.p, c.batch, len(got), len(ref))
				}
				if got := late.sorted(); !slices.Equal(got, refLate) {
					t.Fatalf("parallelism %d batch %d: late elements differ", c.p, c.batch)
				}
			}
			// The deterministic driver runs the same plan in one goroutine.
			p, out, late := build(in, a)
			d, err := sluicetest.NewDriver(p, sluicetest.Parallelism(2))
			if err != nil {
				t.Fatal(err)
			}
			if err := d.RunSources(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.sorted(), ref) || !slices.Equal(late.sorted(), refLate) {
				t.Fatal("the driver's results differ from the engine's")
			}
		})
	}
}
