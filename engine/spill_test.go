package engine_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/checkpoint"
	"github.com/sluicehq/sluice/checkpoint/faultfs"
	"github.com/sluicehq/sluice/connector/file"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/watermark"
	"github.com/sluicehq/sluice/window"
)

// manyKeys is a replayable source of n events over many keys that may pause at event `pause`
// until released (or cancelled), so a savepoint can be taken at a known position.
type manyKeys struct {
	n, keys, pause int
	release        chan struct{}
	paused         chan struct{}
}

func (m *manyKeys) Open(context.Context) ([]sluice.SplitReader[ev], error) {
	return []sluice.SplitReader[ev]{&manyKeysSplit{m: m}}, nil
}

type manyKeysSplit struct {
	m    *manyKeys
	next int
}

func (m *manyKeys) event(i int) ev {
	return ev{Key: fmt.Sprintf("u%05d", (i*7919)%m.keys), TS: int64(i), V: int64(i % 13)}
}

func (s *manyKeysSplit) Read(ctx context.Context, dst []ev) ([]ev, error) {
	m := s.m
	if s.next == m.pause && m.release != nil {
		select {
		case m.paused <- struct{}{}:
		default:
		}
		select {
		case <-m.release:
			m.release = nil
		case <-ctx.Done():
			return dst, ctx.Err()
		case <-time.After(5 * time.Millisecond): // return, so checkpoints can happen while paused
			return dst, nil
		}
	}
	for len(dst) < cap(dst) && s.next < m.n && (s.next < m.pause || m.release == nil) {
		dst = append(dst, m.event(s.next))
		s.next++
	}
	if s.next >= m.n {
		return dst, io.EOF
	}
	return dst, nil
}

func (s *manyKeysSplit) Close() error { return nil }

func (s *manyKeysSplit) Position() ([]byte, error) {
	return binary.AppendUvarint(nil, uint64(s.next)), nil
}

func (s *manyKeysSplit) Seek(pos []byte) error {
	v, n := binary.Uvarint(pos)
	if n <= 0 {
		return errors.New("bad position")
	}
	s.next = int(v)
	return nil
}

type strs struct {
	mu  sync.Mutex
	got []string
}

func (s *strs) Write(v string) error {
	s.mu.Lock()
	s.got = append(s.got, v)
	s.mu.Unlock()
	return nil
}
func (s *strs) Close() error { return nil }
func (s *strs) sorted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := slices.Clone(s.got)
	slices.Sort(c)
	return c
}

// spillPipeline counts per key with value, map and list state and an event-time timer per key
// that reports the key's state and clears it every fourth time: state is created, read, changed
// and ended for keys that are mostly cold when the key budget is small. A timer sees the
// elements that arrived before the watermark that fires it, and the source emits a watermark
// after each batch: runs compare equal only when their source batches have the same boundaries.
func spillPipeline(src sluice.Source[ev]) (*sluice.Pipeline, *strs) {
	out := &strs{}
	return spillPipelineTo(src, out), out
}

// spillPipelineTo is spillPipeline writing to sink.
func spillPipelineTo(src sluice.Source[ev], sink sluice.Sink[string]) *sluice.Pipeline {
	p, s := spillSource(src)
	proc := sluice.Process(sluice.KeyBy(s, func(e ev) string { return e.Key }),
		func(st *sluice.StateStore) sluice.KeyedProcessFunction[string, ev, string] {
			count := sluice.NewValueState[int64](st, "count")
			mods := sluice.NewMapState[int64, int64](st, "mods")
			recent := sluice.NewListState[int64](st, "recent")
			return sluice.ProcessFuncs[string, ev, string]{
				Element: func(ctx *sluice.KeyedContext[string, string], e ev) error {
					n, _ := count.Value()
					count.Update(n + 1)
					c, _ := mods.Get(e.V % 3)
					mods.Put(e.V%3, c+1)
					recent.Add(e.V)
					if r := recent.Get(); len(r) > 3 {
						recent.Update(r[1:])
					}
					if n%5 == 4 {
						ctx.Emit(fmt.Sprintf("%s e%d n=%d", ctx.Key(), e.TS, n+1))
					}
					ctx.RegisterEventTimeTimer(e.TS/1000*1000 + 1500)
					return nil
				},
				Timer: func(ctx *sluice.KeyedContext[string, string], ts int64) error {
					n, ok := count.Value()
					var sum int64
					for _, v := range recent.Get() {
						sum += v
					}
					ctx.Emit(fmt.Sprintf("%s t%d n=%d/%v mods=%d sum=%d", ctx.Key(), ts, n, ok, mods.Len(), sum))
					if n%4 == 0 {
						count.Clear()
						mods.Clear()
						recent.Clear()
					}
					return nil
				},
			}
		}).UID("counts")
	sluice.SinkTo(proc, sink).UID("out")
	return p
}

// TestMetamorphicStateBackends runs one keyed process pipeline (1,500 keys, value, map and list
// state, timers) on the memory backend and on Pebble with key budgets that keep none, few or all
// keys in memory, with and without checkpoints: the outputs must be identical.
func TestMetamorphicStateBackends(t *testing.T) {
	checkBackends(t, spillPipeline)
}

// TestMetamorphicStateBackendsSessions is TestMetamorphicStateBackends on a session-window sum
// (the general window operator) keyed by a source key, the parity of the value and the 4 s
// period of the timestamp: a key's events are 1.5 s or a multiple of it apart and its sessions
// have a gap of 2 s, so sessions grow by merging while the key is mostly cold, and end; keys of
// a period never come back after it, so a lost timer of a cold key loses its session's pane.
func TestMetamorphicStateBackendsSessions(t *testing.T) {
	checkBackends(t, spillSessions)
}

// spillSessions sums values per session of 2 s per key and value parity.
func spillSessions(src sluice.Source[ev]) (*sluice.Pipeline, *strs) {
	p, s := spillSource(src)
	keyed := sluice.KeyBy(s, func(e ev) string { return fmt.Sprintf("%s/%d/%d", e.Key, e.V%2, e.TS/4000) })
	w := sluice.Window(keyed, window.Session(2*time.Second))
	out := &strs{}
	sums := sluice.Aggregate(w, agg.Sum(func(e ev) int64 { return e.V })).UID("sessions")
	sluice.SinkTo(sluice.Map(sums, func(r sluice.Windowed[string, int64]) string {
		return fmt.Sprintf("%s %v %v#%d %d", r.Key, r.Window, r.Pane.Timing, r.Pane.Index, r.Value)
	}), out).UID("out")
	return p, out
}

// TestMetamorphicStateBackendsProcessWindow is TestMetamorphicStateBackends on a ProcessWindow
// over 5 s tumbling windows with discarding panes (the general window operator; its state is
// each window's list of elements).
func TestMetamorphicStateBackendsProcessWindow(t *testing.T) {
	checkBackends(t, func(src sluice.Source[ev]) (*sluice.Pipeline, *strs) {
		p, s := spillSource(src)
		w := sluice.Window(sluice.KeyBy(s, func(e ev) string { return e.Key }), window.Tumbling(5*time.Second),
			window.Discarding())
		out := &strs{}
		lists := sluice.ProcessWindow(w, func(ctx sluice.WindowContext[string], elems []ev, emit func(string)) {
			ts := make([]int64, len(elems))
			for i, e := range elems {
				ts[i] = e.TS
			}
			emit(fmt.Sprintf("%s %v %v#%d %v", ctx.Key, ctx.Window, ctx.Pane.Timing, ctx.Pane.Index, ts))
		}).UID("lists")
		sluice.SinkTo(lists, out).UID("out")
		return p, out
	})
}

// spillSource reads src with the source settings of spillPipeline.
func spillSource(src sluice.Source[ev]) (*sluice.Pipeline, sluice.Stream[ev]) {
	p := sluice.NewPipeline("spill")
	return p, sluice.FromSource(p, src, sluice.EventTimeMillis(func(e ev) int64 { return e.TS }, watermark.Monotonic()),
		sluice.SourceBatchSize[ev](64))
}

// checkBackends runs the pipeline that build makes over 12,000 events of 1,500 keys on the
// memory backend and on Pebble with budgets of 0, 50 and 10k keys, with and without checkpoints:
// the outputs must be identical.
func checkBackends(t *testing.T, build func(sluice.Source[ev]) (*sluice.Pipeline, *strs)) {
	const n, keys = 12_000, 1_500
	ref, refOut := build(&manyKeys{n: n, keys: keys, pause: -1})
	if err := engine.Run(context.Background(), ref, engine.Parallelism(2)); err != nil {
		t.Fatal(err)
	}
	want := refOut.sorted()
	if len(want) < n/5 {
		t.Fatalf("the reference emitted %d records", len(want))
	}
	for _, c := range []struct {
		name       string
		par        int
		budget     int
		checkpoint time.Duration
	}{
		{"budget0", 2, 0, 0},
		{"budget50", 3, 50, 0},
		{"budget50-checkpoints", 2, 50, 10 * time.Millisecond},
		{"budget10k-checkpoints", 1, 10_000, 20 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, out := build(&manyKeys{n: n, keys: keys, pause: -1})
			opts := []engine.Option{engine.Parallelism(c.par),
				engine.StateBackend(engine.Pebble(t.TempDir(), engine.KeyBudget(c.budget), engine.CacheSize(8<<20)))}
			var completed int
			if c.checkpoint > 0 {
				opts = append(opts, engine.Checkpointing(t.TempDir(), c.checkpoint), engine.OnCheckpoint(func(int64) { completed++ }))
			}
			if err := engine.Run(context.Background(), p, opts...); err != nil {
				t.Fatal(err)
			}
			if got := out.sorted(); !slices.Equal(got, want) {
				t.Fatalf("%d records, want %d; first difference at %s", len(got), len(want), firstDifference(got, want))
			}
			t.Logf("%d checkpoints", completed)
		})
	}
}

func firstDifference(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("%d: %q vs %q", i, a[i], b[i])
		}
	}
	return fmt.Sprint(min(len(a), len(b)))
}

// TestStateBackendRestoreAndRescale takes incremental checkpoints and a savepoint of the Pebble
// backend at parallelism 2 (budget 50: most keys are in the stores), restores it at parallelism
// 3 with another budget, and checks the output completes the reference exactly. The same
// savepoint is refused by the memory backend, naming the operator.
func TestStateBackendRestoreAndRescale(t *testing.T) {
	checkRestoreAndRescale(t, spillPipeline, "counts")
}

// TestStateBackendRestoreAndRescaleSessions is TestStateBackendRestoreAndRescale on session
// windows: the savepoint holds the timers of evicted keys as stubs, and the restored operators
// fire them from the stores.
func TestStateBackendRestoreAndRescaleSessions(t *testing.T) {
	checkRestoreAndRescale(t, spillSessions, "sessions")
}

func checkRestoreAndRescale(t *testing.T, spillPipeline func(sluice.Source[ev]) (*sluice.Pipeline, *strs), uid string) {
	const n, keys, pause = 12_000, 1_500, 79 * 64 // the pause falls between two source batches, as in the reference
	ref, refOut := spillPipeline(&manyKeys{n: n, keys: keys, pause: -1})
	if err := engine.Run(context.Background(), ref, engine.Parallelism(2)); err != nil {
		t.Fatal(err)
	}

	ckpts := t.TempDir()
	src := &manyKeys{n: n, keys: keys, pause: pause, release: make(chan struct{}), paused: make(chan struct{}, 1)}
	p1, out1 := spillPipeline(src)
	completed := make(chan int64, 1<<16)
	// Incremental checkpoints of the paused pipeline link the tables of the one before.
	sp := savepointAtPause(t, p1, src, func() {
		for range 3 {
			<-completed
		}
	}, engine.Parallelism(2), engine.Checkpointing(ckpts, 20*time.Millisecond),
		engine.OnCheckpoint(func(id int64) { completed <- id }),
		engine.StateBackend(engine.Pebble(t.TempDir(), engine.KeyBudget(50), engine.CacheSize(8<<20))))
	// The checkpoints and the savepoint hold Pebble tables, and share some through hard links.
	folders, _ := filepath.Glob(filepath.Join(ckpts, "*-*"))
	tables, linked := map[string]os.FileInfo{}, 0
	for _, f := range folders {
		entries, _ := os.ReadDir(f)
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".sst") {
				continue
			}
			fi, err := os.Stat(filepath.Join(f, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if prev, ok := tables[e.Name()]; ok && os.SameFile(prev, fi) {
				linked++
			}
			tables[e.Name()] = fi
		}
	}
	if len(tables) == 0 || linked == 0 {
		t.Fatalf("%d folders hold %d Pebble tables, %d linked from another folder", len(folders), len(tables), linked)
	}
	t.Logf("%d folders: %d tables, %d links", len(folders), len(tables), linked)

	p2, out2 := spillPipeline(&manyKeys{n: n, keys: keys, pause: -1})
	err := engine.Run(context.Background(), p2, engine.Parallelism(3), engine.Checkpointing(t.TempDir(), time.Hour),
		engine.RestoreFrom(sp), engine.StateBackend(engine.Pebble(t.TempDir(), engine.KeyBudget(20))))
	if err != nil {
		t.Fatal(err)
	}
	got := append(out1.sorted(), out2.sorted()...)
	slices.Sort(got)
	if len(out1.got) == 0 || len(out2.got) == 0 {
		t.Fatalf("the savepoint should split the output: %d before, %d after", len(out1.got), len(out2.got))
	}
	if want := refOut.sorted(); !slices.Equal(got, want) {
		t.Fatalf("restored at parallelism 3: %d records, want %d; first difference at %s", len(got), len(want), firstDifference(got, want))
	}

	// Back to one subtask, Pebble only.
	p3, out3 := spillPipeline(&manyKeys{n: n, keys: keys, pause: -1})
	err = engine.Run(context.Background(), p3, engine.Parallelism(1), engine.Checkpointing(t.TempDir(), time.Hour),
		engine.RestoreFrom(sp), engine.StateBackend(engine.Pebble(t.TempDir(), engine.KeyBudget(0))))
	if err != nil {
		t.Fatal(err)
	}
	got = append(out1.sorted(), out3.sorted()...)
	slices.Sort(got)
	if want := refOut.sorted(); !slices.Equal(got, want) {
		t.Fatalf("restored at parallelism 1: %d records, want %d", len(got), len(want))
	}

	p4, _ := spillPipeline(&manyKeys{n: n, keys: keys, pause: -1})
	err = engine.Run(context.Background(), p4, engine.Checkpointing(t.TempDir(), time.Hour), engine.RestoreFrom(sp))
	if err == nil || !strings.Contains(err.Error(), `"`+uid+`"`) || !strings.Contains(err.Error(), "Pebble") {
		t.Fatalf("the memory backend restored a Pebble savepoint: %v", err)
	}
}

// TestStateBackendFromMemory restores a savepoint of the memory backend with the Pebble backend
// and a budget far below the key count: the restored keys are evicted at once, and the output
// completes the reference exactly.
func TestStateBackendFromMemory(t *testing.T) {
	const n, keys, pause = 12_000, 1_500, 79 * 64
	ref, refOut := spillPipeline(&manyKeys{n: n, keys: keys, pause: -1})
	if err := engine.Run(context.Background(), ref, engine.Parallelism(2)); err != nil {
		t.Fatal(err)
	}
	src := &manyKeys{n: n, keys: keys, pause: pause, release: make(chan struct{}), paused: make(chan struct{}, 1)}
	p1, out1 := spillPipeline(src)
	sp := savepointAtPause(t, p1, src, nil, engine.Parallelism(2), engine.Checkpointing(t.TempDir(), time.Hour))
	p2, out2 := spillPipeline(&manyKeys{n: n, keys: keys, pause: -1})
	err := engine.Run(context.Background(), p2, engine.Parallelism(2), engine.Checkpointing(t.TempDir(), time.Hour),
		engine.RestoreFrom(sp), engine.StateBackend(engine.Pebble(t.TempDir(), engine.KeyBudget(10))))
	if err != nil {
		t.Fatal(err)
	}
	got := append(out1.sorted(), out2.sorted()...)
	slices.Sort(got)
	if want := refOut.sorted(); !slices.Equal(got, want) {
		t.Fatalf("%d records, want %d; first difference at %s", len(got), len(want), firstDifference(got, want))
	}
}

// TestStateBackendOptions checks the Pebble backend's option errors.
func TestStateBackendOptions(t *testing.T) {
	p, _ := spillPipeline(&manyKeys{n: 10, keys: 10, pause: -1})
	err := engine.Run(context.Background(), p, engine.StateBackend(engine.Pebble(t.TempDir(), engine.KeyBudget(-1))))
	if err == nil || !strings.Contains(err.Error(), "key budget -1") {
		t.Fatalf("got %v", err)
	}
	err = engine.Run(context.Background(), p, engine.StateBackend(engine.Pebble("")))
	if err == nil || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("got %v", err)
	}
}

// TestStateBackendCheckpointFaults: with the Pebble backend, a failed write of a Pebble table into
// a checkpoint, a full disk and a torn manifest fail checkpoints, never the job (captures are
// released, later checkpoints proceed); a restart at another parallelism restores the newest good
// checkpoint and the exactly-once output equals the uninterrupted run's.
func TestStateBackendCheckpointFaults(t *testing.T) {
	const n, keys, pause = 12_000, 1_500, 79 * 64
	dir := t.TempDir()
	ref, refOut := spillPipeline(&manyKeys{n: n, keys: keys, pause: -1})
	if err := engine.Run(context.Background(), ref, engine.Parallelism(2)); err != nil {
		t.Fatal(err)
	}
	want := refOut.sorted()

	fsys := faultfs.New(checkpoint.OSFS())
	fsys.Inject(faultfs.Rule{Ops: faultfs.OpWrite, Path: ".sst", Times: 1})
	var mu sync.Mutex
	completed := 0
	src := &manyKeys{n: n, keys: keys, pause: pause, release: make(chan struct{}), paused: make(chan struct{}, 1)}
	state, out := filepath.Join(dir, "state"), filepath.Join(dir, "out.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	backend := engine.StateBackend(engine.Pebble(filepath.Join(dir, "pebble"), engine.KeyBudget(20), engine.CacheSize(8<<20)))
	job, err := engine.Start(ctx, spillPipelineTo(src, file.ExactlyOnceJSONLines[string](out)), engine.Parallelism(2),
		engine.Checkpointing(state, 5*time.Millisecond), engine.CheckpointStorage(fsys), backend,
		engine.OnCheckpoint(func(int64) { mu.Lock(); completed++; mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return completed }
	waitFor := func(cond func() bool) { // the paused source signals at every poll: a tick
		for !cond() {
			<-src.paused
		}
	}
	waitFor(func() bool { return fsys.Injected() > 0 && count() >= 2 })
	injected := fsys.Injected()
	fsys.DiskFull(0)
	waitFor(func() bool { return fsys.Injected() > injected })
	fsys.DiskFull(-1)
	done := count()
	waitFor(func() bool { return count() > done })
	injected = fsys.Injected()
	fsys.Inject(faultfs.Rule{Ops: faultfs.OpWrite, Path: "MANIFEST.json", Torn: true}) // the checkpoint's, not Pebble's
	waitFor(func() bool { return fsys.Injected() > injected })
	cancel()
	if err := job.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("the job failed instead of riding out checkpoint faults: %v", err)
	}
	captures, _ := filepath.Glob(filepath.Join(dir, "pebble", "*", "*", "capture", "*"))
	if len(captures) != 0 {
		t.Fatalf("captures left behind: %q", captures)
	}

	err = engine.Run(context.Background(), spillPipelineTo(&manyKeys{n: n, keys: keys, pause: -1}, file.ExactlyOnceJSONLines[string](out)),
		engine.Parallelism(3), engine.Checkpointing(state, time.Hour), backend)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var v string
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("after faults and a restart: %d records, want %d; first difference at %s", len(got), len(want), firstDifference(got, want))
	}
}

// windowSpillPipeline sums the values per key in the windows of a (tumbling or sliding) through
// Aggregate, which runs on the sliced window operator: with a small key budget most keys are
// cold, and each window end loads, fires and purges them.
func windowSpillPipeline(a window.Assigner) func(src sluice.Source[ev]) (*sluice.Pipeline, *strs) {
	return func(src sluice.Source[ev]) (*sluice.Pipeline, *strs) {
		out := &strs{}
		p := sluice.NewPipeline("spill-window")
		s := sluice.FromSource(p, src, sluice.EventTimeMillis(func(e ev) int64 { return e.TS }, watermark.Monotonic()),
			sluice.SourceBatchSize[ev](64))
		sums := sluice.Aggregate(sluice.Window(sluice.KeyBy(s, func(e ev) string { return e.Key }), a),
			agg.Sum(func(e ev) int64 { return e.V })).UID("sums")
		text := sluice.Map(sums, func(w sluice.Windowed[string, int64]) string {
			return fmt.Sprintf("%s [%d,%d) %v/%d %d", w.Key, w.Window.Start, w.Window.End, w.Pane.Timing, w.Pane.Index, w.Value)
		})
		sluice.SinkTo(text, sluice.Sink[string](out)).UID("out")
		return p, out
	}
}

var windowAssigners = []struct {
	name string
	a    window.Assigner
}{
	{"tumbling", window.Tumbling(time.Second)},
	{"sliding", window.Sliding(3*time.Second, 500*time.Millisecond)},
}

// TestMetamorphicWindowStateBackends is the metamorphic test of the backends for a tumbling and
// a sliding Aggregate (the sliced window operator): memory and Pebble at budgets 0, 50 and 10k,
// with and without checkpoints, give identical output.
func TestMetamorphicWindowStateBackends(t *testing.T) {
	for _, w := range windowAssigners {
		t.Run(w.name, func(t *testing.T) { checkBackends(t, windowSpillPipeline(w.a)) })
	}
}

// TestWindowStateBackendRestoreAndRescale takes a savepoint of a tumbling and a sliding Aggregate
// on Pebble at parallelism 2 (budget 10: most keys, and their window ends, are cold), restores it
// at parallelism 3 (budget 20) and at 1 (budget 0): each output completes the reference exactly.
func TestWindowStateBackendRestoreAndRescale(t *testing.T) {
	const n, keys, pause = 12_000, 1_500, 79 * 64
	for _, w := range windowAssigners {
		t.Run(w.name, func(t *testing.T) {
			build := windowSpillPipeline(w.a)
			ref, refOut := build(&manyKeys{n: n, keys: keys, pause: -1})
			if err := engine.Run(context.Background(), ref, engine.Parallelism(2)); err != nil {
				t.Fatal(err)
			}
			want := refOut.sorted()
			src := &manyKeys{n: n, keys: keys, pause: pause, release: make(chan struct{}), paused: make(chan struct{}, 1)}
			p1, out1 := build(src)
			sp := savepointAtPause(t, p1, src, nil, engine.Parallelism(2), engine.Checkpointing(t.TempDir(), 20*time.Millisecond),
				engine.StateBackend(engine.Pebble(t.TempDir(), engine.KeyBudget(10), engine.CacheSize(8<<20))))
			if tables, _ := filepath.Glob(filepath.Join(sp, "*.sst")); len(tables) == 0 {
				t.Fatalf("the savepoint %s holds no Pebble table: the window state was not spilled", sp)
			}
			checkRescaledRestores(t, build, n, keys, sp, out1, want)
			p4, _ := build(&manyKeys{n: n, keys: keys, pause: -1})
			err := engine.Run(context.Background(), p4, engine.Checkpointing(t.TempDir(), time.Hour), engine.RestoreFrom(sp))
			if err == nil || !strings.Contains(err.Error(), `"sums"`) || !strings.Contains(err.Error(), "Pebble") {
				t.Fatalf("the memory backend restored a Pebble savepoint: %v", err)
			}
		})
	}
}

// savepointAtPause starts p, waits until src pauses, runs before (if any), takes a savepoint and
// cancels the job; it returns the savepoint.
func savepointAtPause(t *testing.T, p *sluice.Pipeline, src *manyKeys, before func(), opts ...engine.Option) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	job, err := engine.Start(ctx, p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	<-src.paused
	if before != nil {
		before()
	}
	sp, err := job.Savepoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := job.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v", err)
	}
	return sp
}

// rollingPipeline computes per key a rolling sum, count and maximum over 2 s (each key comes
// back every 1.5 s, so its state changes at every element) and writes one line per element and
// aggregate: a key's state is loaded, changed and evicted again at every element when the key
// budget is small, and expires after the end of the input.
func rollingPipeline(src sluice.Source[ev]) (*sluice.Pipeline, *strs) {
	out := &strs{}
	p := sluice.NewPipeline("spill-rolling")
	s := sluice.FromSource(p, src, sluice.EventTimeMillis(func(e ev) int64 { return e.TS }, watermark.Monotonic()),
		sluice.SourceBatchSize[ev](64))
	byKey := sluice.KeyBy(s, func(e ev) string { return e.Key })
	v := func(e ev) int64 { return e.V }
	for name, f := range map[string]sluice.RollingFunc[ev, int64]{
		"sum": sluice.RollingSum(v), "count": sluice.RollingCount[ev](), "max": sluice.RollingMax(v),
	} {
		r := sluice.Rolling(byKey, 2*time.Second, f).UID("rolling-" + name)
		lines := sluice.Map(r, func(r sluice.Rolled[string, ev, int64]) string {
			return fmt.Sprintf("%s %s %d %d", name, r.Key, r.Timestamp, r.Value)
		})
		sluice.SinkTo(lines, out).UID("out-" + name)
	}
	return p, out
}

// TestRollingStateBackendRescale takes a savepoint of the rolling pipeline on Pebble at
// parallelism 2 (budget 50: most keys are in the stores) and restores it at parallelism 3
// (budget 20) and 1 (Pebble only): each output completes the reference exactly.
func TestRollingStateBackendRescale(t *testing.T) {
	const n, keys, pause = 12_000, 1_500, 79 * 64 // the pause falls between two source batches
	want := referenceRun(t, rollingPipeline, n, keys)

	src := &manyKeys{n: n, keys: keys, pause: pause, release: make(chan struct{}), paused: make(chan struct{}, 1)}
	p1, out1 := rollingPipeline(src)
	sp := savepointAtPause(t, p1, src, nil, engine.Parallelism(2), engine.Checkpointing(t.TempDir(), time.Hour),
		engine.StateBackend(engine.Pebble(t.TempDir(), engine.KeyBudget(50), engine.CacheSize(8<<20))))
	if tables, _ := filepath.Glob(filepath.Join(sp, "*.sst")); len(tables) == 0 {
		t.Fatalf("the savepoint %s holds no Pebble table: no key was spilled", sp)
	}
	checkRescaledRestores(t, rollingPipeline, n, keys, sp, out1, want)
}

// checkRescaledRestores restores savepoint sp of build's pipeline at parallelism 3 (budget 20)
// and at 1 (Pebble only): the output before the savepoint (out1) and each restored run's must
// together equal want.
func checkRescaledRestores(t *testing.T, build func(sluice.Source[ev]) (*sluice.Pipeline, *strs), n, keys int, sp string, out1 *strs, want []string) {
	t.Helper()
	for _, c := range []struct{ par, budget int }{{3, 20}, {1, 0}} {
		p2, out2 := build(&manyKeys{n: n, keys: keys, pause: -1})
		err := engine.Run(context.Background(), p2, engine.Parallelism(c.par), engine.Checkpointing(t.TempDir(), time.Hour),
			engine.RestoreFrom(sp), engine.StateBackend(engine.Pebble(t.TempDir(), engine.KeyBudget(c.budget))))
		if err != nil {
			t.Fatal(err)
		}
		if len(out1.got) == 0 || len(out2.got) == 0 {
			t.Fatalf("the savepoint should split the output: %d before, %d after", len(out1.got), len(out2.got))
		}
		got := append(out1.sorted(), out2.sorted()...)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("restored at parallelism %d, budget %d: %d records, want %d; first difference at %s",
				c.par, c.budget, len(got), len(want), firstDifference(got, want))
		}
	}
}

// referenceRun runs build over n events of keys keys on the memory backend and returns the
// sorted output.
func referenceRun(t *testing.T, build func(sluice.Source[ev]) (*sluice.Pipeline, *strs), n, keys int) []string {
	t.Helper()
	ref, out := build(&manyKeys{n: n, keys: keys, pause: -1})
	if err := engine.Run(context.Background(), ref, engine.Parallelism(2)); err != nil {
		t.Fatal(err)
	}
	return out.sorted()
}

// TestMetamorphicStateBackendsRolling is TestMetamorphicStateBackends on rollingPipeline.
func TestMetamorphicStateBackendsRolling(t *testing.T) {
	checkBackends(t, rollingPipeline)
}
