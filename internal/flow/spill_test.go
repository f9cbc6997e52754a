package flow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/state/codec"
)

// memSpillStore is a SpillStore in a Go map, counting its calls.
type memSpillStore struct {
	m                map[string][]byte
	gets, sets, dels int
	failSet          error
	lastKG           map[string]int
}

func newMemSpillStore() *memSpillStore {
	return &memSpillStore{m: map[string][]byte{}, lastKG: map[string]int{}}
}

// clone copies the store, as a checkpoint's capture of it.
func (s *memSpillStore) clone() *memSpillStore {
	c := newMemSpillStore()
	maps.Copy(c.m, s.m)
	maps.Copy(c.lastKG, s.lastKG)
	return c
}

// attachMemSpill gives op stores[i] (a new store when stores is nil) with budget and returns it.
func attachMemSpill(t testing.TB, op Spiller, stores []*memSpillStore, i, budget int) *memSpillStore {
	t.Helper()
	st := newMemSpillStore()
	if stores != nil {
		st = stores[i]
	}
	if err := op.SetSpill(st, budget); err != nil {
		t.Fatal(err)
	}
	return st
}

func (s *memSpillStore) Get(kg int, key, dst []byte) ([]byte, bool, error) {
	s.gets++
	v, ok := s.m[string(key)]
	if ok && s.lastKG[string(key)] != kg {
		return nil, false, fmt.Errorf("key %q stored under key group %d, read under %d", key, s.lastKG[string(key)], kg)
	}
	return append(dst, v...), ok, nil
}

func (s *memSpillStore) Set(kg int, key, value []byte) error {
	if s.failSet != nil {
		return s.failSet
	}
	s.sets++
	s.m[string(key)] = slices.Clone(value)
	s.lastKG[string(key)] = kg
	return nil
}

func (s *memSpillStore) Delete(kg int, key []byte) error {
	s.dels++
	delete(s.m, string(key))
	return nil
}

func (s *memSpillStore) Iterate(kgStart, kgEnd int, f func(kg int, key, value []byte) error) error {
	for k, v := range s.m {
		if kg := s.lastKG[k]; kg >= kgStart && kg < kgEnd {
			if err := f(kg, []byte(k), v); err != nil {
				return err
			}
		}
	}
	return nil
}

// counterOp is a minimal spillable operator: one int64 counter per key (0: no state).
type counterOp struct {
	index map[string]int32
	keys  []string
	vals  []int64
	free  []int32
	cur   int32
	sp    *Spill[string]
}

func newCounterOp(st SpillStore, budget int) *counterOp {
	o := &counterOp{index: map[string]int32{}, cur: -1}
	o.sp = &Spill[string]{Store: st, Budget: budget, Key: codec.MustFor[string](), Hash: HashString}
	return o
}

func (o *counterOp) slotOf(k string) (int32, bool) { s, ok := o.index[k]; return s, ok }

func (o *counterOp) evictable(slot int32) (string, bool) { return o.keys[slot], slot != o.cur }

func (o *counterOp) AppendKeyState(dst []byte, slot int32) ([]byte, bool) {
	if o.vals[slot] == 0 {
		return dst, true
	}
	return binary.AppendVarint(dst, o.vals[slot]), false
}

func (o *counterOp) LoadKeyState(k string, body []byte) (int32, error) {
	slot, ok := o.index[k]
	if !ok {
		slot = o.alloc(k)
	}
	if body != nil {
		v, n := binary.Varint(body)
		if n != len(body) {
			return -1, errors.New("bad body")
		}
		o.vals[slot] = v
	}
	return slot, nil
}

func (o *counterOp) DropSlot(slot int32) { o.free1(slot) }

func (o *counterOp) alloc(k string) int32 {
	var slot int32
	if n := len(o.free); n > 0 {
		slot, o.free = o.free[n-1], o.free[:n-1]
		o.keys[slot] = k
	} else {
		slot = int32(len(o.keys))
		o.keys = append(o.keys, k)
		o.vals = append(o.vals, 0)
	}
	o.index[k] = slot
	return slot
}

func (o *counterOp) free1(slot int32) {
	delete(o.index, o.keys[slot])
	o.keys[slot], o.vals[slot] = "", 0
	o.free = append(o.free, slot)
}

// enter makes k current, loading or creating it.
func (o *counterOp) enter(t testing.TB, k string) int32 {
	slot, ok, err := o.sp.Lookup(o, k, true)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		slot = o.alloc(k)
		o.sp.Added(slot, false)
	}
	o.cur = slot
	return slot
}

// leave ends the access to the current key: a key left at 0 is forgotten.
func (o *counterOp) leave(t testing.TB, dirty bool) {
	slot := o.cur
	o.cur = -1
	if o.vals[slot] == 0 {
		if err := o.sp.Forget(o.keys[slot], slot); err != nil {
			t.Fatal(err)
		}
		o.free1(slot)
	} else if dirty {
		o.sp.Dirty(slot)
	}
	if err := o.sp.MaybeEvict(o); err != nil {
		t.Fatal(err)
	}
}

func (o *counterOp) add(t testing.TB, k string, d int64) {
	slot := o.enter(t, k)
	o.vals[slot] += d
	o.leave(t, d != 0)
}

func (o *counterOp) get(t testing.TB, k string) int64 {
	slot := o.enter(t, k)
	v := o.vals[slot]
	o.leave(t, false)
	return v
}

func TestSpillBudget(t *testing.T) {
	st := newMemSpillStore()
	o := newCounterOp(st, 10)
	for i := range 100 {
		o.add(t, fmt.Sprint("k", i), int64(i+1))
		if r := o.sp.Resident(); r > 10 {
			t.Fatalf("after %d keys: %d resident, budget 10", i+1, r)
		}
	}
	if len(o.index) > 10 {
		t.Fatalf("%d keys in memory", len(o.index))
	}
	for i := range 100 {
		if got := o.get(t, fmt.Sprint("k", i)); got != int64(i+1) {
			t.Fatalf("k%d = %d, want %d", i, got, i+1)
		}
	}
}

// TestSpillClockKeepsHotKeys checks the second chance: a key touched between every two other
// keys stays in memory while cold keys cycle through the budget.
func TestSpillClockKeepsHotKeys(t *testing.T) {
	st := newMemSpillStore()
	o := newCounterOp(st, 8)
	o.add(t, "hot", 1)
	for i := range 200 {
		o.add(t, fmt.Sprint("cold", i), 1)
		o.add(t, "hot", 1)
	}
	if slot, ok := o.index["hot"]; !ok || !o.sp.IsResident(slot) {
		t.Fatal("the hot key was evicted")
	}
	if got := o.get(t, "hot"); got != 201 {
		t.Fatalf("hot = %d", got)
	}
	// The hot key was never written: it never left memory.
	if _, ok := st.m[string(codec.MustFor[string]().Append(nil, "hot"))]; ok {
		t.Fatal("the hot key was written to the store")
	}
}

// TestSpillCleanEviction checks invariant 1: loading does not delete the stored copy, and
// evicting a key unchanged since it was loaded writes nothing.
func TestSpillCleanEviction(t *testing.T) {
	st := newMemSpillStore()
	o := newCounterOp(st, 0)
	o.add(t, "a", 5) // budget 0: written at once
	if st.sets != 1 || o.sp.Resident() != 0 {
		t.Fatalf("sets %d, resident %d", st.sets, o.sp.Resident())
	}
	for range 5 {
		if got := o.get(t, "a"); got != 5 {
			t.Fatalf("a = %d", got)
		}
	}
	if st.sets != 1 || st.dels != 0 || o.sp.Loads != 5 || o.sp.Evictions != 6 {
		t.Fatalf("sets %d, deletes %d, loads %d, evictions %d: clean evictions must write nothing",
			st.sets, st.dels, o.sp.Loads, o.sp.Evictions)
	}
	o.add(t, "a", 1)
	if st.sets != 2 {
		t.Fatalf("a dirty eviction did not write (sets %d)", st.sets)
	}
}

// TestSpillPurgedKeyStartsEmpty checks invariant 2: a key evicted, loaded, purged, then seen
// again starts empty.
func TestSpillPurgedKeyStartsEmpty(t *testing.T) {
	st := newMemSpillStore()
	o := newCounterOp(st, 1)
	o.add(t, "a", 3)
	o.add(t, "b", 1)
	o.add(t, "c", 1) // "a" is evicted
	if len(st.m) == 0 {
		t.Fatal("nothing was evicted")
	}
	o.add(t, "a", -3) // loaded, and its state ends
	if got := o.get(t, "a"); got != 0 {
		t.Fatalf("a purged key came back with %d", got)
	}
	if _, ok := st.m[string(codec.MustFor[string]().Append(nil, "a"))]; ok {
		t.Fatal("the purged key is still stored")
	}
}

// TestSpillRestoredKeyShadowsStore checks invariant 3: a key restored into memory shadows a
// stale copy in the store, and its eviction replaces the copy.
func TestSpillRestoredKeyShadowsStore(t *testing.T) {
	st := newMemSpillStore()
	key := string(codec.MustFor[string]().Append(nil, "a"))
	st.m[key] = binary.AppendVarint(nil, 1) // stale
	st.lastKG[key] = KeyGroup(HashString("a"), DefaultMaxParallelism)
	o := newCounterOp(st, 5)
	slot := o.alloc("a")
	o.vals[slot] = 7
	o.sp.Added(slot, true) // restored hot
	if got := o.get(t, "a"); got != 7 {
		t.Fatalf("a = %d, want the restored 7", got)
	}
	if st.gets != 0 {
		t.Fatal("a resident key was read from the store")
	}
	if err := o.sp.EvictKey(o, slot); err != nil {
		t.Fatal(err)
	}
	if v, _ := binary.Varint(st.m[key]); v != 7 {
		t.Fatalf("stored %d after the eviction, want 7", v)
	}
	// A restored key whose state then ends deletes the stale copy.
	st.m[key] = binary.AppendVarint(nil, 1)
	slot = o.alloc("a")
	o.vals[slot] = 2
	o.sp.Added(slot, true)
	o.add(t, "a", -2)
	if _, ok := st.m[key]; ok {
		t.Fatal("the stale copy survived the end of the key's state")
	}
}

// TestSpillNeverEvictsCurrent checks invariant 4.
func TestSpillNeverEvictsCurrent(t *testing.T) {
	o := newCounterOp(newMemSpillStore(), 0)
	slot := o.enter(t, "a")
	o.vals[slot] = 1
	if err := o.sp.MaybeEvict(o); err != nil {
		t.Fatal(err)
	}
	if !o.sp.IsResident(slot) || o.index["a"] != slot {
		t.Fatal("the current key was evicted")
	}
	o.leave(t, true)
	if o.sp.Resident() != 0 {
		t.Fatal("the key was not evicted after the access")
	}
}

func TestSpillEvictionError(t *testing.T) {
	st := newMemSpillStore()
	o := newCounterOp(st, 0)
	st.failSet = errors.New("disk full")
	slot := o.enter(t, "a")
	o.vals[slot] = 1
	o.cur = -1
	o.sp.Touch(slot, true)
	err := o.sp.MaybeEvict(o)
	if err == nil || !errors.Is(err, st.failSet) {
		t.Fatalf("got %v", err)
	}
	if !o.sp.IsResident(slot) || o.vals[slot] != 1 {
		t.Fatal("a failed eviction lost the key")
	}
}

// TestSpillModel runs random updates under several budgets against a plain map.
func TestSpillModel(t *testing.T) {
	for _, budget := range []int{0, 1, 7, 50, 1000} {
		t.Run(fmt.Sprint("budget", budget), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(budget), 1))
			st := newMemSpillStore()
			o := newCounterOp(st, budget)
			model := map[string]int64{}
			for range 5000 {
				k := fmt.Sprint("k", rng.IntN(200))
				switch rng.IntN(4) {
				case 0: // end the key's state
					o.add(t, k, -model[k])
					delete(model, k)
				case 1:
					if got := o.get(t, k); got != model[k] {
						t.Fatalf("%s = %d, want %d", k, got, model[k])
					}
				default:
					d := int64(rng.IntN(5) + 1)
					o.add(t, k, d)
					model[k] += d
				}
				if r := o.sp.Resident(); r > budget {
					t.Fatalf("%d resident, budget %d", r, budget)
				}
			}
			for k, v := range model {
				if got := o.get(t, k); got != v {
					t.Fatalf("%s = %d, want %d", k, got, v)
				}
			}
			// Every stored key is live, or shadowed by memory.
			for key := range st.m {
				k, _, err := codec.MustFor[string]().Decode([]byte(key))
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := model[k]; !ok {
					t.Fatalf("%s is stored but has no state", k)
				}
			}
		})
	}
}

// TestSpillEmptyStoreSkipsGets checks that new keys cost no Get while nothing was ever evicted to
// a store that started empty.
func TestSpillEmptyStoreSkipsGets(t *testing.T) {
	st := newMemSpillStore()
	empty, err := StoreEmpty(st)
	if err != nil || !empty {
		t.Fatalf("StoreEmpty = %v, %v", empty, err)
	}
	o := newCounterOp(st, 5)
	o.sp.Empty = true
	for i := range 5 {
		o.add(t, fmt.Sprint("k", i), 1)
	}
	if st.gets != 0 {
		t.Fatalf("%d Gets before anything was stored", st.gets)
	}
	for i := range 20 {
		o.add(t, fmt.Sprint("k", i), 1)
	}
	if st.gets == 0 || o.sp.Empty {
		t.Fatal("keys are looked up in the store once it holds some")
	}
	for i := range 20 {
		want := int64(1)
		if i < 5 {
			want = 2
		}
		if got := o.get(t, fmt.Sprint("k", i)); got != want {
			t.Fatalf("k%d = %d, want %d", i, got, want)
		}
	}
	if empty, _ := StoreEmpty(st); empty {
		t.Fatal("StoreEmpty of a store with keys")
	}
}
