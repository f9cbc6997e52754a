package flow_test

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/internal/fixture"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/window"
)

// sumInts is a sum accumulator that counts its calls, to check how much work the operators do.
type sumInts struct{ adds, merges *int }

func (s sumInts) CreateAccumulator() int64 { return 0 }
func (s sumInts) Add(v int64, a int64) int64 {
	if s.adds != nil {
		*s.adds++
	}
	return a + v
}
func (s sumInts) Merge(a, b int64) int64 {
	if s.merges != nil {
		*s.merges++
	}
	return a + b
}

// emitted is one output of a window operator: a pane, or a late element (Late true), with the
// step of the input script during which it was emitted.
type emitted struct {
	Step   int
	Late   bool
	Key    string
	Start  int64
	End    int64
	Timing window.Timing
	Index  int
	Value  int64
	TS     int64 // late elements: the element's timestamp
	WM     int64 // late elements: the watermark
}

func cmpEmitted(a, b emitted) int {
	if a.Late != b.Late {
		if a.Late {
			return 1
		}
		return -1
	}
	return cmp.Or(cmp.Compare(a.Step, b.Step), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Start, b.Start),
		cmp.Compare(a.End, b.End), cmp.Compare(a.Timing, b.Timing), cmp.Compare(a.Index, b.Index),
		cmp.Compare(a.Value, b.Value), cmp.Compare(a.TS, b.TS), cmp.Compare(a.WM, b.WM))
}

type recorder struct {
	step *int
	out  *[]emitted
}

func (r recorder) fire(k string, w window.Window, p window.Pane, acc int64) {
	*r.out = append(*r.out, emitted{Step: *r.step, Key: k, Start: w.Start, End: w.End, Timing: p.Timing, Index: p.Index, Value: acc})
}

type lateRecorder struct {
	flow.Discard[flow.LateElement[string, int64]]
	recorder
}

func (r lateRecorder) Collect(ts int64, e flow.LateElement[string, int64]) {
	if ts != e.Timestamp {
		panic("late element timestamp mismatch")
	}
	*r.out = append(*r.out, emitted{Step: *r.step, Late: true, Key: e.Key, Start: e.Window.Start, End: e.Window.End,
		Value: e.Value, TS: e.Timestamp, WM: e.Watermark})
}

// step is one input of a script: an element, or a watermark when isWM.
type step struct {
	isWM    bool
	restore bool // take a checkpoint and go on with a new operator restored from it
	key     string
	ts      int64
	v       int64
}

// windowOperator is what the equivalence test drives: WindowOp or SliceWindowOp.
type windowOperator interface {
	flow.Outlet[flow.Keyed[string, int64]]
	Keys() int
}

func newOps(spec window.Spec, rec recorder, adds, merges *int) (general, sliced windowOperator) {
	late := lateRecorder{recorder: rec}
	g := &flow.WindowOp[string, int64, int64]{Name: "general", T: flow.NewTask("t", 0, 1), Spec: spec, Agg: sumInts{},
		Fire: rec.fire, Out: flow.Discard[int64]{}, Late: late}
	g.Init()
	s := &flow.SliceWindowOp[string, int64, int64]{Name: "sliced", T: flow.NewTask("t", 0, 1), Spec: spec, Agg: sumInts{adds, merges},
		Fire: rec.fire, Out: flow.Discard[int64]{}, Late: late, State: testCodecs}
	s.Init()
	return g, s
}

// run feeds the script to op and returns what it emitted, sorted within each step. At a restore
// step, with checkpoints, the operator is checkpointed and replaced by a new one restored from the
// checkpoint, which then gets the current watermark again, as the runtime does; without, it goes on.
func run(op func(rec recorder) windowOperator, script []step, checkpoints bool) ([]emitted, windowOperator) {
	var out []emitted
	stepNo := 0
	rec := recorder{step: &stepNo, out: &out}
	o := op(rec)
	wm := flow.MinTime
	for i, s := range script {
		stepNo = i
		switch {
		case s.restore:
			if checkpoints {
				o = restored(o.(flow.Snapshotter), op(rec), wm)
			}
		case s.isWM:
			o.Watermark(s.ts)
			wm = max(wm, s.ts)
		default:
			o.Collect(s.ts, flow.Keyed[string, int64]{Key: s.key, Value: s.v})
		}
	}
	slices.SortFunc(out, cmpEmitted)
	return out, o
}

func restored(old flow.Snapshotter, fresh windowOperator, wm int64) windowOperator {
	var w flow.StateWriter
	if err := old.SnapshotState(&w); err != nil {
		panic(err)
	}
	r := flow.NewStateReader([]flow.StatePart{{Data: w.Bytes(), OperatorState: true}}, 0, flow.DefaultMaxParallelism)
	if err := fresh.(flow.Snapshotter).RestoreState(r); err != nil {
		panic(err)
	}
	if wm != flow.MinTime {
		fresh.Watermark(wm)
	}
	return fresh
}

// testCodecs encode the string keys and int64 sums of the tests' snapshots.
var testCodecs = flow.StateCodecs[string, int64]{UID: "w", Key: strCodec{}, Value: i64Codec{}, Hash: flow.HashString}

type strCodec struct{}

func (strCodec) Append(dst []byte, v string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(v))), v...)
}

func (strCodec) Decode(src []byte) (string, int, error) {
	l, n := binary.Uvarint(src)
	if n <= 0 || uint64(len(src)-n) < l {
		return "", 0, fmt.Errorf("bad string")
	}
	return string(src[n : n+int(l)]), n + int(l), nil
}

type i64Codec struct{}

func (i64Codec) Append(dst []byte, v int64) []byte { return binary.AppendVarint(dst, v) }

func (i64Codec) Decode(src []byte) (int64, int, error) {
	v, n := binary.Varint(src)
	if n <= 0 {
		return 0, 0, fmt.Errorf("bad int64")
	}
	return v, n, nil
}

// randomScript makes a stream of elements of a few keys around a moving "now" (negative at first),
// out of order, with watermarks that advance irregularly (sometimes backwards, which operators
// ignore, sometimes in jumps), ending with the final watermark and a few elements after it.
func randomScript(r *rand.Rand, n int) []step {
	now := -r.Int64N(200)
	wm := flow.MinTime
	keys := []string{"a", "b", "c", "d", "e"}[:1+r.IntN(5)]
	disorder := 1 + r.Int64N(40)
	var out []step
	for range n {
		switch x := r.IntN(100); {
		case x < 2:
			out = append(out, step{restore: true})
		case x < 70:
			ts := now - r.Int64N(disorder) + r.Int64N(4)
			if r.IntN(20) == 0 && wm != flow.MinTime {
				ts = wm - r.Int64N(60) // a straggler well behind the watermark
			}
			out = append(out, step{key: keys[r.IntN(len(keys))], ts: ts, v: 1 + r.Int64N(100)})
			now += r.Int64N(3)
		case x < 97:
			now += r.Int64N(6)
			w := now - r.Int64N(disorder+10)
			out = append(out, step{isWM: true, ts: w})
			wm = max(wm, w)
		default:
			now += 10 + r.Int64N(80)
			out = append(out, step{isWM: true, ts: now - r.Int64N(10)})
		}
	}
	out = append(out, step{isWM: true, ts: flow.MaxTime})
	for range 3 {
		out = append(out, step{key: keys[r.IntN(len(keys))], ts: now - r.Int64N(50), v: 1})
	}
	return out
}

type windowShape struct{ size, slide int64 }

var shapes = []windowShape{
	{10, 10}, {7, 7}, {10, 5}, {10, 2}, {10, 3}, {10, 4}, {7, 3}, {12, 8}, {6, 1}, {15, 6}, {20, 20}, {9, 2}, {4, 4}, {1, 1},
}

func randomSpec(r *rand.Rand) window.Spec {
	sh := shapes[r.IntN(len(shapes))]
	off := r.Int64N(2*sh.slide-1) - (sh.slide - 1)
	var a window.Assigner
	if sh.size == sh.slide && r.IntN(2) == 0 {
		a = window.TumblingMillis(sh.size, off)
	} else {
		a = window.SlidingMillis(sh.size, sh.slide, off)
	}
	s := window.NewSpec(a)
	s.AllowedLateness = []int64{0, 0, 1, 3, sh.size, 2*sh.size + 1, 50}[r.IntN(7)]
	if r.IntN(4) == 0 {
		s.LateEveryCount = 2 + r.IntN(2)
	}
	if err := s.Validate(); err != nil {
		panic(err)
	}
	return s
}

// TestSliceWindowOpEquivalence is the metamorphic test of the slicing operator: on random streams
// (random keys, out-of-order and negative timestamps, stragglers, irregular watermarks) and random
// window shapes (slide dividing size or not, offsets, tumbling written both ways), random allowed
// lateness and late firing counts, SliceWindowOp must emit exactly what WindowOp emits: the same
// panes (key, window, timing, index, value) and the same late elements, during the same steps.
// The slicing operator is moreover checkpointed and restored at random steps, while WindowOp runs
// uninterrupted: a restore must change nothing. It must do one accumulator update per accepted
// element and leave no state after the final watermark.
func TestSliceWindowOpEquivalence(t *testing.T) {
	cases := 1500
	if testing.Short() {
		cases = 300
	}
	for c := range cases {
		r := rand.New(rand.NewPCG(uint64(c), 42))
		spec := randomSpec(r)
		script := randomScript(r, 50+r.IntN(300))
		var adds, merges int
		want, _ := run(func(rec recorder) windowOperator { g, _ := newOps(spec, rec, nil, nil); return g }, script, false)
		got, op := run(func(rec recorder) windowOperator { _, s := newOps(spec, rec, &adds, &merges); return s }, script, true)
		if !slices.Equal(got, want) {
			t.Fatalf("case %d: spec %+v: outputs differ\n%s", c, spec, diffEmitted(want, got))
		}
		if op.Keys() != 0 || op.(*flow.SliceWindowOp[string, int64, int64]).Timers() != 0 {
			t.Fatalf("case %d: state left after the final watermark: %d keys, %d wakes", c, op.Keys(),
				op.(*flow.SliceWindowOp[string, int64, int64]).Timers())
		}
		accepted := 0
		for _, s := range script {
			if !s.isWM && !s.restore {
				accepted++
			}
		}
		for _, e := range got {
			if e.Late {
				accepted--
			}
		}
		if adds != accepted {
			t.Fatalf("case %d: %d accumulator updates for %d accepted elements: want one each", c, adds, accepted)
		}
	}
}

func diffEmitted(want, got []emitted) string {
	s := ""
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j >= len(got) || (i < len(want) && cmpEmitted(want[i], got[j]) < 0):
			s += fmt.Sprintf("  missing    %+v\n", want[i])
			i++
		case i >= len(want) || cmpEmitted(want[i], got[j]) > 0:
			s += fmt.Sprintf("  unexpected %+v\n", got[j])
			j++
		default:
			i++
			j++
		}
	}
	return s
}

// TestSliceWindowOpFixtures runs the shared reference cases that the slicing operator supports.
func TestSliceWindowOpFixtures(t *testing.T) {
	files, _ := filepath.Glob("../../../shared/fixtures/windowing/*.json")
	if len(files) == 0 {
		t.Skip("no shared fixtures found at ../shared/fixtures/windowing")
	}
	ran := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := fixture.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		spec, _ := c.Spec()
		if !flow.SupportsSlicing(spec) {
			continue
		}
		ran++
		t.Run(filepath.Base(f), func(t *testing.T) {
			var got []fixture.Result
			stepNo := 0
			op := &flow.SliceWindowOp[string, int64, int64]{Name: "w", T: flow.NewTask("t", 0, 1), Spec: spec, Agg: sumInts{},
				Out: flow.Discard[int64]{}, Late: fixtureLate{got: &got, step: &stepNo},
				Fire: func(k string, w window.Window, p window.Pane, acc int64) {
					v, s, idx := acc, stepNo, p.Index
					got = append(got, fixture.Result{Key: k, Value: &v, Window: []int64{w.Start, w.End}, TS: w.MaxTimestamp(),
						Pane: p.Timing.String(), Index: &idx, Step: &s})
				}}
			op.Init()
			for i, s := range c.Steps {
				stepNo = i
				switch s.Kind {
				case fixture.StepElement:
					v := s.Value
					if c.Aggregate == "count" {
						v = 1
					}
					op.Collect(s.TS, flow.Keyed[string, int64]{Key: s.Key, Value: v})
				case fixture.StepWatermark:
					op.Watermark(s.Watermark)
				case fixture.StepProc:
					op.ProcTime(s.Proc)
				case fixture.StepSnapshotRestore:
					t.Skip("snapshot_restore needs checkpoints")
				}
			}
			for _, d := range c.Compare(got) {
				t.Error(d)
			}
		})
	}
	if ran == 0 {
		t.Log("no shared fixture uses a window the slicing operator supports")
	}
}

type fixtureLate struct {
	flow.Discard[flow.LateElement[string, int64]]
	got  *[]fixture.Result
	step *int
}

func (l fixtureLate) Collect(_ int64, e flow.LateElement[string, int64]) {
	s := *l.step
	*l.got = append(*l.got, fixture.Result{Late: true, Key: e.Key, TS: e.Timestamp, Step: &s})
}

// TestSliceWindowOpChainsTimers checks that the cost in timers does not grow with size/slide: many
// elements of one key in one slice of a window that has 60 overlapping windows leave one wake.
func TestSliceWindowOpChainsTimers(t *testing.T) {
	var merges int
	op := &flow.SliceWindowOp[string, int64, int64]{Name: "w", T: flow.NewTask("t", 0, 1),
		Spec: window.NewSpec(window.SlidingMillis(60_000, 1_000, 0)), Agg: sumInts{merges: &merges},
		Fire: func(string, window.Window, window.Pane, int64) {}, Out: flow.Discard[int64]{}, Late: flow.Discard[flow.LateElement[string, int64]]{}}
	op.Init()
	for i := range 1000 {
		op.Collect(int64(i%1000), flow.Keyed[string, int64]{Key: "k", Value: 1})
	}
	if n := op.Timers(); n != 1 {
		t.Fatalf("%d timers for one slice, want 1", n)
	}
	if n := op.Slices(); n != 1 {
		t.Fatalf("%d slices, want 1", n)
	}
	var fired []window.Window
	op.Fire = func(_ string, w window.Window, p window.Pane, acc int64) {
		if acc != 1000 || p.Timing != window.OnTime {
			t.Errorf("window %v: pane %v value %d, want ON_TIME 1000", w, p, acc)
		}
		fired = append(fired, w)
	}
	op.Watermark(flow.MaxTime)
	if len(fired) != 60 || merges != 0 {
		t.Fatalf("fired %d windows with %d merges, want 60 windows of one slice and no merge", len(fired), merges)
	}
	if op.Keys() != 0 || op.Timers() != 0 {
		t.Fatalf("state left: %d keys, %d timers", op.Keys(), op.Timers())
	}
}

// TestSliceWindowOpPurgesWithLateness checks that slices live exactly as long as allowed lateness
// requires: a late element within lateness re-fires every window it is late for, then the state
// is purged once the watermark passes the last window's end-1+lateness, and the key, idle, leaves
// the table a slide later.
func TestSliceWindowOpPurgesWithLateness(t *testing.T) {
	type pane struct {
		w window.Window
		p window.Pane
		v int64
	}
	var got []pane
	spec := window.NewSpec(window.SlidingMillis(10, 5, 0))
	spec.AllowedLateness = 10
	op := &flow.SliceWindowOp[string, int64, int64]{Name: "w", T: flow.NewTask("t", 0, 1), Spec: spec, Agg: sumInts{},
		Fire: func(_ string, w window.Window, p window.Pane, acc int64) { got = append(got, pane{w, p, acc}) },
		Out:  flow.Discard[int64]{}, Late: flow.Discard[flow.LateElement[string, int64]]{}}
	op.Init()
	op.Collect(7, flow.Keyed[string, int64]{Key: "k", Value: 1}) // windows [0,10) and [5,15)
	op.Watermark(14)                                             // both fire ON_TIME
	op.Collect(8, flow.Keyed[string, int64]{Key: "k", Value: 2}) // late for both, within lateness
	op.Watermark(19)                                             // [0,10) purged at 9+10
	op.Collect(6, flow.Keyed[string, int64]{Key: "k", Value: 4}) // late for [5,15) only: LATE pane 2
	want := []pane{
		{window.Window{Start: 0, End: 10}, window.Pane{Timing: window.OnTime}, 1},
		{window.Window{Start: 5, End: 15}, window.Pane{Timing: window.OnTime}, 1},
		{window.Window{Start: 0, End: 10}, window.Pane{Timing: window.Late, Index: 1}, 3},
		{window.Window{Start: 5, End: 15}, window.Pane{Timing: window.Late, Index: 1}, 3},
		{window.Window{Start: 5, End: 15}, window.Pane{Timing: window.Late, Index: 2}, 7},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("panes\n got %v\nwant %v", got, want)
	}
	if op.T.Counters.Late.Load() != 0 {
		t.Fatalf("%d elements went to Late, want 0", op.T.Counters.Late.Load())
	}
	op.Watermark(24)
	if op.Keys() != 0 || op.Slots() != 1 || op.Slices() != 0 {
		t.Fatalf("after the last cleanup: %d keys with state, %d in the table, %d slices, want the key idle: in the table, without state",
			op.Keys(), op.Slots(), op.Slices())
	}
	op.Watermark(29) // a slide later: the key did not come back
	if op.Slots() != 0 || op.Timers() != 0 {
		t.Fatalf("a slide after the last cleanup: %d keys in the table, %d wakes, want none", op.Slots(), op.Timers())
	}
	op.Collect(7, flow.Keyed[string, int64]{Key: "k", Value: 1}) // [0,10) and [5,15) are gone
	if op.T.Counters.Late.Load() != 1 {
		t.Fatal("an element too late for every window did not go to Late")
	}
}

// TestSliceWindowOpZeroAllocs checks the steady state of many keys costs no allocation per record.
func TestSliceWindowOpZeroAllocs(t *testing.T) {
	op := &flow.SliceWindowOp[string, int64, int64]{Name: "w", T: flow.NewTask("t", 0, 1),
		Spec: window.NewSpec(window.SlidingMillis(100, 20, 0)), Agg: sumInts{},
		Fire: func(string, window.Window, window.Pane, int64) {}, Out: flow.Discard[int64]{}, Late: flow.Discard[flow.LateElement[string, int64]]{}}
	op.Init()
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	ts := int64(0)
	feed := func() {
		for i := range 4000 {
			op.Collect(ts, flow.Keyed[string, int64]{Key: keys[(i*7)%len(keys)], Value: 1})
			if i%8 == 0 {
				ts++
			}
			if i%256 == 0 {
				op.Watermark(ts - 5)
			}
		}
	}
	for range 20 {
		feed() // warm up: reach the steady size of every buffer
	}
	if a := testing.AllocsPerRun(20, feed); a > 0 {
		t.Fatalf("%.1f allocations per 4000 records, want 0", a)
	}
}

// TestSliceWindowOpCollectBatch: CollectBatch must do exactly what Collect does for each record
// in order. The random scripts of the equivalence test are fed to the slicing operator with runs
// of consecutive elements delivered as one batch (up to 40 records, across CollectBatch's
// internal groups), and the panes and late elements must be those of WindowOp; emissions are
// compared by the step that started their batch.
func TestSliceWindowOpCollectBatch(t *testing.T) {
	cases := 500
	if testing.Short() {
		cases = 100
	}
	for c := range cases {
		r := rand.New(rand.NewPCG(uint64(c), 7))
		spec := randomSpec(r)
		script := randomScript(r, 50+r.IntN(300))
		batchOf := make([]int, len(script)) // step → the first step of its batch
		for i := 0; i < len(script); {
			j := i + 1
			if s := script[i]; !s.isWM && !s.restore {
				for n := 1 + r.IntN(40); j < len(script) && j-i < n && !script[j].isWM && !script[j].restore; j++ {
				}
			}
			for k := i; k < j; k++ {
				batchOf[k] = i
			}
			i = j
		}
		want, _ := run(func(rec recorder) windowOperator { g, _ := newOps(spec, rec, nil, nil); return g }, script, false)
		for i := range want {
			want[i].Step = batchOf[want[i].Step]
		}
		slices.SortFunc(want, cmpEmitted)

		var got []emitted
		stepNo := 0
		rec := recorder{step: &stepNo, out: &got}
		_, o := newOps(spec, rec, nil, nil)
		op := o.(*flow.SliceWindowOp[string, int64, int64])
		var batch []flow.Rec[flow.Keyed[string, int64]]
		for i, s := range script {
			stepNo = batchOf[i]
			switch {
			case s.restore:
			case s.isWM:
				op.Watermark(s.ts)
			default:
				batch = append(batch, flow.Rec[flow.Keyed[string, int64]]{TS: s.ts, V: flow.Keyed[string, int64]{Key: s.key, Value: s.v}})
				if i+1 == len(script) || batchOf[i+1] != batchOf[i] {
					op.CollectBatch(batch)
					batch = batch[:0]
				}
			}
		}
		slices.SortFunc(got, cmpEmitted)
		if !slices.Equal(got, want) {
			t.Fatalf("case %d: spec %+v: outputs differ\n%s", c, spec, diffEmitted(want, got))
		}
	}
}

// TestSliceWindowOpAsyncSnapshot checks the copy-on-write snapshot: the bytes that SnapshotAsync's
// function writes on another goroutine, while the operator goes on processing (and so writes to
// the state the snapshot froze), must be those a synchronous snapshot wrote at the barrier.
// Under -race this also checks that the encoder never reads what the operator writes.
func TestSliceWindowOpAsyncSnapshot(t *testing.T) {
	cases := 300
	if testing.Short() {
		cases = 60
	}
	for c := range cases {
		r := rand.New(rand.NewPCG(uint64(c), 9))
		spec := randomSpec(r)
		script := randomScript(r, 50+r.IntN(300))
		var out []emitted
		stepNo := 0
		_, o := newOps(spec, recorder{step: &stepNo, out: &out}, nil, nil)
		op := o.(*flow.SliceWindowOp[string, int64, int64])
		runAsyncSnapshots(t, c, op, script, &stepNo, func(s step) bool { return s.restore || r.IntN(30) == 0 }, false)
	}
}

// TestSliceWindowOpRingOverflow gives one key more older slices than its ring holds (a 10 s / 2 s
// window keeps up to 6 in the ring; elements in 20 slices ahead of the watermark), checkpoints
// while they are in the ext state, and lets the watermark purge them until they fit in the ring
// again: the panes must be WindowOp's, and the slice count must follow.
func TestSliceWindowOpRingOverflow(t *testing.T) {
	spec := window.NewSpec(window.SlidingMillis(10, 2, 0))
	var script []step
	for ts := int64(0); ts < 40; ts += 2 {
		script = append(script, step{key: "k", ts: ts, v: ts}, step{key: "j", ts: ts + 1, v: 1})
	}
	script = append(script, step{restore: true})
	for wm := int64(5); wm < 60; wm += 4 {
		script = append(script, step{isWM: true, ts: wm}, step{key: "k", ts: wm + 1, v: 100}, step{restore: true})
	}
	script = append(script, step{isWM: true, ts: flow.MaxTime})
	want, _ := run(func(rec recorder) windowOperator { g, _ := newOps(spec, rec, nil, nil); return g }, script, false)
	got, op := run(func(rec recorder) windowOperator { _, s := newOps(spec, rec, nil, nil); return s }, script, true)
	if !slices.Equal(got, want) {
		t.Fatalf("outputs differ\n%s", diffEmitted(want, got))
	}
	if op.Keys() != 0 {
		t.Fatalf("%d keys left after the final watermark", op.Keys())
	}

	_, o := newOps(spec, recorder{step: new(int), out: new([]emitted)}, nil, nil)
	s := o.(*flow.SliceWindowOp[string, int64, int64])
	for ts := int64(0); ts < 40; ts += 2 {
		s.Collect(ts, flow.Keyed[string, int64]{Key: "k", Value: 1})
	}
	if n := s.Slices(); n != 20 {
		t.Fatalf("%d slices after 20 elements in 20 slices, want 20", n)
	}
	s.Watermark(35) // the wake at 35 purges the slices whose last window, [s, s+10), ended by 36
	if n := s.Slices(); n != 6 {
		t.Fatalf("%d slices at watermark 35, want 6 (starts 28..38)", n)
	}
}

// panicOn666 sums its elements and panics on the value 666 (user code that fails).
type panicOn666 struct{ sumInts }

func (p panicOn666) Add(v int64, a int64) int64 {
	if v == 666 {
		panic("bad value 666")
	}
	return a + v
}

// TestSliceWindowOpLateBornSliceSurvivesRestore: a slice born after its windows ended keeps its
// birth through a checkpoint. Its first element panics in Add (a dead letter), so the slice
// exists, empty, but no LATE pane fired; the next element fires the LATE panes of its windows,
// which never had an ON_TIME pane: their index is 0, restored or not.
func TestSliceWindowOpLateBornSliceSurvivesRestore(t *testing.T) {
	spec := window.NewSpec(window.SlidingMillis(10, 5, 0))
	spec.AllowedLateness = 20
	script := []step{
		{isWM: true, ts: 100},
		{key: "a", ts: 92, v: 666}, // slice [90, 95): windows [85, 95) and [90, 100) are past
		{restore: true},
		{key: "a", ts: 93, v: 1},
		{isWM: true, ts: flow.MaxTime},
	}
	want := []emitted{
		{Step: 3, Key: "a", Start: 85, End: 95, Timing: window.Late, Index: 0, Value: 1},
		{Step: 3, Key: "a", Start: 90, End: 100, Timing: window.Late, Index: 0, Value: 1},
	}
	for _, checkpoints := range []bool{false, true} {
		got, _ := run(func(rec recorder) windowOperator {
			s := &flow.SliceWindowOp[string, int64, int64]{Name: "sliced", T: flow.NewTask("t", 0, 1), Spec: spec,
				Agg: panicOn666{}, Fire: rec.fire, Out: flow.Discard[int64]{}, Late: lateRecorder{recorder: rec}, State: testCodecs}
			s.Init()
			return s
		}, script, checkpoints)
		if !slices.Equal(got, want) {
			t.Fatalf("checkpoints %v: got %+v, want %+v", checkpoints, got, want)
		}
	}
}
