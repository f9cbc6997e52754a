package flow

import (
	"encoding/binary"
	"fmt"
)

// The sliced window operator with a spill store (docs/state-backends.md, section 3).
//
// SliceWindowOp implements the operator side of Spill: a key's spilled value is its snapshot
// record without the key (appendKeyBody: its armed wake, its slices, its late panes), so
// eviction, loading and checkpoints share one encoding. An element of a key that is not in
// memory loads it (Lookup with promote); new keys are added without their reference bit;
// MaybeEvict runs after each record and after each bucket of wakes.
//
// Timers. A resident key's wake is a slot timer (SliceWindowOp.wakes), as with the memory
// backend. Evicting a key frees its slot (the slot timer goes stale: slots are checked against
// their own armed wake), so its wake moves to cold, a queue of (time, key) kept in memory: an
// evicted key costs its key and a share of a time bucket there, not its slot (a tumbling window
// ending at one instant for every key is one bucket). When a cold wake is due, the key is loaded
// without promotion (Lookup with promote=false), its wake runs, and the key goes back to the
// store when over budget, or leaves it (Forget) when its state ended. A key loaded by an element
// keeps its pending cold wake: coldAt remembers it per slot, so an eviction that finds the
// same wake armed queues nothing new.
//
// Checkpoints write the hot keys' records as with the memory backend, plus one record per cold
// wake of a key not in memory: formatSlicedWake, the key, the time (varint). A restore re-queues
// them, so the cold keys' timers survive without reading the store; the store itself is the
// checkpoint's Pebble part, captured at the same barrier. The memory backend refuses such
// records. Cost: a checkpoint writes O(cold keys) small records, encoded at the barrier (the hot
// records are encoded off the task goroutine, SnapshotAsync).

// formatSlicedWake starts the record of a cold key's pending wake.
const formatSlicedWake byte = 's'

// noCold is a coldAt entry of a key with no pending cold wake.
const noCold = MinTime

// sliceSpill is the spill state of a SliceWindowOp.
type sliceSpill[K comparable] struct {
	Spill[K]
	cold   TimerQueue[K] // wakes of evicted keys
	coldAt []int64       // per resident slot: the time of the key's pending cold wake, or noCold
}

// added records a key whose state was created in memory (new, or restored: inStore).
func (s *sliceSpill[K]) added(slot int32, inStore bool) {
	s.setColdAt(slot, noCold)
	s.Added(slot, inStore)
}

func (s *sliceSpill[K]) setColdAt(slot int32, t int64) {
	s.coldAt = growTo(s.coldAt, slot)
	s.coldAt[slot] = t
}

// SetSpill implements Spiller: at most budget keys stay in memory between records, the others
// go to st. Call it after Init and before RestoreState.
func (o *SliceWindowOp[K, In, Acc]) SetSpill(st SpillStore, budget int) error {
	switch {
	case o.State.Err != nil:
		return fmt.Errorf("spilling window state: %w", o.State.Err)
	case o.State.Key == nil || o.State.Value == nil || o.State.Hash == nil:
		return fmt.Errorf("operator %q: spilling window state needs codecs for its keys and accumulators", o.Name)
	case budget < 0:
		return fmt.Errorf("operator %q: the key budget %d is negative", o.Name, budget)
	}
	empty, err := StoreEmpty(st)
	if err != nil {
		return fmt.Errorf("operator %q: reading its spill store: %w", o.Name, err)
	}
	o.sp = &sliceSpill[K]{Spill: Spill[K]{Store: st, Budget: budget, Key: o.State.Key, Hash: o.State.Hash, Empty: empty}}
	return nil
}

// SpillStore implements Spiller.
func (o *SliceWindowOp[K, In, Acc]) SpillStore() SpillStore {
	if o.sp == nil {
		return nil
	}
	return o.sp.Store
}

// Spill returns the operator's spill helper, nil with the memory backend (tests, metrics).
func (o *SliceWindowOp[K, In, Acc]) Spill() *Spill[K] {
	if o.sp == nil {
		return nil
	}
	return &o.sp.Spill
}

var _ Spiller = (*SliceWindowOp[string, int64, int64])(nil)

// maybeEvict evicts cold keys when over budget, between records.
func (o *SliceWindowOp[K, In, Acc]) maybeEvict() {
	if err := o.sp.MaybeEvict(o); err != nil {
		Fail(fmt.Errorf("operator %q: %w", o.Name, err))
	}
}

// collectSpill is collect with a spill store: the key is loaded when it is not in memory.
func (o *SliceWindowOp[K, In, Acc]) collectSpill(ts int64, r Keyed[K, In], h uint64) {
	sp := o.sp
	slot, ok := o.tab.find(h, r.Key)
	if !ok && !sp.Empty {
		var err error
		if slot, ok, err = sp.Lookup(o, r.Key, true); err != nil {
			Fail(fmt.Errorf("operator %q: %w", o.Name, err))
		}
	}
	o.collect(ts, r, h) // collect never frees a slot
	if ok {
		sp.Touch(slot, true)
	} else if slot, ok = o.tab.find(h, r.Key); ok {
		sp.added(slot, false)
	}
	o.maybeEvict()
}

// fireSpill runs the wakes due at wm, slot wakes and cold wakes in time order.
func (o *SliceWindowOp[K, In, Acc]) fireSpill(wm int64) {
	sp := o.sp
	for {
		slotsDue := o.wakes.Len() > 0 && o.wakes.Next() <= wm
		coldDue := sp.cold.Len() > 0 && sp.cold.Next() <= wm
		switch {
		case slotsDue && (!coldDue || o.wakes.Next() <= sp.cold.Next()):
			o.fireWakes()
		case coldDue:
			t, keys := sp.cold.Pop()
			for _, k := range keys {
				o.wakeCold(k, t)
			}
			sp.cold.Recycle(keys)
		default:
			return
		}
		o.maybeEvict()
	}
}

// wakeCold runs the cold wake of k at t: a key evicted with its wake armed at t. A key not in
// memory is loaded without promotion and, when over budget, evicted again after its wake.
func (o *SliceWindowOp[K, In, Acc]) wakeCold(k K, t int64) {
	sp := o.sp
	slot, ok := o.tab.find(o.tab.hash(k), k)
	loaded := !ok
	if loaded {
		var err error
		if slot, ok, err = sp.Lookup(o, k, false); err != nil {
			Fail(fmt.Errorf("operator %q: %w", o.Name, err))
		}
		if !ok {
			return // the key's state ended: a stale wake
		}
	}
	if sp.coldAt[slot] == t {
		sp.coldAt[slot] = noCold // this is the pending cold wake
	}
	o.wake(slot, t) // checks that t is the key's armed wake
	if loaded && sp.IsResident(slot) && sp.Resident() > sp.Budget {
		if err := sp.EvictKey(o, slot); err != nil {
			Fail(fmt.Errorf("operator %q: %w", o.Name, err))
		}
	}
}

// forget records that the state of the key in slot ended: a copy in the store is deleted.
func (o *SliceWindowOp[K, In, Acc]) forget(slot int32) {
	if int(slot) < len(o.sp.coldAt) {
		o.sp.coldAt[slot] = noCold
	}
	if err := o.sp.Forget(o.tab.peek(slot).key, slot); err != nil {
		Fail(fmt.Errorf("operator %q: %w", o.Name, err))
	}
}

// putColdWakes writes a record per cold wake of a key not in memory (the wakes of keys in
// memory follow from their records).
func (o *SliceWindowOp[K, In, Acc]) putColdWakes(w *StateWriter) {
	var rec []byte
	o.sp.cold.Each(func(t int64, k K) {
		if _, ok := o.tab.find(o.tab.hash(k), k); ok {
			return
		}
		rec = o.State.Key.Append(append(rec[:0], formatSlicedWake), k)
		rec = binary.AppendVarint(rec, t)
		w.Put(KeyGroup(o.State.Hash(k), DefaultMaxParallelism), rec)
	})
}

// restoreColdWake re-queues the cold wake of a record written by putColdWakes (after its format
// byte).
func (o *SliceWindowOp[K, In, Acc]) restoreColdWake(rec []byte) error {
	if o.sp == nil {
		return fmt.Errorf("operator %q: the checkpoint keeps some of its keys in a Pebble spill store: restore it with the Pebble state backend", o.State.UID)
	}
	k, n, err := o.State.Key.Decode(rec)
	if err != nil {
		return fmt.Errorf("%w: operator %q: the key of a cold wake: %v", ErrCorruptState, o.State.UID, err)
	}
	d := decoder{b: rec[n:]}
	t := d.varint()
	if err := finish(&d); err != nil {
		return fmt.Errorf("%w: operator %q: the cold wake of key %v: %v", ErrCorruptState, o.State.UID, k, err)
	}
	o.sp.cold.Add(t, k)
	return nil
}

// The spillable methods.

func (o *SliceWindowOp[K, In, Acc]) slotOf(k K) (int32, bool) { return o.tab.find(o.tab.hash(k), k) }

// evictable: the operator evicts between records only, so any key may go (invariant 4).
func (o *SliceWindowOp[K, In, Acc]) evictable(slot int32) (K, bool) {
	return o.tab.peek(slot).key, true
}

// AppendKeyState appends the record of the key in slot without the key (its snapshot record's
// body); empty reports that the key holds no window state.
func (o *SliceWindowOp[K, In, Acc]) AppendKeyState(dst []byte, slot int32) (_ []byte, empty bool) {
	e := &o.tab.peek(slot).val
	if !e.armed || !e.has {
		return dst, true
	}
	var x *swExt[Acc]
	if e.ext != 0 {
		x = o.ext.peek(e.ext - 1)
	}
	rv := o.ring.view()
	return o.appendKeyBody(dst, &swSlices[Acc]{e: e, x: x, older: rv.older(slot, e, x)}), false
}

// LoadKeyState rebuilds k's slices and late panes from body (written by AppendKeyState) into a
// new slot and returns it. The key's wake is armed without a slot timer: its cold wake, queued
// when it was evicted, is pending.
func (o *SliceWindowOp[K, In, Acc]) LoadKeyState(k K, body []byte) (int32, error) {
	if o.sp == nil {
		return -1, fmt.Errorf("operator %q: loading spilled state without a spill store (SetSpill)", o.State.UID)
	}
	h := o.tab.hash(k)
	slot, ok := o.tab.find(h, k)
	if !ok {
		slot = o.tab.add(h, k)
	}
	wake, err := o.decodeKeyBody(slot, body)
	e := o.entry(slot)
	if err == nil && !e.has {
		err = fmt.Errorf("%w: a spilled key without slices", ErrCorruptState)
	}
	if err != nil {
		o.drop(slot)
		return -1, fmt.Errorf("operator %q: spilled state of key %v: %w", o.State.UID, k, err)
	}
	e.armed, e.wake = true, wake
	o.sp.setColdAt(slot, wake)
	return slot, nil
}

// DropSlot frees the slot of an evicted key; its armed wake moves to the cold wakes unless it
// is pending there already.
func (o *SliceWindowOp[K, In, Acc]) DropSlot(slot int32) {
	ent := o.tab.peek(slot)
	if e := &ent.val; e.armed && e.has && o.sp.coldAt[slot] != e.wake {
		o.sp.cold.Add(e.wake, ent.key)
	}
	o.sp.coldAt[slot] = noCold
	o.drop(slot)
}
