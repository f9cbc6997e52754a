package engine_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/watermark"
	"github.com/sluicehq/sluice/window"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type click struct {
	Page string
	At   int64
}

type collect[T any] struct {
	mu  sync.Mutex
	got []T
}

func (c *collect[T]) Write(v T) error {
	c.mu.Lock()
	c.got = append(c.got, v)
	c.mu.Unlock()
	return nil
}
func (c *collect[T]) Close() error { return nil }

func TestTumblingCountEndToEnd(t *testing.T) {
	var in []click
	for i := 0; i < 10_000; i++ {
		in = append(in, click{Page: []string{"a", "b", "c"}[i%3], At: int64(i) * 10})
	}
	p := sluice.NewPipeline("t")
	s := sluice.FromSlice(p, in, sluice.EventTimeMillis(func(c click) int64 { return c.At }, watermark.Monotonic()))
	k := sluice.KeyBy(s, func(c click) string { return c.Page })
	counts := sluice.Aggregate(sluice.Window(k, window.Tumbling(10*time.Second)), agg.Count[click]()).UID("counts")
	out := &collect[sluice.Windowed[string, int64]]{}
	sluice.SinkTo(counts, out)
	if err := engine.Run(context.Background(), p, engine.Parallelism(3)); err != nil {
		t.Fatal(err)
	}
	// 100 s of events = 10 windows × 3 pages; each window holds 1000 events, 333 or 334 a page.
	if len(out.got) != 30 {
		t.Fatalf("got %d results, want 30", len(out.got))
	}
	total := int64(0)
	for _, r := range out.got {
		total += r.Value
		if r.Pane.Timing != window.OnTime || r.Window.End-r.Window.Start != 10_000 {
			t.Fatalf("bad result %+v", r)
		}
	}
	if total != 10_000 {
		t.Fatalf("total %d, want 10000", total)
	}
	sort.Slice(out.got, func(i, j int) bool { return out.got[i].Window.Start < out.got[j].Window.Start })
	if out.got[0].Window.Start != 0 {
		t.Fatalf("first window %v", out.got[0].Window)
	}
}
