package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/watermark"
	"github.com/sluicehq/sluice/window"
)

// quiet has two splits: the first emits timestamps 0..9999 then nothing, the second never emits.
// Both poll every few milliseconds, as a Kafka partition without traffic would.
type quiet struct{}

func (quiet) Open(context.Context) ([]sluice.SplitReader[int64], error) {
	return []sluice.SplitReader[int64]{&quietSplit{n: 10_000}, &quietSplit{}}, nil
}

type quietSplit struct{ i, n int64 }

func (q *quietSplit) Read(ctx context.Context, dst []int64) ([]int64, error) {
	for q.i < q.n && len(dst) < cap(dst) {
		dst = append(dst, q.i)
		q.i++
	}
	if len(dst) > 0 {
		return dst, nil
	}
	select { // the poll interval of an empty split
	case <-ctx.Done():
		return dst, ctx.Err()
	case <-time.After(2 * time.Millisecond):
		return dst, nil
	}
}

func (q *quietSplit) Close() error { return nil }

// TestIdleSplitStopsHoldingTheWatermark: with an idle timeout, the split that never emits stops
// holding the combined watermark back, so windows fire while the input is still open.
func TestIdleSplitStopsHoldingTheWatermark(t *testing.T) {
	p := sluice.NewPipeline("idle")
	s := sluice.FromSource[int64](p, quiet{}, sluice.EventTimeMillis(func(i int64) int64 { return i },
		watermark.Monotonic(), watermark.Idleness(30*time.Millisecond)))
	k := sluice.KeyBy(s, func(i int64) int64 { return i % 4 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fired := make(chan sluice.Windowed[int64, int64], 64)
	sluice.SinkTo(sluice.Aggregate(sluice.Window(k, window.Tumbling(time.Second)), agg.Count[int64]()).UID("c"),
		sluice.SinkFunc[sluice.Windowed[int64, int64]](func(w sluice.Windowed[int64, int64]) error {
			fired <- w
			if w.Window.Start == 0 && len(fired) >= 4 {
				cancel()
			}
			return nil
		}))
	err := engine.Run(ctx, p, engine.Parallelism(2))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v: the window [0, 1000) never fired while a split was idle", err)
	}
	close(fired)
	var total int64
	for w := range fired {
		if w.Window.Start == 0 {
			total += w.Value
		}
	}
	if total != 1000 {
		t.Fatalf("window [0, 1000) counted %d, want 1000", total)
	}
}
