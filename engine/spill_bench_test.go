package engine_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/watermark"
)

// BenchmarkKeyedProcessCount runs source → KeyBy → a keyed process function that counts per key
// in a ValueState → sink, over the 100k keys of the pre-built events, on each state backend:
// memory; Pebble with every key in the budget (the cost of the spill bookkeeping); Pebble with a
// 10k-key budget (90% of the keys cold: most events load a key and evict another); Pebble with
// budget 0 (every event reads and writes the store, like Flink's RocksDB backend).
func BenchmarkKeyedProcessCount(b *testing.B) {
	for _, c := range []struct {
		name    string
		backend func(b *testing.B) engine.Backend
	}{
		{"memory", func(*testing.B) engine.Backend { return engine.Memory() }},
		{"pebble-budget1M", func(b *testing.B) engine.Backend {
			return engine.Pebble(b.TempDir(), engine.KeyBudget(1_000_000), engine.CacheSize(64<<20))
		}},
		{"pebble-budget10k", func(b *testing.B) engine.Backend {
			return engine.Pebble(b.TempDir(), engine.KeyBudget(10_000), engine.CacheSize(64<<20))
		}},
		{"pebble-budget0", func(b *testing.B) engine.Backend {
			return engine.Pebble(b.TempDir(), engine.KeyBudget(0), engine.CacheSize(64<<20))
		}},
	} {
		b.Run(c.name, func(b *testing.B) { benchProcessCount(b, c.backend(b)) })
	}
}

func benchProcessCount(b *testing.B, backend engine.Backend) {
	procs := runtime.GOMAXPROCS(0)
	p := sluice.NewPipeline("bench")
	s := sluice.FromSource[benchEvent](p, cycling{n: b.N, k: procs, perMS: 100},
		sluice.EventTimeMillis(func(e benchEvent) int64 { return e.TS }, watermark.Monotonic()))
	k := sluice.KeyBy(s, func(e benchEvent) string { return e.Key })
	counts := sluice.Process(k, func(st *sluice.StateStore) sluice.KeyedProcessFunction[string, benchEvent, int64] {
		count := sluice.NewValueState[int64](st, "count")
		return sluice.ProcessFuncs[string, benchEvent, int64]{
			Element: func(ctx *sluice.KeyedContext[string, int64], e benchEvent) error {
				n, _ := count.Value()
				count.Update(n + 1)
				if n&1023 == 1023 {
					ctx.Emit(n + 1)
				}
				return nil
			},
		}
	}).UID("count")
	sluice.SinkTo(counts, sluice.SinkFunc[int64](func(int64) error { return nil }))
	b.ReportAllocs()
	b.ResetTimer()
	if err := engine.Run(context.Background(), p, engine.Parallelism(procs), engine.BatchSize(1024),
		engine.StateBackend(backend)); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
