package flow

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/state/codec"
)

// spillCluster is a cluster whose subtasks spill to a memSpillStore each.
type spillCluster struct {
	*cluster
	stores []*memSpillStore
	budget int
}

// newSpillCluster makes par subtasks over stores (nil: empty ones).
func newSpillCluster(t testing.TB, clk *procClock, par, budget int, stores ...*memSpillStore) *spillCluster {
	t.Helper()
	c := &spillCluster{cluster: newCluster(t, clk, par, false), budget: budget}
	for i, op := range c.ops {
		c.stores = append(c.stores, attachMemSpill(t, op, stores, i, budget))
	}
	return c
}

// checkpoint snapshots the hot keys and copies the stores (the capture).
func (c *spillCluster) checkpoint(t testing.TB) ([]StatePart, []*memSpillStore) {
	parts := c.snapshot(t)
	var caps []*memSpillStore
	for _, st := range c.stores {
		caps = append(caps, st.clone())
	}
	return parts, caps
}

// restoreSpill builds par subtasks from a checkpoint: each store holds the captured entries of
// its key groups (as pebble.RestoreRange), then the hot records are restored.
func restoreSpill(t testing.TB, clk *procClock, parts []StatePart, caps []*memSpillStore, par, budget int) *spillCluster {
	t.Helper()
	c := newSpillCluster(t, clk, par, budget, splitStores(t, caps, par)...)
	for i, op := range c.ops {
		start, end := KeyGroupRange(DefaultMaxParallelism, par, i)
		if err := op.RestoreState(NewStateReader(parts, start, end)); err != nil {
			t.Fatal(err)
		}
		if r := op.Spill().Resident(); r > budget {
			t.Fatalf("subtask %d: %d keys resident after the restore, budget %d", i, r, budget)
		}
	}
	return c
}

func (c *spillCluster) checkBudget(t testing.TB) {
	t.Helper()
	for i, op := range c.ops {
		if r := op.Spill().Resident(); r > c.budget {
			t.Fatalf("subtask %d: %d keys resident, budget %d", i, r, c.budget)
		}
	}
}

// TestProcessSpillMatchesMemory runs the snapshot script (value, map and list state, event- and
// processing-time timers that clear state) on the memory backend and with spilling at several
// budgets: the outputs must be identical.
func TestProcessSpillMatchesMemory(t *testing.T) {
	steps := snapSteps(3000, 250)
	ref := newCluster(t, &procClock{}, 1, false)
	ref.run(steps)
	ref.end()
	want := ref.outs[0].records()
	for _, budget := range []int{0, 1, 10, 100, 1000} {
		t.Run(fmt.Sprint("budget", budget), func(t *testing.T) {
			c := newSpillCluster(t, &procClock{}, 1, budget)
			for i := 0; i < len(steps); i += 100 {
				c.run(steps[i:min(i+100, len(steps))])
				c.checkBudget(t)
			}
			c.end()
			got := c.outs[0].records()
			if !slices.Equal(got, want) {
				t.Fatalf("%d records, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
			}
			sp := c.ops[0].Spill()
			if budget < 250 && (sp.Evictions == 0 || sp.Loads == 0) {
				t.Fatalf("nothing spilled: %d evictions, %d loads", sp.Evictions, sp.Loads)
			}
			if budget >= 1000 && sp.Evictions != 0 {
				t.Fatalf("%d evictions within the budget", sp.Evictions)
			}
			// Keys left at the end hold state; every stored key is one of them.
			live := map[string]bool{}
			for k := range ref.ops[0].State.index {
				live[k] = true
			}
			for key := range c.stores[0].m {
				k, _, _ := c.ops[0].KeyCodec.Decode([]byte(key))
				if !live[k] {
					t.Fatalf("key %s is stored but has no state in the reference", k)
				}
			}
		})
	}
}

func firstDiff[T comparable](a, b []T) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestProcessSpillRestoreRescale takes checkpoints of spilling subtasks (hot records plus their
// stores), restores them into 3 subtasks, then into 1, with budgets that differ: each key's
// output equals an operator's that never restarted and never spilled.
func TestProcessSpillRestoreRescale(t *testing.T) {
	steps := snapSteps(3000, 300)
	cut1, cut2 := len(steps)/3, 2*len(steps)/3
	ref := newCluster(t, &procClock{}, 1, false)
	ref.run(steps)
	ref.end()
	want := ref.byKey(nil)

	clk := &procClock{}
	a := newSpillCluster(t, clk, 2, 5)
	a.run(steps[:cut1])
	got := a.byKey(nil)
	parts, caps := a.checkpoint(t)
	b := restoreSpill(t, clk, parts, caps, 3, 20)
	b.run(steps[cut1:cut2])
	for k, rs := range b.byKey(nil) {
		got[k] = append(got[k], rs...)
	}
	parts, caps = b.checkpoint(t)
	c := restoreSpill(t, clk, parts, caps, 1, 0)
	c.run(steps[cut2:])
	c.end()
	for k, rs := range c.byKey(nil) {
		got[k] = append(got[k], rs...)
	}
	if len(got) != len(want) {
		t.Fatalf("%d keys in the output, want %d", len(got), len(want))
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Fatalf("key %s:\n got %q\nwant %q", k, got[k], w)
		}
	}
}

// TestProcessSpilledCheckpointNeedsSpill checks that hot records that point into a spill store
// are refused, with an explanation, by an operator without one.
func TestProcessSpilledCheckpointNeedsSpill(t *testing.T) {
	clk := &procClock{}
	a := newSpillCluster(t, clk, 1, 0)
	a.run(snapSteps(200, 50))
	parts, _ := a.checkpoint(t)
	b := newCluster(t, clk, 1, false)
	err := b.ops[0].RestoreState(NewStateReader(parts, 0, DefaultMaxParallelism))
	if err == nil || !strings.Contains(err.Error(), "Pebble state backend") {
		t.Fatalf("got %v", err)
	}
}

// TestProcessSpillTTL runs the TTL scripts with every key evicted after each element: expired
// entries are dropped when a key is loaded, and keys whose entries all expired leave the store.
func TestProcessSpillTTL(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refresh bool
		steps   []ttlStep
	}{{"OnCreateAndWrite", false, ttlCreateWriteSteps}, {"OnReadAndWrite", true, ttlReadWriteSteps}} {
		t.Run(tc.name, func(t *testing.T) {
			op, out, clk := ttlOp(t, tc.refresh)
			st := newMemSpillStore()
			if err := op.SetSpill(st, 0); err != nil {
				t.Fatal(err)
			}
			runTTL(t, op, out, clk, tc.steps)
			if op.Spill().Loads == 0 {
				t.Fatal("nothing was loaded")
			}
			if !tc.refresh && (len(st.m) != 0 || op.State.Keys() != 0) {
				t.Fatalf("%d keys stored, %d in memory: expired state must not hold keys", len(st.m), op.State.Keys())
			}
		})
	}
}

// TestProcessSpillTimerLoad checks that a timer of an evicted key loads it without keeping
// it (timers do not promote), and that a key whose state ends in a timer leaves the store.
func TestProcessSpillTimerLoad(t *testing.T) {
	op, out, _ := newProcOp[int64, string]()
	op.KeyCodec = codec.MustFor[string]()
	v := NewValueState[int64](&op.State.StateScope, "v")
	v.SetCodec(codec.MustFor[int64](), nil)
	op.State.Seal()
	op.Element = func(x int64) error {
		v.Update(x)
		op.RegisterEventTimer(op.Timestamp() + 10)
		return nil
	}
	op.Timer = func(ts int64) error {
		x, _ := v.Value()
		op.Emit(ts, fmt.Sprintf("%s=%d", op.Key(), x))
		v.Clear()
		return nil
	}
	st := newMemSpillStore()
	if err := op.SetSpill(st, 2); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		op.Collect(int64(i), el(fmt.Sprint("k", i), int64(i)))
	}
	if len(st.m) < 17 || op.Spill().Resident() > 2 {
		t.Fatalf("%d stored, %d resident", len(st.m), op.Spill().Resident())
	}
	op.Watermark(100)
	rs := out.records()
	if len(rs) != 20 {
		t.Fatalf("%d timer outputs, want 20", len(rs))
	}
	for i, r := range rs {
		if want := fmt.Sprintf("k%d=%d", i, i); r.v != want {
			t.Fatalf("output %d: %q, want %q", i, r.v, want)
		}
	}
	if len(st.m) != 0 || op.State.Keys() != 0 || op.Spill().Resident() != 0 {
		t.Fatalf("after every state ended: %d stored, %d keys, %d resident", len(st.m), op.State.Keys(), op.Spill().Resident())
	}
}

// FuzzSpilledKeyState feeds arbitrary spilled values (what the spill store returns for a key)
// and hot records to the keyed process operator: decoding never panics, and what decodes is
// written back in a form that decodes again.
func FuzzSpilledKeyState(f *testing.F) {
	c := newSpillCluster(f, &procClock{}, 1, 0)
	c.run(snapSteps(300, 40))
	parts, _ := c.checkpoint(f)
	addSpillSeeds(f, c.stores[0], parts)
	f.Add(appendSpilledMarker(codec.MustFor[string]().Append(nil, "k")), true)
	f.Fuzz(func(t *testing.T, b []byte, record bool) {
		op, _ := newSnapOp(t, &procClock{}, 0, 1, false)
		if err := op.SetSpill(newMemSpillStore(), 10); err != nil {
			t.Fatal(err)
		}
		var slot int32
		if record {
			var w StateWriter
			w.Put(0, b)
			if err := op.RestoreState(NewStateReader([]StatePart{{Data: w.Bytes()}}, 0, DefaultMaxParallelism)); err != nil {
				return
			}
			if len(op.State.index) != 1 {
				return // the key's state had expired, or it holds timers only
			}
			for _, s := range op.State.index {
				slot = s
			}
		} else {
			var err error
			if slot, err = op.State.LoadKeyState("k", b); err != nil {
				return
			}
		}
		if !op.Spill().IsResident(slot) && record {
			return // a stub: its states are in the store
		}
		body, empty := op.State.AppendKeyState(nil, slot)
		if empty {
			return
		}
		op2, _ := newSnapOp(t, &procClock{}, 0, 1, false)
		if err := op2.SetSpill(newMemSpillStore(), 10); err != nil {
			t.Fatal(err)
		}
		if _, err := op2.State.LoadKeyState("k", body); err != nil {
			t.Fatalf("a re-encoded state does not decode: %v\n%x", err, body)
		}
	})
}

// addSpillSeeds adds a store's values (record false) and a checkpoint's records (record true) to
// a fuzz corpus.
func addSpillSeeds(f *testing.F, st *memSpillStore, parts []StatePart) {
	for _, v := range st.m {
		f.Add(v, false)
	}
	_ = NewStateReader(parts, 0, DefaultMaxParallelism).Each(func(_ int, rec []byte) error {
		f.Add(slices.Clone(rec), true)
		return nil
	})
}
