package generator_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/connector/generator"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/watermark"
	"github.com/sluicehq/sluice/window"
)

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

type click struct {
	Page string
	At   int64
}

func TestEndToEnd(t *testing.T) {
	p := sluice.NewPipeline("generator")
	src := generator.New(func(seq int64) click {
		if seq == 42 {
			panic("seq 42 is cursed")
		}
		return click{Page: []string{"a", "b", "c"}[seq%3], At: seq * 10}
	}, generator.Count(10_000), generator.Splits(3))
	s := sluice.FromSource(p, src, sluice.EventTimeMillis(func(c click) int64 { return c.At },
		watermark.BoundedOutOfOrderness(time.Second)))
	k := sluice.KeyBy(s, func(c click) string { return c.Page })
	counts := sluice.Aggregate(sluice.Window(k, window.Tumbling(10*time.Second)), agg.Count[click]()).UID("counts")
	out := &collect[sluice.Windowed[string, int64]]{}
	sluice.SinkTo(counts, out)
	dead := &collect[sluice.DeadLetter]{}
	sluice.SinkTo(p.DeadLetters(), dead)
	if err := engine.Run(context.Background(), p, engine.Parallelism(2)); err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, r := range out.got {
		total += r.Value
	}
	if len(out.got) != 30 || total != 9_999 {
		t.Fatalf("%d results totalling %d, want 30 totalling 9999", len(out.got), total)
	}
	if len(dead.got) != 1 || !strings.Contains(dead.got[0].Reason, "seq 42 is cursed") || dead.got[0].Record != int64(42) {
		t.Fatalf("dead letters %+v", dead.got)
	}
}
