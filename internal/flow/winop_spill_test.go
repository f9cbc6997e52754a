package flow

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/state/codec"
	"github.com/sluicehq/sluice/window"
)

// listAcc buffers a pane's values in arrival order, as ProcessWindow does: the tests see the
// order and every value, so a lost or repeated element shows.
type listAcc struct{}

func (listAcc) CreateAccumulator() []int64     { return nil }
func (listAcc) Add(v int64, a []int64) []int64 { return append(a, v) }
func (listAcc) Merge(a, b []int64) []int64     { return append(slices.Clone(a), b...) }

type listOp = WindowOp[string, int64, []int64]

// winRec records what the subtasks of a window operator emit, as lines that start with the step
// of the script during which they were emitted.
type winRec struct {
	step *int
	out  *[]string
}

func (r winRec) fire(k string, w window.Window, p window.Pane, acc []int64) {
	*r.out = append(*r.out, fmt.Sprintf("%06d %s %v %v#%d %v", *r.step, k, w, p.Timing, p.Index, acc))
}

// winLate records late elements.
type winLate struct {
	Discard[LateElement[string, int64]]
	winRec
}

func (r winLate) Collect(ts int64, e LateElement[string, int64]) {
	*r.out = append(*r.out, fmt.Sprintf("%06d %s late %d@%d wm=%d %v", *r.step, e.Key, e.Value, ts, e.Watermark, e.Window))
}

// newListOp is a general window operator over spec with codecs for checkpoints and spilling.
func newListOp(spec window.Spec, clk *procClock, i, par int, rec winRec) *listOp {
	t := NewTask("w", i, par)
	t.Clock = clk
	op := &listOp{Name: "w", T: t, Spec: spec, Agg: listAcc{}, Fire: rec.fire, Out: Discard[[]int64]{},
		Late:  winLate{winRec: rec},
		State: StateCodecs[string, []int64]{UID: "w", Key: codec.MustFor[string](), Value: codec.MustFor[[]int64](), Hash: hashKey}}
	op.Init()
	return op
}

// winCluster is the subtasks of a window operator, each with its own spill store unless budget
// is negative (the memory backend); elements are routed by key group as the KeyBy exchange does.
type winCluster struct {
	spec   window.Spec
	clk    *procClock
	rec    winRec
	budget int
	ops    []*listOp
	stores []*memSpillStore
	wm     int64
	// loads and evictions of the subtasks this cluster replaced, and of its own
	loads, evictions int64
}

func newWinCluster(t testing.TB, spec window.Spec, clk *procClock, rec winRec, par, budget int, stores []*memSpillStore) *winCluster {
	t.Helper()
	c := &winCluster{spec: spec, clk: clk, rec: rec, budget: budget, wm: MinTime}
	for i := range par {
		op := newListOp(spec, clk, i, par, rec)
		if budget >= 0 {
			c.stores = append(c.stores, attachMemSpill(t, op, stores, i, budget))
		}
		c.ops = append(c.ops, op)
	}
	return c
}

// wstep is one input of a window script.
type wstep struct {
	kind byte // 'e' element, 'w' watermark, 'p' processing time, 'c' checkpoint and restore
	key  string
	ts   int64 // element timestamp, watermark, processing time
	v    int64 // element value; 'c': the new parallelism
}

func (c *winCluster) apply(t testing.TB, s wstep) *winCluster {
	switch s.kind {
	case 'e':
		c.ops[subtaskOfKey(s.key, len(c.ops))].Collect(s.ts, Keyed[string, int64]{Key: s.key, Value: s.v})
	case 'w':
		c.wm = max(c.wm, s.ts)
		for _, op := range c.ops {
			op.Watermark(s.ts)
		}
	case 'p':
		c.clk.now = s.ts
		for _, op := range c.ops {
			op.ProcTime(s.ts)
		}
	case 'c':
		return c.restart(t, int(s.v), c.budget)
	}
	return c
}

// checkpoint snapshots the subtasks' hot keys and copies their stores (the captures).
func (c *winCluster) checkpoint(t testing.TB) ([]StatePart, []*memSpillStore) {
	t.Helper()
	var parts []StatePart
	var caps []*memSpillStore
	for i, op := range c.ops {
		var w StateWriter
		if err := op.SnapshotState(&w); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, StatePart{Data: bytes.Clone(w.Bytes()), OperatorState: true})
		if c.stores != nil {
			caps = append(caps, c.stores[i].clone())
		}
	}
	return parts, caps
}

// restart checkpoints the cluster and restores it into par subtasks with another budget; the
// new subtasks get the watermark again, as the runtime's restored operators do.
func (c *winCluster) restart(t testing.TB, par, budget int) *winCluster {
	t.Helper()
	parts, caps := c.checkpoint(t)
	var stores []*memSpillStore
	if budget >= 0 {
		stores = splitStores(t, caps, par)
	}
	n := newWinCluster(t, c.spec, c.clk, c.rec, par, budget, stores)
	n.loads, n.evictions = c.spilled()
	for i, op := range n.ops {
		start, end := KeyGroupRange(DefaultMaxParallelism, par, i)
		if err := op.RestoreState(NewStateReader(parts, start, end)); err != nil {
			t.Fatal(err)
		}
	}
	if n.wm = c.wm; n.wm != MinTime {
		for _, op := range n.ops {
			op.Watermark(n.wm)
		}
	}
	return n
}

// spilled sums the loads and evictions of the cluster and of those it replaced.
func (c *winCluster) spilled() (loads, evictions int64) {
	loads, evictions = c.loads, c.evictions
	for _, op := range c.ops {
		if sp := op.Spill(); sp != nil {
			loads, evictions = loads+sp.Loads, evictions+sp.Evictions
		}
	}
	return loads, evictions
}

// checkBudget checks that between records each subtask keeps at most its budget of keys in
// memory, and that its resident count is the number of keys it holds.
func (c *winCluster) checkBudget(t testing.TB) {
	t.Helper()
	for i, op := range c.ops {
		sp := op.Spill()
		if sp == nil {
			continue
		}
		if r := sp.Resident(); r > c.budget || r != op.Keys() {
			t.Fatalf("subtask %d: %d keys resident (%d in its index), budget %d", i, r, op.Keys(), c.budget)
		}
	}
}

// checkEmpty checks that no state is left anywhere, in memory or in a store.
func (c *winCluster) checkEmpty(t testing.TB) {
	t.Helper()
	for i, op := range c.ops {
		if op.Keys() != 0 {
			t.Fatalf("subtask %d: %d keys left in memory", i, op.Keys())
		}
		if c.stores != nil && len(c.stores[i].m) != 0 {
			t.Fatalf("subtask %d: %d keys left in the store (purged keys must leave it)", i, len(c.stores[i].m))
		}
	}
}

// splitStores builds par stores from captures, each holding the entries of its key groups, as
// pebble.RestoreRange does.
func splitStores(t testing.TB, caps []*memSpillStore, par int) []*memSpillStore {
	t.Helper()
	stores := make([]*memSpillStore, par)
	for i := range stores {
		stores[i] = newMemSpillStore()
		start, end := KeyGroupRange(DefaultMaxParallelism, par, i)
		for _, cp := range caps {
			err := cp.Iterate(start, end, func(kg int, key, value []byte) error {
				return stores[i].Set(kg, key, value)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		stores[i].sets = 0
	}
	return stores
}

// runWinScript runs script on a cluster of par subtasks (budget < 0: memory backend), checking
// the budget after every step and that nothing is left at the end; it returns the sorted output.
func runWinScript(t testing.TB, spec window.Spec, script []wstep, par, budget int, restarts bool) ([]string, *winCluster) {
	t.Helper()
	var out []string
	stepNo := 0
	rec := winRec{step: &stepNo, out: &out}
	c := newWinCluster(t, spec, &procClock{now: 1000}, rec, par, budget, nil)
	for i, s := range script {
		stepNo = i
		if s.kind == 'c' && !restarts {
			continue
		}
		c = c.apply(t, s)
		c.checkBudget(t)
	}
	c.checkEmpty(t)
	slices.Sort(out)
	return out, c
}

// winScript makes n random steps over keys (skewed: a few are hot), out of order, with
// stragglers behind the watermark, processing time advancing, and checkpoints with restores into
// 1 to 3 subtasks; it ends with the final watermark and processing time past every early timer.
func winScript(r *rand.Rand, n, keys int) []wstep {
	now, proc, wm := -r.Int64N(100), int64(1000), MinTime
	disorder := 1 + r.Int64N(30)
	var out []wstep
	for range n {
		switch x := r.IntN(100); {
		case x < 3:
			out = append(out, wstep{kind: 'c', v: 1 + r.Int64N(3)})
		case x < 70:
			ts := now - r.Int64N(disorder)
			if r.IntN(15) == 0 && wm != MinTime {
				ts = wm - r.Int64N(90) // a straggler behind the watermark
			}
			k := fmt.Sprintf("k%03d", r.IntN(1+r.IntN(keys)))
			out = append(out, wstep{kind: 'e', key: k, ts: ts, v: r.Int64N(1000)})
			now += r.Int64N(3)
		case x < 88:
			now += r.Int64N(4)
			wm = max(wm, now-r.Int64N(disorder+5))
			out = append(out, wstep{kind: 'w', ts: wm})
		default:
			proc += 1 + r.Int64N(6)
			out = append(out, wstep{kind: 'p', ts: proc})
		}
	}
	return append(out, wstep{kind: 'w', ts: MaxTime}, wstep{kind: 'p', ts: proc + 1000})
}

// randomWinSpec picks an assigner (sessions, tumbling, sliding) and a trigger the general
// operator runs: early firings, count triggers, allowed lateness with late panes, discarding.
func randomWinSpec(r *rand.Rand) window.Spec {
	var a window.Assigner
	switch r.IntN(3) {
	case 0:
		a = window.SessionMillis(3 + r.Int64N(15))
	case 1:
		a = window.TumblingMillis(10, r.Int64N(10))
	default:
		a = window.SlidingMillis(12, 4, 0)
	}
	s := window.NewSpec(a)
	s.AllowedLateness = []int64{0, 0, 5, 25}[r.IntN(4)]
	s.EarlyAfter = []int64{0, 0, 3, 8}[r.IntN(4)]
	if r.IntN(5) == 0 {
		s.Count = 2 + r.IntN(3)
	}
	if r.IntN(4) == 0 {
		s.LateEveryCount = 2
	}
	s.Discarding = r.IntN(3) == 0
	if err := s.Validate(); err != nil {
		panic(err)
	}
	return s
}

// TestWindowSpillMatchesMemory is the metamorphic test of the general window operator with a
// spill store: on random scripts and window specs (sessions that merge, sliding and tumbling
// windows, early and late panes, count triggers, discarding panes), the operator emits exactly
// what an uninterrupted operator on the memory backend emits, step by step, whatever its key
// budget (0: every key evicted after each record; 1; 10; more than the keys), with checkpoints
// restored at random steps into 1 to 3 subtasks. Between records it keeps at most its budget of
// keys in memory, and at the end no key is left in memory or in a store.
func TestWindowSpillMatchesMemory(t *testing.T) {
	cases := 150
	if testing.Short() {
		cases = 30
	}
	var loads, evictions int64
	emitted := 0
	for n := range cases {
		r := rand.New(rand.NewPCG(uint64(n), 7))
		spec := randomWinSpec(r)
		script := winScript(r, 100+r.IntN(400), 5+r.IntN(55))
		want, _ := runWinScript(t, spec, script, 1, -1, false)
		emitted += len(want)
		for _, budget := range []int{-1, 0, 1, 10, 1000} {
			got, c := runWinScript(t, spec, script, 1, budget, true)
			if !slices.Equal(got, want) {
				t.Fatalf("case %d, spec %+v, budget %d: outputs differ\n%s", n, spec, budget, diffLines(want, got))
			}
			l, e := c.spilled()
			if budget == 1000 && e != 0 {
				t.Fatalf("case %d: %d evictions within the budget", n, e)
			}
			loads, evictions = loads+l, evictions+e
		}
	}
	if loads == 0 || evictions == 0 || emitted < 10*cases {
		t.Fatalf("%d lines emitted by %d cases; %d loads, %d evictions", emitted, cases, loads, evictions)
	}
}

func diffLines(want, got []string) string {
	var b strings.Builder
	for _, s := range want {
		if !slices.Contains(got, s) {
			fmt.Fprintf(&b, "  missing    %s\n", s)
		}
	}
	for _, s := range got {
		if !slices.Contains(want, s) {
			fmt.Fprintf(&b, "  unexpected %s\n", s)
		}
	}
	if b.Len() == 0 {
		return fmt.Sprintf("  the same lines, %d vs %d of them (repeated lines differ)", len(want), len(got))
	}
	return b.String()
}

// TestWindowSpillRescale checkpoints spilling subtasks of session windows with early and late
// panes at parallelism 2 (budget 5), restores them into 3 subtasks (budget 20), then into 1
// (budget 0, every access through the store): the output equals an uninterrupted operator's on
// the memory backend, and cold keys' timers (event and processing time) survive both restores.
func TestWindowSpillRescale(t *testing.T) {
	spec := window.Spec{Assigner: window.SessionMillis(60), AllowedLateness: 15, EarlyAfter: 4, LateEveryCount: 1}
	script := winScript(rand.New(rand.NewPCG(3, 3)), 1500, 300)
	script = slices.DeleteFunc(script, func(s wstep) bool { return s.kind == 'c' }) // the test restarts
	want, _ := runWinScript(t, spec, script, 1, -1, false)

	var out []string
	stepNo := 0
	rec := winRec{step: &stepNo, out: &out}
	c := newWinCluster(t, spec, &procClock{now: 1000}, rec, 2, 5, nil)
	stubs := 0
	for i, s := range script {
		stepNo = i
		switch i {
		case len(script) / 3:
			stubs += c.stubs(t)
			c = c.restart(t, 3, 20)
		case 2 * len(script) / 3:
			stubs += c.stubs(t)
			c = c.restart(t, 1, 0)
		}
		c = c.apply(t, s)
		c.checkBudget(t)
	}
	c.checkEmpty(t)
	slices.Sort(out)
	if !slices.Equal(out, want) {
		t.Fatalf("outputs differ\n%s", diffLines(want, out))
	}
	early, late := countLines(out, " EARLY#"), countLines(out, " LATE#")
	t.Logf("%d lines (%d EARLY, %d LATE panes), %d timer stubs", len(out), early, late, stubs)
	if stubs == 0 || early == 0 || late == 0 {
		t.Fatalf("the test needs timer stubs, EARLY and LATE panes: %d, %d, %d", stubs, early, late)
	}
}

// stubs counts the timer stubs a checkpoint of c holds.
func (c *winCluster) stubs(t testing.TB) int {
	parts, _ := c.checkpoint(t)
	n := 0
	for _, p := range parts {
		_ = NewStateReader([]StatePart{p}, 0, DefaultMaxParallelism).Each(func(_ int, rec []byte) error {
			_, m, _ := codec.MustFor[string]().Decode(rec[1:])
			if len(rec) > 1+m && rec[1+m] == 0 {
				n++
			}
			return nil
		})
	}
	return n
}

func countLines(lines []string, sub string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// spillOne is one spilling window operator over a memSpillStore and what it emitted.
type spillOne struct {
	op  *listOp
	st  *memSpillStore
	out *[]string
	clk *procClock
}

func newSpillOne(t testing.TB, spec window.Spec, budget int, st *memSpillStore) *spillOne {
	t.Helper()
	out := new([]string)
	step := 0
	s := &spillOne{st: st, out: out, clk: &procClock{now: 1000}}
	if s.st == nil {
		s.st = newMemSpillStore()
	}
	s.op = newListOp(spec, s.clk, 0, 1, winRec{step: &step, out: out})
	if err := s.op.SetSpill(s.st, budget); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *spillOne) add(k string, ts, v int64) {
	s.op.Collect(ts, Keyed[string, int64]{Key: k, Value: v})
}

// take returns the lines emitted since the last call, without their step.
func (s *spillOne) take() []string {
	var got []string
	for _, l := range *s.out {
		got = append(got, l[7:])
	}
	*s.out = (*s.out)[:0]
	return got
}

func (s *spillOne) expect(t *testing.T, what string, want ...string) {
	t.Helper()
	if got := s.take(); !slices.Equal(got, want) {
		t.Fatalf("%s: emitted %q, want %q", what, got, want)
	}
}

func (s *spillOne) resident(k string) bool {
	slot, ok := s.op.index[k]
	return ok && s.op.spill.IsResident(slot)
}

// restart checkpoints the operator and restores it into a new one with budget over a copy of
// its store.
func (s *spillOne) restart(t *testing.T, budget int) *spillOne {
	t.Helper()
	c := &winCluster{ops: []*listOp{s.op}, stores: []*memSpillStore{s.st}}
	parts, caps := c.checkpoint(t)
	n := newSpillOne(t, s.op.Spec, budget, caps[0])
	n.clk, n.op.T.Clock = s.clk, s.clk
	if err := n.op.RestoreState(NewStateReader(parts, 0, DefaultMaxParallelism)); err != nil {
		t.Fatal(err)
	}
	if s.op.WM != MinTime {
		n.op.Watermark(s.op.WM)
	}
	return n
}

// TestWindowSpillPurgedKeyStartsEmpty: a key evicted, loaded by its timer and purged leaves the
// store; seen again, it starts with no state.
func TestWindowSpillPurgedKeyStartsEmpty(t *testing.T) {
	s := newSpillOne(t, window.NewSpec(window.TumblingMillis(10, 0)), 0, nil)
	s.add("k", 1, 7)
	if s.resident("k") || len(s.st.m) != 1 {
		t.Fatalf("budget 0: resident %v, %d stored", s.resident("k"), len(s.st.m))
	}
	s.op.Watermark(9)
	s.expect(t, "the window end", "k [0, 10) ON_TIME#0 [7]")
	if len(s.st.m) != 0 || s.op.Keys() != 0 || s.op.spill.Loads != 1 {
		t.Fatalf("after the purge: %d stored, %d keys, %d loads", len(s.st.m), s.op.Keys(), s.op.spill.Loads)
	}
	s.add("k", 12, 8)
	s.op.Watermark(19)
	s.expect(t, "the next window", "k [10, 20) ON_TIME#0 [8]")
}

// TestWindowSpillCleanEviction: a key loaded by a timer that changes nothing (a session's timer
// left by a merge) is evicted again without a write.
func TestWindowSpillCleanEviction(t *testing.T) {
	s := newSpillOne(t, window.NewSpec(window.SessionMillis(10)), 0, nil)
	s.add("k", 0, 1) // [0, 10): a timer at 9
	s.add("k", 5, 2) // merged into [0, 15): a timer at 14; the one at 9 is stale
	sp := s.op.spill
	loads, writes := sp.Loads, sp.Writes
	s.op.Watermark(9)
	s.expect(t, "the stale timer")
	if sp.Loads != loads+1 || sp.Writes != writes || s.op.Keys() != 0 {
		t.Fatalf("the stale timer: %d loads, %d writes (want %d, %d), %d keys in memory", sp.Loads, sp.Writes, loads+1, writes, s.op.Keys())
	}
	s.op.Watermark(14)
	s.expect(t, "the merged session", "k [0, 15) ON_TIME#0 [1 2]")
	if len(s.st.m) != 0 {
		t.Fatalf("%d keys stored after the purge", len(s.st.m))
	}
}

// TestWindowSpillRestoreShadowsStaleCopy: a key loaded from the store and changed is hot at the
// checkpoint while the store still holds its older copy; the restored hot record wins, and the
// older copy is deleted when the key's windows are purged.
func TestWindowSpillRestoreShadowsStaleCopy(t *testing.T) {
	s := newSpillOne(t, window.NewSpec(window.TumblingMillis(10, 0)), 1, nil)
	s.add("a", 1, 1)
	s.add("b", 2, 2) // evicts a: [1] stored
	s.add("a", 3, 3) // loads a ([1] stays in the store) and evicts b
	s.add("a", 4, 4)
	if !s.resident("a") || s.resident("b") || len(s.st.m) != 2 {
		t.Fatalf("a resident %v, b resident %v, %d stored", s.resident("a"), s.resident("b"), len(s.st.m))
	}
	r := s.restart(t, 10)
	if !r.resident("a") || r.resident("b") {
		t.Fatalf("restored: a resident %v, b resident %v", r.resident("a"), r.resident("b"))
	}
	r.op.Watermark(9)
	got := r.take()
	slices.Sort(got)
	if want := []string{"a [0, 10) ON_TIME#0 [1 3 4]", "b [0, 10) ON_TIME#0 [2]"}; !slices.Equal(got, want) {
		t.Fatalf("emitted %q, want %q", got, want)
	}
	if len(r.st.m) != 0 {
		t.Fatalf("%d keys stored after the purge", len(r.st.m))
	}
}

// TestWindowSpillTimersDoNotPromote: a window end loads each cold key without making room for
// it: the hot keys stay in memory, and each cold key whose window stays open (allowed lateness)
// goes back to the store with its fired pane, then leaves it when its window is purged.
func TestWindowSpillTimersDoNotPromote(t *testing.T) {
	spec := window.NewSpec(window.TumblingMillis(10, 0))
	spec.AllowedLateness = 5
	s := newSpillOne(t, spec, 2, nil)
	for i := range 10 {
		s.add(fmt.Sprintf("c%d", i), 1, int64(i))
	}
	for range 3 {
		s.add("h1", 12, 0)
		s.add("h2", 12, 0)
	}
	if !s.resident("h1") || !s.resident("h2") {
		t.Fatal("the hot keys are not in memory")
	}
	sp := s.op.spill
	loads, writes := sp.Loads, sp.Writes
	s.op.Watermark(9)
	if n := len(s.take()); n != 10 {
		t.Fatalf("%d panes, want 10", n)
	}
	if !s.resident("h1") || !s.resident("h2") || sp.Resident() != 2 {
		t.Fatalf("after the window end: h1 %v, h2 %v, %d resident", s.resident("h1"), s.resident("h2"), sp.Resident())
	}
	if sp.Loads != loads+10 || sp.Writes != writes+10 || len(s.st.m) != 10 {
		t.Fatalf("%d loads, %d writes (want +10 each), %d stored", sp.Loads-loads, sp.Writes-writes, len(s.st.m))
	}
	s.add("c0", 3, 100) // a late element: the LATE pane shows the fired pane was kept
	s.expect(t, "a late element", "c0 [0, 10) LATE#1 [0 100]")
	s.op.Watermark(14) // purges the c keys; the late element made room for c0 (one h key left)
	for k := range s.st.m {
		if strings.Contains(k, "c") {
			t.Fatalf("key %q stored after its window was purged", k)
		}
	}
	if len(s.st.m)+s.op.Keys() != 2 || s.resident("c0") {
		t.Fatalf("after the purge: %d stored, %d keys in memory, want h1 and h2 only", len(s.st.m), s.op.Keys())
	}
}

// TestWindowSpillEarlyAndLatePanes: a cold key's early (processing-time) and event-time timers
// survive a checkpoint as stubs: after the restore, with every key in the store, its EARLY,
// ON_TIME and LATE panes come as without spilling.
func TestWindowSpillEarlyAndLatePanes(t *testing.T) {
	spec := window.NewSpec(window.SessionMillis(10))
	spec.EarlyAfter, spec.AllowedLateness = 5, 20
	s := newSpillOne(t, spec, 0, nil)
	s.add("k", 100, 1)  // early timer at 1005, session [100, 110)
	s.add("j", 100, 50) // another key, so stubs of two keys share buckets
	s = s.restart(t, 0)
	s.clk.now = 1005
	s.op.ProcTime(1005)
	got := s.take()
	slices.Sort(got)
	if want := []string{"j [100, 110) EARLY#0 [50]", "k [100, 110) EARLY#0 [1]"}; !slices.Equal(got, want) {
		t.Fatalf("early panes: %q, want %q", got, want)
	}
	s.add("k", 105, 2) // merged into [100, 115): a new early timer at 1010
	s = s.restart(t, 0)
	s.clk.now = 1010
	s.op.ProcTime(1010)
	s.expect(t, "the second early pane", "k [100, 115) EARLY#0 [1 2]")
	s.op.Watermark(114)
	got = s.take()
	slices.Sort(got)
	if want := []string{"j [100, 110) ON_TIME#1 [50]", "k [100, 115) ON_TIME#1 [1 2]"}; !slices.Equal(got, want) {
		t.Fatalf("on-time panes: %q, want %q", got, want)
	}
	s = s.restart(t, 0)
	s.add("k", 101, 3) // late, within the allowed lateness
	s.expect(t, "a late element", "k [100, 115) LATE#2 [1 2 3]")
	s = s.restart(t, 0)
	s.op.Watermark(200)
	s.clk.now = 2000
	s.op.ProcTime(2000)
	s.expect(t, "the purge")
	if len(s.st.m) != 0 || s.op.Keys() != 0 {
		t.Fatalf("after the purge: %d stored, %d keys", len(s.st.m), s.op.Keys())
	}
}

// TestWindowSpillSessionMerge: sessions of a cold key merge with a bridging element; the merged
// session holds every element.
func TestWindowSpillSessionMerge(t *testing.T) {
	s := newSpillOne(t, window.NewSpec(window.SessionMillis(10)), 0, nil)
	s.add("k", 0, 1)
	s.add("k", 20, 2)
	if len(s.st.m) != 1 || s.op.Keys() != 0 {
		t.Fatalf("%d stored, %d in memory", len(s.st.m), s.op.Keys())
	}
	s.add("k", 10, 3) // touches [0, 10) and [20, 30)
	s.op.Watermark(100)
	s.expect(t, "the merged session", "k [0, 30) ON_TIME#0 [1 2 3]")
}

// TestWindowTimerStubNeedsSpill: a checkpoint holding timers of evicted keys is refused, with an
// explanation, by an operator on the memory backend.
func TestWindowTimerStubNeedsSpill(t *testing.T) {
	s := newSpillOne(t, window.NewSpec(window.TumblingMillis(10, 0)), 0, nil)
	s.add("k", 1, 1)
	c := &winCluster{ops: []*listOp{s.op}, stores: []*memSpillStore{s.st}}
	parts, _ := c.checkpoint(t)
	mem := newListOp(s.op.Spec, s.clk, 0, 1, winRec{step: new(int), out: new([]string)})
	err := mem.RestoreState(NewStateReader(parts, 0, DefaultMaxParallelism))
	if err == nil || !strings.Contains(err.Error(), "Pebble state backend") {
		t.Fatalf("got %v", err)
	}
}

// TestWindowSetSpillErrors: a negative budget and missing codecs are refused.
func TestWindowSetSpillErrors(t *testing.T) {
	op := newListOp(window.NewSpec(window.TumblingMillis(10, 0)), &procClock{}, 0, 1, winRec{step: new(int), out: new([]string)})
	if err := op.SetSpill(newMemSpillStore(), -1); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Fatalf("negative budget: %v", err)
	}
	op.State.Value = nil
	if err := op.SetSpill(newMemSpillStore(), 1); err == nil || !strings.Contains(err.Error(), "codecs") {
		t.Fatalf("no codec: %v", err)
	}
	if op.SpillStore() != nil {
		t.Fatal("a store was kept")
	}
}

// FuzzSpilledWindowState feeds arbitrary spilled values (what the store returns for a key) and
// checkpoint records (windows, or timer stubs) to a spilling window operator: decoding never
// panics, a value that does not decode leaves no key behind, and what decodes is written back in
// a form that decodes to the same bytes again.
func FuzzSpilledWindowState(f *testing.F) {
	spec := window.Spec{Assigner: window.SessionMillis(10), AllowedLateness: 5, EarlyAfter: 3, LateEveryCount: 1}
	c := newWinCluster(f, spec, &procClock{now: 1000}, winRec{step: new(int), out: new([]string)}, 1, 3, nil)
	for _, s := range winScript(rand.New(rand.NewPCG(1, 1)), 250, 40) {
		if s.kind != 'c' && s.ts != MaxTime {
			c = c.apply(f, s)
		}
	}
	parts, _ := c.checkpoint(f)
	addSpillSeeds(f, c.stores[0], parts)
	f.Fuzz(func(t *testing.T, b []byte, record bool) {
		mk := func() *listOp {
			op := newListOp(spec, &procClock{}, 0, 1, winRec{step: new(int), out: new([]string)})
			if err := op.SetSpill(newMemSpillStore(), 10); err != nil {
				t.Fatal(err)
			}
			return op
		}
		op := mk()
		if record {
			var w StateWriter
			w.Put(0, b)
			_ = op.RestoreState(NewStateReader([]StatePart{{Data: w.Bytes()}}, 0, DefaultMaxParallelism))
		} else if _, err := op.LoadKeyState("k", b); err != nil && op.Keys() != 0 {
			t.Fatalf("a value that does not decode left %d keys", op.Keys())
		}
		for k, slot := range op.index {
			body, empty := op.AppendKeyState(nil, slot)
			if empty {
				continue
			}
			op2 := mk()
			slot2, err := op2.LoadKeyState(k, body)
			if err != nil {
				t.Fatalf("a re-encoded state does not decode: %v\n%x", err, body)
			}
			if again, _ := op2.AppendKeyState(nil, slot2); !bytes.Equal(again, body) {
				t.Fatalf("decoding and encoding changed the state:\n%x\n%x", body, again)
			}
		}
	})
}
