package engine_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"github.com/sluicehq/sluice/internal/cputime"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/watermark"
	"github.com/sluicehq/sluice/window"
)

type benchEvent struct {
	Key string
	TS  int64
}

// prebuilt holds 1M events over 100k keys, 1 ms apart; sources cycle through it with shifted
// timestamps so a run of any length sees a steady stream. The event-time density (events per
// ms) is set per benchmark by dividing the timestamp.
var prebuilt = func() []benchEvent {
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%06d", i)
	}
	ev := make([]benchEvent, 1<<20)
	x := uint64(1)
	for i := range ev {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		ev[i] = benchEvent{Key: keys[x%uint64(len(keys))], TS: int64(i)}
	}
	return ev
}()

// cycling is a bounded source of n pre-built events split over k splits, perMS events per
// millisecond of event time.
type cycling struct{ n, k, perMS int }

func (c cycling) Open(context.Context) ([]sluice.SplitReader[benchEvent], error) {
	r := make([]sluice.SplitReader[benchEvent], c.k)
	for i := range r {
		r[i] = &cycleSplit{next: i, step: c.k, end: c.n, perMS: max(c.perMS, 1)}
	}
	return r, nil
}

type cycleSplit struct{ next, step, end, perMS int }

func (s *cycleSplit) Read(_ context.Context, dst []benchEvent) ([]benchEvent, error) {
	for len(dst) < cap(dst) && s.next < s.end {
		e := prebuilt[s.next%len(prebuilt)]
		e.TS = int64(s.next / s.perMS)
		dst = append(dst, e)
		s.next += s.step
	}
	if s.next >= s.end {
		return dst, io.EOF
	}
	return dst, nil
}

func (s *cycleSplit) Close() error { return nil }

// BenchmarkPipelineTumblingCount runs source → KeyBy → tumbling 1-minute count → sink through the
// parallel runtime, with as many source splits and keyed subtasks as GOMAXPROCS. Compare -cpu 1,2.
// dense: 100 events per ms, so each of the 100k keys gets ~60 events per window; sparse: 1 per
// ms, ~0.6 per key and window, so nearly every event also produces a result.
func BenchmarkPipelineTumblingCount(b *testing.B) {
	for _, d := range []struct {
		name  string
		perMS int
	}{{"dense", 100}, {"sparse", 1}} {
		b.Run(d.name, func(b *testing.B) { benchPipeline(b, d.perMS) })
	}
}

func benchPipeline(b *testing.B, perMS int) {
	procs := runtime.GOMAXPROCS(0)
	p := sluice.NewPipeline("bench")
	s := sluice.FromSource[benchEvent](p, cycling{n: b.N, k: procs, perMS: perMS},
		sluice.EventTimeMillis(func(e benchEvent) int64 { return e.TS }, watermark.Monotonic()))
	k := sluice.KeyBy(s, func(e benchEvent) string { return e.Key })
	counts := sluice.Aggregate(sluice.Window(k, window.Tumbling(time.Minute)), agg.Count[benchEvent]()).UID("count")
	sluice.SinkTo(counts, sluice.SinkFunc[sluice.Windowed[string, int64]](func(sluice.Windowed[string, int64]) error { return nil }))
	b.ReportAllocs()
	b.ResetTimer()
	if err := engine.Run(context.Background(), p, engine.Parallelism(procs), engine.BatchSize(1024)); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// manyKeys1M is a bounded source of n events over 1M keys, 1,000 events per ms of event time,
// split over k splits: with a one-hour window every key stays in state, so a checkpoint holds 1M
// keys.
type manyKeys1M struct{ n, k int }

var keys1M = func() []string {
	k := make([]string, 1_000_000)
	for i := range k {
		k[i] = fmt.Sprintf("key-%07d", i)
	}
	return k
}()

func (c manyKeys1M) Open(context.Context) ([]sluice.SplitReader[benchEvent], error) {
	r := make([]sluice.SplitReader[benchEvent], c.k)
	for i := range r {
		r[i] = &keys1MSplit{next: i, step: c.k, end: c.n}
	}
	return r, nil
}

type keys1MSplit struct{ next, step, end int }

func (s *keys1MSplit) Read(_ context.Context, dst []benchEvent) ([]benchEvent, error) {
	for len(dst) < cap(dst) && s.next < s.end {
		x := uint64(s.next)*0x9e3779b97f4a7c15 + 1
		x ^= x >> 29
		dst = append(dst, benchEvent{Key: keys1M[x%uint64(len(keys1M))], TS: int64(s.next / 1000)})
		s.next += s.step
	}
	if s.next >= s.end {
		return dst, io.EOF
	}
	return dst, nil
}

func (s *keys1MSplit) Close() error { return nil }

// Position and Seek make the split replayable, as checkpoints need.
func (s *keys1MSplit) Position() ([]byte, error) {
	return binary.AppendUvarint(nil, uint64(s.next)), nil
}

func (s *keys1MSplit) Seek(pos []byte) error {
	n, k := binary.Uvarint(pos)
	if k <= 0 {
		return fmt.Errorf("bad position %x", pos)
	}
	s.next = int(n)
	return nil
}

// BenchmarkPipelineCheckpoints1M runs source → KeyBy → one-hour tumbling count over 1M keys →
// sink, without checkpoints and with one every second (issue 3: throughput with checkpoints
// every second ≥ 90% of throughput without). Use -benchtime 60000000x so that a run spans 20
// checkpoints or more: the first seconds build the 1M keys, and the first checkpoints encode
// every key and grow the buffers the later ones reuse. It reports events per second of wall
// clock and of CPU time, and the number of checkpoints completed.
func BenchmarkPipelineCheckpoints1M(b *testing.B) {
	for _, every := range []time.Duration{0, time.Second} {
		name := "ckpt=none"
		if every > 0 {
			name = "ckpt=" + every.String()
		}
		b.Run(name, func(b *testing.B) { benchCheckpoints(b, every) })
	}
}

func benchCheckpoints(b *testing.B, every time.Duration) {
	procs := runtime.GOMAXPROCS(0)
	p := sluice.NewPipeline("bench")
	s := sluice.FromSource[benchEvent](p, manyKeys1M{n: b.N, k: procs},
		sluice.EventTimeMillis(func(e benchEvent) int64 { return e.TS }, watermark.Monotonic()))
	k := sluice.KeyBy(s, func(e benchEvent) string { return e.Key })
	counts := sluice.Aggregate(sluice.Window(k, window.Tumbling(time.Hour)), agg.Count[benchEvent]()).UID("count")
	sluice.SinkTo(counts, sluice.SinkFunc[sluice.Windowed[string, int64]](func(sluice.Windowed[string, int64]) error { return nil }))
	opts := []engine.Option{engine.Parallelism(procs), engine.BatchSize(1024)}
	var done atomic.Int64
	if every > 0 {
		opts = append(opts, engine.Checkpointing(b.TempDir(), every), engine.OnCheckpoint(func(int64) { done.Add(1) }))
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	if err := engine.Run(context.Background(), p, opts...); err != nil {
		b.Fatal(err)
	}
	cpu := cputime.Process() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
	}
	b.ReportMetric(float64(done.Load()), "checkpoints")
}
