package flow

import (
	"testing"

	"github.com/sluicehq/sluice/state/codec"
	"github.com/sluicehq/sluice/state/pebble"
	"github.com/sluicehq/sluice/window"
)

// BenchmarkTumblingCountPebble is BenchmarkTumblingCount (100k keys, 1-minute tumbling windows)
// with the Pebble state backend: the sliced operator spilling to a Pebble store (64 MiB cache),
// with every key inside the budget (the cost of the spill bookkeeping: nothing is evicted) and
// with a budget of 10% of the keys (most events load their key from Pebble and evict another).
// Events per CPU-second count the store's background work too. Run it on one core:
//
//	go test ./internal/flow/ -run '^$' -bench 'TumblingCountPebble' -cpu 1 -benchtime 1000000x
func BenchmarkTumblingCountPebble(b *testing.B) {
	spec := window.NewSpec(window.TumblingMillis(60_000, 0))
	for _, c := range []struct {
		name    string
		budget  int
		batches bool
		warmup  int
	}{
		{"budget=all/op=slicing", 200_000, false, 3_000_000},
		{"budget=all/op=slicing-batches", 200_000, true, 3_000_000},
		{"budget=10pct/op=slicing-batches", benchKeys / 10, true, 300_000},
	} {
		b.Run(c.name, func(b *testing.B) { benchPebbleWindow(b, spec, c.budget, c.batches, c.warmup) })
	}
}

func benchPebbleWindow(b *testing.B, spec window.Spec, budget int, batches bool, warmup int) {
	st, err := pebble.Open(b.TempDir(), pebble.Options{CacheSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
	}()
	op := &SliceWindowOp[string, int64, int64]{Name: "w", T: NewTask("b", 0, 1), Spec: spec, Agg: benchCount{},
		Fire: func(_ string, _ window.Window, _ window.Pane, acc int64) { benchSink += acc },
		Out:  Discard[int64]{}, Late: Discard[LateElement[string, int64]]{},
		State: StateCodecs[string, int64]{UID: "w", Key: codec.MustFor[string](), Value: codec.MustFor[int64](), Hash: HashString}}
	op.Init()
	if err := op.SetSpill(st, budget); err != nil {
		b.Fatal(err)
	}
	sp := op.Spill()
	var loads, evictions int64
	benchDrive(b, op, batches, windowClock, warmup, func() { loads, evictions = sp.Loads, sp.Evictions })
	b.ReportMetric(float64(sp.Resident()), "resident-keys")
	b.ReportMetric(float64(sp.Loads-loads)/float64(b.N), "loads/event")
	b.ReportMetric(float64(sp.Evictions-evictions)/float64(b.N), "evictions/event")
}
