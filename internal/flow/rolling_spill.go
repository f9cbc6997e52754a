package flow

import (
	"encoding/binary"
	"fmt"
)

// The rolling operator with a spill store (docs/state-backends.md, section 3).
//
// RollingOp implements the operator side of Spill. Its pending elements carry their keys, not
// slots, so they stay in memory (they are the operator's timers: phase 1 of the design) and an
// evicted key needs no stub: eviction frees its slot and its table entry. What an evicted key
// leaves in memory is one entry in a queue of cold expiry timers, at the time its state expires
// (the watermark a whole range past its newest element). A cold key does not change, so that time
// is exact; when it comes, the key is loaded (Lookup without promotion) and dropped, deleting its
// stored copy (invariant 2), unless it was loaded, changed and evicted again meanwhile: then it is
// evicted again, cleanly, and its later timer decides.
//
// A resident key's expiry timer is slot-based, as with the memory backend. An evicted key's slot
// is reused, so a timer is valid only while it is the slot's armed one (armAt); the others are
// skipped when they fire.
//
// The spilled value of a key is the time its state expires (a varint) followed by the body of
// its snapshot record (RollingStore.AppendState): a restore rebuilds the cold expiry timers by
// reading that prefix, without decoding the states.
//
// Elements are resolved to slots a watermark's batch at a time (resolveSpilled) and processed;
// evictions happen after the batch (and after a restore), never while slots of the batch are in
// use (invariant 4). A key that takes an element is dirty: its eviction writes it.

// rollSpill is the spill state of a RollingOp.
type rollSpill[K comparable] struct {
	Spill[K]
	armedAt []int64       // per slot: the time of its valid expiry timer
	cold    TimerQueue[K] // expiry of evicted keys
	reEvict bool          // the eviction in progress needs no cold timer (it has one)
}

// noTimer marks a slot without a valid expiry timer; no timer has this time (timers are at
// most MaxTime).
const noTimer = MinTime

func (s *rollSpill[K]) armAt(slot int32, t int64) {
	s.armedAt = growTo(s.armedAt, slot)
	s.armedAt[slot] = t
}

// armed reports whether the expiry timer of slot at t is its valid one.
func (s *rollSpill[K]) armed(slot int32, t int64) bool {
	return int(slot) < len(s.armedAt) && s.armedAt[slot] == t
}

func (s *rollSpill[K]) disarm(slot int32) {
	if int(slot) < len(s.armedAt) {
		s.armedAt[slot] = noTimer
	}
}

// SetSpill implements Spiller: at most budget keys stay in memory after each watermark, the
// others go to st. Call it before RestoreState: the cold keys st already holds get their expiry
// timers here.
func (o *RollingOp[K, In, V]) SetSpill(st SpillStore, budget int) error {
	if o.State.Err != nil {
		return fmt.Errorf("spilling rolling state: %w", o.State.Err)
	}
	if o.State.Key == nil || o.State.Hash == nil {
		return fmt.Errorf("operator %q: spilling rolling state needs a key codec", o.Name)
	}
	if budget < 0 {
		return fmt.Errorf("operator %q: the key budget %d is negative", o.Name, budget)
	}
	empty, err := StoreEmpty(st)
	if err != nil {
		return fmt.Errorf("operator %q: reading its spill store: %w", o.Name, err)
	}
	sp := &rollSpill[K]{Spill: Spill[K]{Store: st, Budget: budget, Key: o.State.Key, Hash: o.State.Hash, Empty: empty}}
	if !empty {
		err = st.Iterate(0, DefaultMaxParallelism, func(_ int, key, value []byte) error {
			k, _, err := o.State.Key.Decode(key)
			if err != nil {
				return fmt.Errorf("%w: a spilled rolling key: %v", ErrCorruptState, err)
			}
			exp, _, err := splitSpilled(value)
			if err != nil {
				return fmt.Errorf("%w: spilled rolling state of key %v: %v", ErrCorruptState, k, err)
			}
			sp.cold.Add(exp, k)
			return nil
		})
		if err != nil {
			return fmt.Errorf("operator %q: reading its spill store: %w", o.Name, err)
		}
	}
	o.spill = sp
	return nil
}

// SpillStore implements Spiller.
func (o *RollingOp[K, In, V]) SpillStore() SpillStore {
	if o.spill == nil {
		return nil
	}
	return o.spill.Store
}

// Spill returns the operator's spill helper, nil with the memory backend (tests, metrics).
func (o *RollingOp[K, In, V]) Spill() *Spill[K] {
	if o.spill == nil {
		return nil
	}
	return &o.spill.Spill
}

// ColdKeys is the number of evicted keys' expiry timers (a key evicted, loaded and evicted
// again may have more than one).
func (o *RollingOp[K, In, V]) ColdKeys() int {
	if o.spill == nil {
		return 0
	}
	return o.spill.cold.Len()
}

// splitSpilled splits a spilled value into its expiry time and the state's body.
func splitSpilled(value []byte) (exp int64, body []byte, err error) {
	exp, n := binary.Varint(value)
	if n <= 0 {
		return 0, nil, fmt.Errorf("bad expiry time")
	}
	return exp, value[n:], nil
}

// resolveSpilled sets the slots of a batch's elements, loading evicted keys and opening new
// ones; every key that takes an element is dirty.
func (o *RollingOp[K, In, V]) resolveSpilled(recs []rollRec[K, In]) {
	sp := o.spill
	for i := range recs {
		r := &recs[i]
		slot, ok, err := sp.Lookup(o, r.key, true)
		if err != nil {
			Fail(fmt.Errorf("operator %q: %w", o.Name, err))
		}
		if !ok {
			slot = o.open(r.key, o.tab.hash(r.key))
			o.arm(slot, o.expiryTime(r.ts))
			sp.Added(slot, false)
		}
		sp.Dirty(slot)
		r.slot = slot
	}
}

// spillWatermark drops the evicted keys whose state expired at wm, then evicts down to the
// budget.
func (o *RollingOp[K, In, V]) spillWatermark(wm int64) {
	sp := o.spill
	for sp.cold.Len() > 0 && sp.cold.Next() <= wm {
		_, keys := sp.cold.Pop()
		for _, k := range keys {
			if err := o.expireCold(k, wm); err != nil {
				Fail(fmt.Errorf("operator %q: %w", o.Name, err))
			}
		}
		sp.cold.Recycle(keys)
	}
	if err := sp.MaybeEvict(o); err != nil {
		Fail(fmt.Errorf("operator %q: %w", o.Name, err))
	}
}

// expireCold handles the expiry timer of an evicted key: the key is dropped (and its stored copy
// deleted) if its state expired, and evicted again otherwise (it changed after this timer was
// set, and a later timer covers it). A key in memory is left to its own timer.
func (o *RollingOp[K, In, V]) expireCold(k K, wm int64) error {
	if _, ok := o.tab.find(o.tab.hash(k), k); ok {
		return nil
	}
	slot, ok, err := o.spill.Lookup(o, k, false)
	if err != nil || !ok {
		return err // !ok: already gone (dropped by an earlier timer)
	}
	if n := o.Store.Newest(slot); n != MinTime && o.expiryTime(n) > wm {
		o.spill.reEvict = true
		err = o.spill.EvictKey(o, slot)
		o.spill.reEvict = false
		return err
	}
	o.forget(slot)
	o.Store.Reset(slot)
	o.tab.remove(slot)
	return nil
}

// forget records that the state of the key in slot ended: its stored copy goes (invariant 2).
func (o *RollingOp[K, In, V]) forget(slot int32) {
	o.spill.disarm(slot)
	if err := o.spill.Forget(o.tab.peek(slot).key, slot); err != nil {
		Fail(fmt.Errorf("operator %q: %w", o.Name, err))
	}
}

func (o *RollingOp[K, In, V]) slotOf(k K) (int32, bool) { return o.tab.find(o.tab.hash(k), k) }

// evictable: evictions run between batches, when no key is being processed.
func (o *RollingOp[K, In, V]) evictable(slot int32) (K, bool) { return o.tab.peek(slot).key, true }

// AppendKeyState appends the spilled value of the key in slot: the time its state expires and
// its state's snapshot body. empty reports that it holds no element.
func (o *RollingOp[K, In, V]) AppendKeyState(dst []byte, slot int32) (_ []byte, empty bool) {
	n := o.Store.Newest(slot)
	if n == MinTime {
		return dst, true
	}
	dst = binary.AppendVarint(dst, o.expiryTime(n))
	return o.Store.AppendState(dst, slot), false
}

// LoadKeyState rebuilds k's state from a spilled value (AppendKeyState) into a new slot, with
// its expiry timer.
func (o *RollingOp[K, In, V]) LoadKeyState(k K, body []byte) (int32, error) {
	slot := o.open(k, o.tab.hash(k))
	err := o.decodeSpilled(slot, body)
	if err != nil {
		o.Store.Reset(slot)
		o.tab.remove(slot)
		return -1, fmt.Errorf("%w: operator %q: spilled state of key %v: %v", ErrCorruptState, o.Name, k, err)
	}
	o.arm(slot, o.expiryTime(o.Store.Newest(slot)))
	return slot, nil
}

func (o *RollingOp[K, In, V]) decodeSpilled(slot int32, value []byte) error {
	_, body, err := splitSpilled(value)
	if err != nil {
		return err
	}
	n, err := o.Store.DecodeState(slot, body)
	switch {
	case err != nil:
		return err
	case n != len(body):
		return fmt.Errorf("%d bytes after the state", len(body)-n)
	case o.Store.Newest(slot) == MinTime:
		return fmt.Errorf("no element")
	}
	return nil
}

// DropSlot frees slot after its key's eviction, arming the key's cold expiry timer unless it
// has one.
func (o *RollingOp[K, In, V]) DropSlot(slot int32) {
	sp := o.spill
	if n := o.Store.Newest(slot); n != MinTime && !sp.reEvict {
		sp.cold.Add(o.expiryTime(n), o.tab.peek(slot).key)
	}
	sp.disarm(slot)
	sp.Release(slot)
	o.Store.Reset(slot)
	o.tab.remove(slot)
}
