package flow

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// rollCluster runs the rolling operator as par subtasks, each owning a key-group range, with a
// spill store each (budget >= 0) or the memory backend (budget < 0).
type rollCluster struct {
	ops     []*RollingOp[string, txn, float64]
	stores  []*memSpillStore
	budget  int
	traffic [4]int64 // loads, evictions, writes, deletes of this cluster's and earlier subtasks
}

// addTraffic adds the spill traffic of the subtasks to c.traffic.
func (c *rollCluster) addTraffic() {
	for _, op := range c.ops {
		if sp := op.Spill(); sp != nil {
			c.traffic[0] += sp.Loads
			c.traffic[1] += sp.Evictions
			c.traffic[2] += sp.Writes
			c.traffic[3] += sp.Deletes
		}
	}
}

func newRollCluster(t testing.TB, par, budget int, rng int64, newStore func() RollingStore[txn, float64],
	rec rollRecorder, stores []*memSpillStore) *rollCluster {
	t.Helper()
	c := &rollCluster{budget: budget}
	for i := range par {
		op := &RollingOp[string, txn, float64]{Name: "r", T: NewTask("t", i, par), Range: rng, Store: newStore(),
			Out: rec, Late: rollLateRecorder{rec: rec}, State: rollCodecs}
		op.Init()
		if budget >= 0 {
			c.stores = append(c.stores, attachMemSpill(t, op, stores, i, budget))
		}
		c.ops = append(c.ops, op)
	}
	return c
}

// owner is the subtask owning key's key group.
func (c *rollCluster) owner(key string) *RollingOp[string, txn, float64] {
	kg := KeyGroup(HashString(key), DefaultMaxParallelism)
	for i, op := range c.ops {
		if start, end := KeyGroupRange(DefaultMaxParallelism, len(c.ops), i); kg >= start && kg < end {
			return op
		}
	}
	panic("no owner")
}

func (c *rollCluster) step(t testing.TB, s rollStep) {
	t.Helper()
	if !s.isWM {
		c.owner(s.key).Collect(s.ts, Keyed[string, txn]{Key: s.key, Value: s.e})
		return
	}
	for i, op := range c.ops {
		op.Watermark(s.ts)
		if sp := op.Spill(); sp != nil && sp.Resident() > c.budget {
			t.Fatalf("subtask %d: %d keys resident after a watermark, budget %d", i, sp.Resident(), c.budget)
		}
	}
}

// rescale checkpoints the subtasks (hot records, and copies of the stores as captures) and
// restores them as par subtasks: each new store holds the captured entries of its key groups,
// as pebble.RestoreRange builds it, then the hot records are restored and the watermark set.
func (c *rollCluster) rescale(t testing.TB, par int, rng int64, newStore func() RollingStore[txn, float64], rec rollRecorder) *rollCluster {
	t.Helper()
	var parts []StatePart
	for _, op := range c.ops {
		parts = append(parts, snapshotPart(t, op))
	}
	var stores []*memSpillStore
	if c.budget >= 0 {
		for i := range par {
			st := newMemSpillStore()
			start, end := KeyGroupRange(DefaultMaxParallelism, par, i)
			for _, old := range c.stores {
				if err := old.Iterate(start, end, st.Set); err != nil {
					t.Fatal(err)
				}
			}
			stores = append(stores, st)
		}
	}
	wm := c.ops[0].WM
	n := newRollCluster(t, par, c.budget, rng, newStore, rec, stores)
	c.addTraffic()
	n.traffic = c.traffic
	for i, op := range n.ops {
		start, end := KeyGroupRange(DefaultMaxParallelism, par, i)
		if err := op.RestoreState(NewStateReader(parts, start, end)); err != nil {
			t.Fatal(err)
		}
		if sp := op.Spill(); sp != nil && sp.Resident() > c.budget {
			t.Fatalf("subtask %d: %d keys resident after the restore, budget %d", i, sp.Resident(), c.budget)
		}
		if wm != MinTime {
			op.Watermark(wm)
		}
	}
	return n
}

// spillRollScript is a random rolling script over nkeys keys.
func spillRollScript(r *rand.Rand, n, nkeys int) []rollStep {
	s := randomRollScript(r, n)
	for i := range s[:len(s)-1] { // the last element, late, keeps its key
		if !s[i].isWM && !s[i].restore {
			s[i].key = "k" + strconv.Itoa(r.IntN(nkeys))
		}
	}
	return s
}

// runRollCluster runs script on a cluster that starts with 2 subtasks and rescales at each
// restore step to 3, 1, 2, 3 … subtasks; it returns the outputs and the final cluster.
func runRollCluster(t testing.TB, script []rollStep, rng int64, newStore func() RollingStore[txn, float64], budget int) ([]rollOut, *rollCluster) {
	t.Helper()
	var out []rollOut
	stepNo := 0
	rec := rollRecorder{step: &stepNo, out: &out}
	c := newRollCluster(t, 2, budget, rng, newStore, rec, nil)
	pars := []int{3, 1, 2}
	restores := 0
	for i, s := range script {
		stepNo = i
		if s.restore {
			c = c.rescale(t, pars[restores%len(pars)], rng, newStore, rec)
			restores++
			continue
		}
		c.step(t, s)
	}
	slices.SortFunc(out, cmpRollOut)
	return out, c
}

// TestRollingSpillMatchesMemory runs random scripts over many keys for every aggregate, with
// spill budgets that keep no key, one, a few or all keys in memory, through checkpoints that
// rescale 2 → 3 → 1 → 2 subtasks: the outputs must equal the oracle's (which the memory
// backend matches, TestRollingOpOracle), and after the final watermark nothing is left, in
// memory or in the stores.
func TestRollingSpillMatchesMemory(t *testing.T) {
	cases := 60
	if testing.Short() {
		cases = 12
	}
	for _, k := range rollKinds {
		for _, budget := range []int{0, 1, 10, 1000} {
			t.Run(fmt.Sprintf("%s/budget%d", k.name, budget), func(t *testing.T) {
				var traffic [4]int64
				for c := range cases {
					r := rand.New(rand.NewPCG(uint64(c), 11))
					rng := 1 + r.Int64N(60)
					script := spillRollScript(r, 100+r.IntN(300), 10+r.IntN(60))
					want := rollOracle(script, rng, k.oracle)
					got, cl := runRollCluster(t, script, rng, k.new, budget)
					if !rollEqual(got, want, k.exact) {
						t.Fatalf("case %d (range %d): outputs differ\n got %v\nwant %v", c, rng, got, want)
					}
					for i, op := range cl.ops {
						if op.Keys() != 0 || op.Pending() != 0 || op.ColdKeys() != 0 || len(cl.stores[i].m) != 0 {
							t.Fatalf("case %d, subtask %d: state left after the final watermark: %d keys, %d pending, %d cold timers, %d stored",
								c, i, op.Keys(), op.Pending(), op.ColdKeys(), len(cl.stores[i].m))
						}
					}
					cl.addTraffic()
					for i, n := range cl.traffic {
						traffic[i] += n
					}
				}
				loads, evictions, writes, deletes := traffic[0], traffic[1], traffic[2], traffic[3]
				if budget <= 10 && (loads == 0 || evictions == 0 || writes == 0 || deletes == 0) {
					t.Fatalf("little spilled: %d loads, %d evictions, %d writes, %d deletes", loads, evictions, writes, deletes)
				}
				if budget >= 1000 && evictions != 0 {
					t.Fatalf("%d evictions within the budget", evictions)
				}
			})
		}
	}
}

// TestRollingSpillEvictionCycle follows one key at budget 0: each watermark evicts it (a write
// when it changed), the next element loads it, a cold expiry timer that comes after a newer
// element only evicts it again (no write), and the last one drops it and deletes its copy.
func TestRollingSpillEvictionCycle(t *testing.T) {
	var out []rollOut
	stepNo := 0
	rec := rollRecorder{step: &stepNo, out: &out}
	st := newMemSpillStore()
	c := newRollCluster(t, 1, 0, 100, floats(RollingSum(val)), rec, []*memSpillStore{st})
	op := c.ops[0]
	in := func(ts int64, v int64) { op.Collect(ts, Keyed[string, txn]{Key: "a", Value: txn{V: v}}) }
	in(10, 1)
	op.Watermark(10)
	if op.Keys() != 0 || st.sets != 1 || len(st.m) != 1 || op.ColdKeys() != 1 {
		t.Fatalf("after the first watermark: %d keys resident, %d sets, %d stored, %d cold timers", op.Keys(), st.sets, len(st.m), op.ColdKeys())
	}
	in(50, 2)
	op.Watermark(50)
	if st.gets != 1 || st.sets != 2 || op.ColdKeys() != 2 {
		t.Fatalf("after the second element: %d gets, %d sets, %d cold timers", st.gets, st.sets, op.ColdKeys())
	}
	op.Watermark(109) // the first element's expiry: the key is loaded and evicted unchanged
	if st.gets != 2 || st.sets != 2 || len(st.m) != 1 || op.ColdKeys() != 1 {
		t.Fatalf("after a stale cold timer: %d gets, %d sets, %d stored, %d cold timers", st.gets, st.sets, len(st.m), op.ColdKeys())
	}
	in(120, 4) // (20, 120]: the elements at 50 and 120
	op.Watermark(148)
	op.Watermark(219) // the newest element's expiry
	if len(st.m) != 0 || st.dels != 1 || op.Keys() != 0 || op.ColdKeys() != 0 {
		t.Fatalf("after the expiry: %d stored, %d deletes, %d keys, %d cold timers", len(st.m), st.dels, op.Keys(), op.ColdKeys())
	}
	in(300, 8) // starts empty
	op.Watermark(MaxTime)
	want := []float64{1, 3, 6, 8}
	var got []float64
	for _, o := range out {
		got = append(got, o.Value)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("results %v, want %v", got, want)
	}
}

// TestRollingSpillCorruptStore checks that a spill store holding a damaged value makes SetSpill
// (the restore of the cold keys' timers) or the key's load fail with an error, not a panic.
func TestRollingSpillCorruptStore(t *testing.T) {
	kgOf := func(k string) int { return KeyGroup(HashString(k), DefaultMaxParallelism) }
	for name, value := range map[string][]byte{"no expiry": {}, "bad state": {0x02, 0xff}} {
		t.Run(name, func(t *testing.T) {
			st := newMemSpillStore()
			if err := st.Set(kgOf("a"), stringCodec{}.Append(nil, "a"), value); err != nil {
				t.Fatal(err)
			}
			op := &RollingOp[string, txn, float64]{Name: "r", T: NewTask("t", 0, 1), Range: 10, Store: floats(RollingSum(val))(),
				Out: Discard[Rolled[string, txn, float64]]{}, Late: Discard[LateElement[string, txn]]{}, State: rollCodecs}
			op.Init()
			err := op.SetSpill(st, 0)
			if err == nil {
				_, _, err = op.spill.Lookup(op, "a", true)
			}
			if err == nil {
				t.Fatal("a damaged spilled value was accepted")
			}
		})
	}
}

// FuzzRollingSpilledState feeds arbitrary spilled values to every rolling store: loading must
// fail cleanly or give a state that encodes, loads and encodes again to the same bytes.
func FuzzRollingSpilledState(f *testing.F) {
	for _, k := range rollKinds {
		op := newSpillFuzzOp(k.new)
		slot := op.open("a", op.tab.hash("a"))
		op.Store.Add(slot, 5, txn{V: 3})
		op.Store.Add(slot, 7, txn{V: -2})
		v, _ := op.AppendKeyState(nil, slot)
		f.Add(v)
	}
	f.Add([]byte{})
	f.Add([]byte{0x10, 0x01})
	f.Fuzz(func(t *testing.T, value []byte) {
		for _, k := range rollKinds {
			op := newSpillFuzzOp(k.new)
			slot, err := op.LoadKeyState("a", value)
			if err != nil {
				if op.Keys() != 0 {
					t.Fatalf("%s: a failed load left %d keys", k.name, op.Keys())
				}
				continue
			}
			enc, empty := op.AppendKeyState(nil, slot)
			if empty {
				t.Fatalf("%s: a loaded state is empty", k.name)
			}
			op2 := newSpillFuzzOp(k.new)
			slot2, err := op2.LoadKeyState("a", enc)
			if err != nil {
				t.Fatalf("%s: its own encoding does not load: %v", k.name, err)
			}
			if enc2, _ := op2.AppendKeyState(nil, slot2); !bytes.Equal(enc, enc2) {
				t.Fatalf("%s: encodings differ after a round trip:\n%x\n%x", k.name, enc, enc2)
			}
		}
	})
}

func newSpillFuzzOp(newStore func() RollingStore[txn, float64]) *RollingOp[string, txn, float64] {
	op := &RollingOp[string, txn, float64]{Name: "r", T: NewTask("t", 0, 1), Range: 10, Store: newStore(),
		Out: Discard[Rolled[string, txn, float64]]{}, Late: Discard[LateElement[string, txn]]{}, State: rollCodecs}
	op.Init()
	op.spill = &rollSpill[string]{}
	return op
}
