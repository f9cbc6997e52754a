package flow_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/window"
)

type slicedOp = flow.SliceWindowOp[string, int64, int64]

func newSliced(spec window.Spec, rec recorder) *slicedOp {
	op := &slicedOp{Name: "sliced", T: flow.NewTask("t", 0, 1), Spec: spec, Agg: sumInts{},
		Fire: rec.fire, Out: flow.Discard[int64]{}, Late: lateRecorder{recorder: rec}, State: testCodecs}
	op.Init()
	return op
}

// spillSub is one subtask of a spilling sliced operator, owning key groups [start, end).
type spillSub struct {
	op         *slicedOp
	st         *flow.MemSpillStore
	start, end int
}

// spillRun is a keyed stage of spilling sliced operators: elements go to the subtask owning
// their key group, watermarks to all.
type spillRun struct {
	subs   []spillSub
	budget int
}

// newSpillRun makes par subtasks with the given budget; with parts, each restores its key groups
// from the hot records and its store from the captures (as pebble.RestoreRange), then gets the
// watermark wm again, as the runtime does.
func newSpillRun(t testing.TB, spec window.Spec, rec recorder, par, budget int, parts []flow.StatePart, caps []*flow.MemSpillStore, wm int64) *spillRun {
	t.Helper()
	r := &spillRun{budget: budget}
	for i := range par {
		start, end := flow.KeyGroupRange(flow.DefaultMaxParallelism, par, i)
		sub := spillSub{op: newSliced(spec, rec), st: flow.RestoreRange(start, end, caps...), start: start, end: end}
		if err := sub.op.SetSpill(sub.st, budget); err != nil {
			t.Fatal(err)
		}
		if parts != nil {
			if err := sub.op.RestoreState(flow.NewStateReader(parts, start, end)); err != nil {
				t.Fatal(err)
			}
			if wm != flow.MinTime {
				sub.op.Watermark(wm)
			}
		}
		r.subs = append(r.subs, sub)
	}
	r.checkBudget(t)
	return r
}

func (r *spillRun) collect(ts int64, k string, v int64) {
	kg := flow.KeyGroup(flow.HashString(k), flow.DefaultMaxParallelism)
	for _, s := range r.subs {
		if kg >= s.start && kg < s.end {
			s.op.Collect(ts, flow.Keyed[string, int64]{Key: k, Value: v})
			return
		}
	}
	panic("no subtask owns key group " + strconv.Itoa(kg))
}

func (r *spillRun) watermark(wm int64) {
	for _, s := range r.subs {
		s.op.Watermark(wm)
	}
}

// checkpoint snapshots every subtask (asynchronously or not) and captures its store.
func (r *spillRun) checkpoint(t testing.TB, async bool) ([]flow.StatePart, []*flow.MemSpillStore) {
	t.Helper()
	var parts []flow.StatePart
	var caps []*flow.MemSpillStore
	for _, s := range r.subs {
		var w flow.StateWriter
		if async {
			f, err := s.op.SnapshotAsync(1)
			if err == nil {
				err = f(&w)
			}
			if err != nil {
				t.Fatal(err)
			}
		} else if err := s.op.SnapshotState(&w); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, flow.StatePart{Data: w.Bytes()})
		caps = append(caps, s.st.Capture())
	}
	return parts, caps
}

func (r *spillRun) checkBudget(t testing.TB) {
	t.Helper()
	for i, s := range r.subs {
		if n := s.op.Spill().Resident(); n > r.budget {
			t.Fatalf("subtask %d: %d keys resident, budget %d", i, n, r.budget)
		}
	}
}

// spillStats sums the subtasks' spill counters.
func (r *spillRun) stats() (loads, evictions int64) {
	for _, s := range r.subs {
		loads += s.op.Spill().Loads
		evictions += s.op.Spill().Evictions
	}
	return loads, evictions
}

// widenKeys spreads the elements of a script over n variants of each key.
func widenKeys(r *rand.Rand, script []step, n int) []step {
	out := slices.Clone(script)
	for i := range out {
		if !out[i].isWM && !out[i].restore {
			out[i].key += strconv.Itoa(r.IntN(n))
		}
	}
	return out
}

// runSpilled feeds the script to spilling subtasks that start at parallelism 2; at each restore
// step they are checkpointed and replaced by subtasks restored from the checkpoint at the next
// parallelism of 3, 1, 2, 3, 1… (so the first restores are a 2→3→1 rescale), alternating
// synchronous and asynchronous snapshots. The budget must hold after every step.
func runSpilled(t testing.TB, spec window.Spec, script []step, budget int) ([]emitted, *spillRun, [2]int64) {
	var out []emitted
	stepNo := 0
	rec := recorder{step: &stepNo, out: &out}
	pars := []int{2, 3, 1}
	r := newSpillRun(t, spec, rec, pars[0], budget, nil, nil, flow.MinTime)
	var total [2]int64
	restores := 0
	wm := flow.MinTime
	for i, s := range script {
		stepNo = i
		switch {
		case s.restore:
			parts, caps := r.checkpoint(t, restores%2 == 1)
			l, e := r.stats()
			total[0], total[1] = total[0]+l, total[1]+e
			restores++
			r = newSpillRun(t, spec, rec, pars[restores%len(pars)], budget, parts, caps, wm)
		case s.isWM:
			r.watermark(s.ts)
			wm = max(wm, s.ts)
		default:
			r.collect(s.ts, s.key, s.v)
		}
		r.checkBudget(t)
	}
	l, e := r.stats()
	total[0], total[1] = total[0]+l, total[1]+e
	slices.SortFunc(out, cmpEmitted)
	return out, r, total
}

// TestSliceWindowOpSpillEquivalence extends the metamorphic test of the slicing operator to the
// spill store: on random scripts over up to 150 keys and random window shapes, a sliced operator
// spilling at budgets 0, 1, 10 and 1000, checkpointed and restored (with its store) at random
// steps under a changing parallelism, must emit exactly what WindowOp emits uninterrupted in
// memory, and leave nothing in memory, in its timers or in its store after the final watermark.
func TestSliceWindowOpSpillEquivalence(t *testing.T) {
	cases := 300
	if testing.Short() {
		cases = 80
	}
	budgets := []int{0, 1, 10, 1000}
	var loads, evictions [4]int64
	for c := range cases {
		r := rand.New(rand.NewPCG(uint64(c), 77))
		spec := randomSpec(r)
		script := widenKeys(r, randomScript(r, 50+r.IntN(300)), 1+r.IntN(30))
		want, _ := run(func(rec recorder) windowOperator { g, _ := newOps(spec, rec, nil, nil); return g }, script, false)
		for bi, budget := range budgets {
			got, sr, st := runSpilled(t, spec, script, budget)
			if !slices.Equal(got, want) {
				t.Fatalf("case %d, budget %d: spec %+v: outputs differ\n%s", c, budget, spec, diffEmitted(want, got))
			}
			for i, s := range sr.subs {
				if s.op.Keys() != 0 || s.op.Timers() != 0 || s.st.Len() != 0 {
					t.Fatalf("case %d, budget %d, subtask %d: state left after the final watermark: %d keys, %d wakes, %d stored",
						c, budget, i, s.op.Keys(), s.op.Timers(), s.st.Len())
				}
			}
			loads[bi] += st[0]
			evictions[bi] += st[1]
		}
	}
	for bi, budget := range budgets {
		t.Logf("budget %d: %d loads, %d evictions", budget, loads[bi], evictions[bi])
		if budget <= 10 && (loads[bi] == 0 || evictions[bi] == 0) {
			t.Errorf("budget %d: nothing spilled", budget)
		}
		if budget == 1000 && evictions[bi] != 0 {
			t.Errorf("budget %d: %d evictions within the budget", budget, evictions[bi])
		}
	}
}

// TestSliceWindowOpSpillCollectBatch: with a spill store, CollectBatch does what Collect does
// record by record, and the budget holds after every batch.
func TestSliceWindowOpSpillCollectBatch(t *testing.T) {
	cases := 200
	if testing.Short() {
		cases = 50
	}
	var evictions int64
	for c := range cases {
		r := rand.New(rand.NewPCG(uint64(c), 8))
		spec := randomSpec(r)
		script := widenKeys(r, randomScript(r, 50+r.IntN(300)), 1+r.IntN(20))
		want, _ := run(func(rec recorder) windowOperator { g, _ := newOps(spec, rec, nil, nil); return g }, script, false)
		var got []emitted
		stepNo := 0
		budget := r.IntN(4)
		op := newSliced(spec, recorder{step: &stepNo, out: &got})
		st := flow.NewMemSpillStore()
		if err := op.SetSpill(st, budget); err != nil {
			t.Fatal(err)
		}
		var batch []flow.Rec[flow.Keyed[string, int64]]
		flush := func() {
			op.CollectBatch(batch)
			batch = batch[:0]
			if n := op.Spill().Resident(); n > budget {
				t.Fatalf("case %d: %d resident after a batch, budget %d", c, n, budget)
			}
		}
		for i, s := range script {
			switch {
			case s.restore:
			case s.isWM:
				flush()
				stepNo = i
				op.Watermark(s.ts)
			default:
				if len(batch) == 0 {
					stepNo = i
				}
				batch = append(batch, flow.Rec[flow.Keyed[string, int64]]{TS: s.ts, V: flow.Keyed[string, int64]{Key: s.key, Value: s.v}})
			}
		}
		flush()
		// Emissions of a batch carry its first step: compare them without steps.
		for _, l := range [][]emitted{want, got} {
			for i := range l {
				l[i].Step = 0
			}
			slices.SortFunc(l, cmpEmitted)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("case %d: spec %+v, budget %d: outputs differ\n%s", c, spec, budget, diffEmitted(want, got))
		}
		evictions += op.Spill().Evictions
	}
	if evictions == 0 {
		t.Fatal("nothing was evicted")
	}
}

// TestSliceWindowOpSpillAsyncSnapshot: evictions and loads after a copy-on-write freeze (slots
// freed and reused, chunks written) must not change what the asynchronous snapshot encodes: its
// bytes are those of a synchronous snapshot at the barrier. In half the cases the snapshots are
// encoded after the whole script ran (every later eviction has happened); in the others, while
// it runs, where -race checks that eviction copies a frozen chunk before clearing it.
func TestSliceWindowOpSpillAsyncSnapshot(t *testing.T) {
	cases := 150
	if testing.Short() {
		cases = 40
	}
	var after int64 // evictions between a freeze and the end of its encoding
	for c := range cases {
		r := rand.New(rand.NewPCG(uint64(c), 10))
		spec := randomSpec(r)
		script := widenKeys(r, randomScript(r, 50+r.IntN(300)), 1+r.IntN(40))
		var out []emitted
		stepNo := 0
		op := newSliced(spec, recorder{step: &stepNo, out: &out})
		if err := op.SetSpill(flow.NewMemSpillStore(), r.IntN(5)); err != nil {
			t.Fatal(err)
		}
		after += runAsyncSnapshots(t, c, op, script, &stepNo, func(s step) bool { return s.restore || r.IntN(20) == 0 }, c%2 == 0)
	}
	if after == 0 {
		t.Fatal("no eviction followed a freeze")
	}
}

// TestSliceWindowOpSpillPurgedKeyStartsEmpty: a key evicted, loaded by its window end, fired and
// purged leaves the store; seen again it starts empty.
func TestSliceWindowOpSpillPurgedKeyStartsEmpty(t *testing.T) {
	var out []emitted
	stepNo := 0
	op := newSliced(window.NewSpec(window.TumblingMillis(10, 0)), recorder{step: &stepNo, out: &out})
	st := flow.NewMemSpillStore()
	if err := op.SetSpill(st, 0); err != nil {
		t.Fatal(err)
	}
	op.Collect(1, flow.Keyed[string, int64]{Key: "a", Value: 5})
	op.Collect(2, flow.Keyed[string, int64]{Key: "a", Value: 6})
	if st.Len() != 1 || op.Keys() != 0 || op.Spill().Loads != 1 {
		t.Fatalf("after two elements at budget 0: %d stored, %d in memory, %d loads", st.Len(), op.Keys(), op.Spill().Loads)
	}
	op.Watermark(9)
	if st.Len() != 0 || op.Keys() != 0 || op.Timers() != 0 {
		t.Fatalf("after the window end: %d stored, %d in memory, %d timers", st.Len(), op.Keys(), op.Timers())
	}
	op.Collect(15, flow.Keyed[string, int64]{Key: "a", Value: 1})
	op.Watermark(19)
	want := []emitted{{Key: "a", Start: 0, End: 10, Timing: window.OnTime, Value: 11}, {Key: "a", Start: 10, End: 20, Timing: window.OnTime, Value: 1}}
	if !slices.Equal(out, want) {
		t.Fatalf("panes %+v, want %+v", out, want)
	}
}

// TestSliceWindowOpSpillTimersDoNotPromote: window ends of cold keys load them for the firing
// only: the hot keys stay in memory, and the fired keys leave memory and store.
func TestSliceWindowOpSpillTimersDoNotPromote(t *testing.T) {
	var out []emitted
	stepNo := 0
	op := newSliced(window.NewSpec(window.TumblingMillis(10, 0)), recorder{step: &stepNo, out: &out})
	st := flow.NewMemSpillStore()
	if err := op.SetSpill(st, 2); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		op.Collect(int64(i%10), flow.Keyed[string, int64]{Key: fmt.Sprint("cold", i), Value: 1})
	}
	for range 3 { // seen twice: referenced
		op.Collect(12, flow.Keyed[string, int64]{Key: "hot1", Value: 1})
		op.Collect(13, flow.Keyed[string, int64]{Key: "hot2", Value: 1})
	}
	if st.Len() < 18 {
		t.Fatalf("%d keys stored, want the 20 cold ones at least 18", st.Len())
	}
	op.Watermark(9)
	if len(out) != 20 {
		t.Fatalf("%d panes, want 20", len(out))
	}
	loads := op.Spill().Loads
	op.Collect(14, flow.Keyed[string, int64]{Key: "hot1", Value: 1})
	op.Collect(15, flow.Keyed[string, int64]{Key: "hot2", Value: 1})
	if op.Spill().Loads != loads {
		t.Fatal("the window end evicted the hot keys")
	}
	if st.Len() != 0 || op.Keys() != 2 {
		t.Fatalf("after the cold keys' window: %d stored, %d in memory; want 0 and the 2 hot keys", st.Len(), op.Keys())
	}
	op.Watermark(19)
	if len(out) != 22 || out[20].Value != 4 || out[21].Value != 4 {
		t.Fatalf("panes %+v", out[20:])
	}
}

// TestSliceWindowOpSpillStaleCopy: a key loaded from the store and changed in memory is written
// by the checkpoint as a hot record, while the captured store still holds its older copy: the
// restored operator keeps the hot copy.
func TestSliceWindowOpSpillStaleCopy(t *testing.T) {
	var out []emitted
	stepNo := 0
	spec := window.NewSpec(window.TumblingMillis(10, 0))
	rec := recorder{step: &stepNo, out: &out}
	r := newSpillRun(t, spec, rec, 1, 1, nil, nil, flow.MinTime)
	r.collect(1, "a", 1)
	r.collect(2, "b", 10) // evicts a: the store holds a=1
	r.collect(3, "a", 2)  // loads a (a=3 in memory), evicts b
	parts, caps := r.checkpoint(t, true)
	if caps[0].Len() != 2 {
		t.Fatalf("%d keys captured, want a (stale) and b", caps[0].Len())
	}
	r = newSpillRun(t, spec, rec, 1, 1, parts, caps, flow.MinTime)
	r.watermark(9)
	slices.SortFunc(out, cmpEmitted)
	want := []emitted{{Key: "a", Start: 0, End: 10, Timing: window.OnTime, Value: 3}, {Key: "b", Start: 0, End: 10, Timing: window.OnTime, Value: 10}}
	if !slices.Equal(out, want) {
		t.Fatalf("panes %+v, want %+v", out, want)
	}
}

// TestSliceWindowOpSpilledCheckpointNeedsSpill: a checkpoint with cold keys' wakes is refused,
// with an explanation, by an operator without a spill store.
func TestSliceWindowOpSpilledCheckpointNeedsSpill(t *testing.T) {
	var out []emitted
	stepNo := 0
	spec := window.NewSpec(window.TumblingMillis(10, 0))
	r := newSpillRun(t, spec, recorder{step: &stepNo, out: &out}, 1, 0, nil, nil, flow.MinTime)
	r.collect(1, "a", 1)
	parts, _ := r.checkpoint(t, false)
	op := newSliced(spec, recorder{step: &stepNo, out: &out})
	err := op.RestoreState(flow.NewStateReader(parts, 0, flow.DefaultMaxParallelism))
	if err == nil || !strings.Contains(err.Error(), "Pebble state backend") {
		t.Fatalf("got %v", err)
	}
}

// runAsyncSnapshots feeds script to op, taking a synchronous and an asynchronous snapshot at the
// steps snapAt picks, and checks that each asynchronous snapshot, encoded on another goroutine
// while op goes on (or, with encodeAtEnd, once the whole script has changed op), equals the
// synchronous one. It returns the evictions (with a spill store) that followed a freeze.
func runAsyncSnapshots(t *testing.T, c int, op *slicedOp, script []step, stepNo *int, snapAt func(s step) bool, encodeAtEnd bool) int64 {
	t.Helper()
	start := make(chan struct{})
	if !encodeAtEnd {
		close(start)
	}
	type pending struct {
		want      []byte
		evictions int64
		done      chan []byte
	}
	evictions := func() int64 {
		if sp := op.Spill(); sp != nil {
			return sp.Evictions
		}
		return 0
	}
	var snaps []pending
	for i, s := range script {
		*stepNo = i
		switch {
		case snapAt(s):
			want, done := snapshotBoth(t, op, int64(i), start)
			snaps = append(snaps, pending{want: want, evictions: evictions(), done: done})
		case s.isWM:
			op.Watermark(s.ts)
		default:
			op.Collect(s.ts, flow.Keyed[string, int64]{Key: s.key, Value: s.v})
		}
	}
	if encodeAtEnd {
		close(start)
	}
	var after int64
	for j, p := range snaps {
		if got := <-p.done; !slices.Equal(got, p.want) {
			t.Fatalf("case %d: snapshot %d: the asynchronous snapshot differs from the state at the barrier", c, j)
		}
		after += evictions() - p.evictions
	}
	return after
}

// snapshotBoth takes a synchronous snapshot of op, then an asynchronous one whose encoding runs
// on another goroutine, once start is closed, while the caller goes on; it returns the synchronous
// bytes and the channel that receives the asynchronous ones.
func snapshotBoth(t *testing.T, op *slicedOp, id int64, start <-chan struct{}) ([]byte, chan []byte) {
	t.Helper()
	var w flow.StateWriter
	if err := op.SnapshotState(&w); err != nil {
		t.Fatal(err)
	}
	f, err := op.SnapshotAsync(id)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []byte, 1)
	go func() {
		<-start
		var w flow.StateWriter
		if err := f(&w); err != nil {
			panic(err)
		}
		done <- w.Bytes()
	}()
	return slices.Clone(w.Bytes()), done
}

// FuzzSlicedSpilledState feeds arbitrary spilled values (what the store returns for a key) and
// cold-wake records to the sliced operator: decoding never panics, and a value that decodes is
// written back in a form that decodes to the same bytes.
func FuzzSlicedSpilledState(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	spec := window.NewSpec(window.SlidingMillis(10, 3, 0))
	spec.AllowedLateness = 20
	var out []emitted
	stepNo := 0
	sr := newSpillRun(f, spec, recorder{step: &stepNo, out: &out}, 1, 0, nil, nil, flow.MinTime)
	for _, s := range widenKeys(r, randomScript(r, 200), 5) {
		switch {
		case s.isWM && s.ts < flow.MaxTime:
			sr.watermark(s.ts)
		case !s.isWM && !s.restore:
			sr.collect(s.ts, s.key, s.v)
		}
	}
	parts, caps := sr.checkpoint(f, false)
	_ = caps[0].Iterate(0, flow.DefaultMaxParallelism, func(_ int, _, v []byte) error {
		f.Add(slices.Clone(v), false)
		return nil
	})
	_ = flow.NewStateReader(parts, 0, flow.DefaultMaxParallelism).Each(func(_ int, rec []byte) error {
		f.Add(slices.Clone(rec), true)
		return nil
	})
	newOp := func(t *testing.T) *slicedOp {
		op := newSliced(spec, recorder{step: &stepNo, out: &out})
		if err := op.SetSpill(flow.NewMemSpillStore(), 10); err != nil {
			t.Fatal(err)
		}
		return op
	}
	f.Fuzz(func(t *testing.T, b []byte, record bool) {
		op := newOp(t)
		if record {
			var w flow.StateWriter
			w.Put(0, b)
			_ = op.RestoreState(flow.NewStateReader([]flow.StatePart{{Data: w.Bytes()}}, 0, flow.DefaultMaxParallelism))
			return
		}
		slot, err := op.LoadKeyState("k", b)
		if err != nil {
			return
		}
		body, empty := op.AppendKeyState(nil, slot)
		if empty {
			t.Fatalf("a loaded key has no state: %x", b)
		}
		op2 := newOp(t)
		slot2, err := op2.LoadKeyState("k", body)
		if err != nil {
			t.Fatalf("a re-encoded state does not decode: %v\n%x", err, body)
		}
		if again, _ := op2.AppendKeyState(nil, slot2); !slices.Equal(again, body) {
			t.Fatalf("re-encoding changed the state:\n%x\n%x", body, again)
		}
	})
}
