package flow

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/state/codec"
	"github.com/sluicehq/sluice/window"
)

type countAcc struct{}

func (countAcc) CreateAccumulator() int64      { return 0 }
func (countAcc) Add(_ string, acc int64) int64 { return acc + 1 }
func (countAcc) Merge(a, b int64) int64        { return a + b }

// newCountOp is a tumbling 1-minute count per string key with codecs for checkpoints.
func newCountOp(t *Task) *WindowOp[string, string, int64] {
	op := &WindowOp[string, string, int64]{Name: "count", T: t, Spec: window.NewSpec(window.Tumbling(time.Minute)),
		Agg: countAcc{}, Out: Discard[int64]{}, Late: Discard[LateElement[string, string]]{},
		Fire:  func(string, window.Window, window.Pane, int64) {},
		State: StateCodecs[string, int64]{UID: "count", Key: codec.MustFor[string](), Value: codec.MustFor[int64](), Hash: KeyHasher[string]()}}
	op.Init()
	return op
}

func keysN(n int) []string {
	k := make([]string, n)
	for i := range k {
		k[i] = fmt.Sprintf("user-%07d", i)
	}
	return k
}

// TestWindowSnapshotRoundTrip: restored state fires the same results, split across subtasks of
// another parallelism with every key restored exactly once.
func TestWindowSnapshotRoundTrip(t *testing.T) {
	src := newCountOp(NewTask("w", 0, 1))
	keys := keysN(5000)
	for i, k := range keys {
		for j := 0; j <= i%3; j++ {
			src.Collect(int64(i), Keyed[string, string]{Key: k, Value: k})
		}
	}
	var w StateWriter
	if err := src.SnapshotState(&w); err != nil {
		t.Fatal(err)
	}
	total := 0
	for i := 0; i < 3; i++ {
		dst := newCountOp(NewTask("w", i, 3))
		got := map[string]int64{}
		dst.Fire = func(k string, _ window.Window, _ window.Pane, acc int64) { got[k] = acc }
		start, end := KeyGroupRange(DefaultMaxParallelism, 3, i)
		if err := dst.RestoreState(NewStateReader([]StatePart{{Data: w.Bytes(), OperatorState: true}}, start, end)); err != nil {
			t.Fatal(err)
		}
		dst.Watermark(MaxTime)
		for k, v := range got {
			want := int64(0)
			for idx, kk := range keys {
				if kk == k {
					want = int64(idx%3 + 1)
				}
			}
			if v != want {
				t.Fatalf("key %s: %d after restore, want %d", k, v, want)
			}
			g := KeyGroup(KeyHasher[string]()(k), DefaultMaxParallelism)
			if g < start || g >= end {
				t.Fatalf("key %s (group %d) restored into subtask %d owning [%d, %d)", k, g, i, start, end)
			}
		}
		total += len(got)
	}
	if total != len(keys) {
		t.Fatalf("%d keys restored across subtasks, want %d", total, len(keys))
	}
}

// BenchmarkWindowCheckpoint1M measures, for 1M keys in a memory-backed tumbling count, a
// checkpoint and a restore of each window operator:
//
//   - op=general (WindowOp, synchronous snapshot): the snapshot (the processing pause: it runs on
//     the task goroutine), its size, the restore, and the heap per key.
//   - op=sliced (SliceWindowOp, the one the DSL uses for tumbling windows; asynchronous
//     copy-on-write snapshot): the pause (the task's Checkpoint call, which freezes the state),
//     the time to complete (until the task reports its snapshot, while the task goes on with a
//     pass over every key, each write to a frozen chunk copying it), the extra time that pass took
//     (cow-extra) compared with the same pass without a snapshot in flight (pass: 1M Collects), the
//     restore, the size and the heap per key.
func BenchmarkWindowCheckpoint1M(b *testing.B) {
	b.Run("op=general", benchGeneralCheckpoint1M)
	b.Run("op=sliced", benchSlicedCheckpoint1M)
}

func benchGeneralCheckpoint1M(b *testing.B) {
	keys := keysN(1_000_000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	op := newCountOp(NewTask("w", 0, 1))
	for _, k := range keys {
		op.Collect(1, Keyed[string, string]{Key: k, Value: k})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	keyBytes := 0
	for _, k := range keys {
		keyBytes += len(k) + 16
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc-uint64(keyBytes))/1e6, "state-bytes/key-excl-key")
	var w StateWriter
	var snap, restore time.Duration
	for i := 0; i < b.N; i++ {
		w.Reset()
		t0 := time.Now()
		if err := op.SnapshotState(&w); err != nil {
			b.Fatal(err)
		}
		snap += time.Since(t0)
		dst := newCountOp(NewTask("w", 0, 1))
		t1 := time.Now()
		if err := dst.RestoreState(NewStateReader([]StatePart{{Data: w.Bytes(), OperatorState: true}}, 0, DefaultMaxParallelism)); err != nil {
			b.Fatal(err)
		}
		restore += time.Since(t1)
	}
	b.ReportMetric(float64(snap.Milliseconds())/float64(b.N), "snapshot-ms")
	b.ReportMetric(float64(restore.Milliseconds())/float64(b.N), "restore-ms")
	b.ReportMetric(float64(len(w.Bytes()))/1e6, "snapshot-MB")
}

// newSlicedCountOp is newCountOp on the slicing operator.
func newSlicedCountOp(t *Task) *SliceWindowOp[string, string, int64] {
	op := &SliceWindowOp[string, string, int64]{Name: "count", T: t, Spec: window.NewSpec(window.Tumbling(time.Minute)),
		Agg: countAcc{}, Out: Discard[int64]{}, Late: Discard[LateElement[string, string]]{},
		Fire:  func(string, window.Window, window.Pane, int64) {},
		State: StateCodecs[string, int64]{UID: "count", Key: codec.MustFor[string](), Value: codec.MustFor[int64](), Hash: KeyHasher[string]()}}
	op.Init()
	return op
}

func benchSlicedCheckpoint1M(b *testing.B) {
	keys := keysN(1_000_000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	task := NewTask("w", 0, 1)
	op := newSlicedCountOp(task)
	task.AddSnapshotter(op)
	var t0 time.Time
	var complete time.Duration
	done := make(chan []byte, 1)
	task.OnSnapshot = func(s TaskSnapshot) {
		complete += time.Since(t0)
		if s.Err != nil {
			panic(s.Err)
		}
		done <- s.States[0].Data
	}
	pass := func() time.Duration {
		t0 := time.Now()
		for _, k := range keys {
			op.Collect(1, Keyed[string, string]{Key: k, Value: k})
		}
		return time.Since(t0)
	}
	pass()
	runtime.GC()
	runtime.ReadMemStats(&after)
	keyBytes := 0
	for _, k := range keys {
		keyBytes += len(k) + 16
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc-uint64(keyBytes))/1e6, "state-bytes/key-excl-key")
	var pause, cow, quietPass, restore time.Duration
	var size int
	for i := 0; i < b.N; i++ {
		quiet := pass() // no snapshot in flight: the baseline of the pass
		quietPass += quiet
		t0 = time.Now()
		task.Checkpoint(int64(i), nil) // freezes the state, encodes it on another goroutine
		pause += time.Since(t0)
		cow += pass() - quiet
		data := <-done
		size = len(data)
		dst := newSlicedCountOp(NewTask("w", 0, 1))
		t1 := time.Now()
		if err := dst.RestoreState(NewStateReader([]StatePart{{Data: data, OperatorState: true}}, 0, DefaultMaxParallelism)); err != nil {
			b.Fatal(err)
		}
		restore += time.Since(t1)
		if dst.Keys() != len(keys) {
			b.Fatalf("%d keys restored, want %d", dst.Keys(), len(keys))
		}
	}
	pass()       // between checkpoints: the chunks of the last one are spare
	runtime.GC() // the heap with the state between checkpoints: its key cache (collections empty the spares)
	runtime.GC()
	var between runtime.MemStats
	runtime.ReadMemStats(&between)
	b.ReportMetric(float64(between.HeapAlloc-before.HeapAlloc-uint64(keyBytes))/1e6, "between-ckpt-bytes/key-excl-key")
	runtime.KeepAlive(op)
	n := float64(b.N)
	b.ReportMetric(float64(pause.Microseconds())/1e3/n, "pause-ms")
	b.ReportMetric(float64(complete.Milliseconds())/n, "complete-ms")
	b.ReportMetric(float64(cow.Milliseconds())/n, "cow-extra-ms")
	b.ReportMetric(float64(quietPass.Milliseconds())/n, "pass-ms")
	b.ReportMetric(float64(restore.Milliseconds())/n, "restore-ms")
	b.ReportMetric(float64(size)/1e6, "snapshot-MB")
}

// TestHashStringSpreadsKeyGroups: similar keys spread evenly over the key groups, and the hash
// never changes (pinned values).
func TestHashStringSpreadsKeyGroups(t *testing.T) {
	counts := make([]int, DefaultMaxParallelism)
	for _, k := range keysN(128_000) {
		counts[KeyGroup(HashString(k), DefaultMaxParallelism)]++
	}
	for g, c := range counts {
		if c < 800 || c > 1200 { // 1000 expected per group
			t.Fatalf("key group %d holds %d of 128000 keys", g, c)
		}
	}
	// Pinned: key groups are stored in checkpoints, so the hash must never change.
	pinned := map[string]uint64{"": 0x0, "a": 0x637cd60b040790d7, "user-0000042": 0xe46a42962be213af,
		"a considerably longer key of 33 b": 0xbb84ecaa6cdbc305}
	for k, v := range pinned {
		if got := HashString(k); got != v {
			t.Fatalf("HashString(%q) = %#x, pinned %#x: changing the hash breaks restoring checkpoints", k, got, v)
		}
	}
	if HashString("ab") == HashString("ba") || HashString("a") == HashString("a\x00") {
		t.Fatal("trivial collisions")
	}
}

func BenchmarkHashString(b *testing.B) {
	keys := keysN(1024)
	b.ReportAllocs()
	var x uint64
	for i := 0; i < b.N; i++ {
		x += HashString(keys[i&1023])
	}
	benchSinkU = x
}

var benchSinkU uint64

// TestWindowStateOfTheOtherOperatorIsRefused: state written by the general window operator is not
// misread by the sliced one (a window definition change moves a pipeline between them).
func TestWindowStateOfTheOtherOperatorIsRefused(t *testing.T) {
	general := newCountOp(NewTask("w", 0, 1))
	general.Collect(5, Keyed[string, string]{Key: "k", Value: "v"})
	var w StateWriter
	if err := general.SnapshotState(&w); err != nil {
		t.Fatal(err)
	}
	sliced := &SliceWindowOp[string, string, int64]{Name: "count", T: NewTask("w", 0, 1), Spec: general.Spec,
		Agg: countAcc{}, Out: Discard[int64]{}, Late: Discard[LateElement[string, string]]{},
		Fire:  func(string, window.Window, window.Pane, int64) {},
		State: general.State}
	sliced.Init()
	err := sliced.RestoreState(NewStateReader([]StatePart{{Data: w.Bytes(), OperatorState: true}}, 0, DefaultMaxParallelism))
	if err == nil || !strings.Contains(err.Error(), "general window operator") || !strings.Contains(err.Error(), `"count"`) {
		t.Fatalf("err = %v, want a refusal naming the operator and both formats", err)
	}
}
