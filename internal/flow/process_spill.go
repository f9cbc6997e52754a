package flow

import (
	"encoding/binary"
	"fmt"
)

// The keyed process operator with a spill store (docs/state-backends.md, section 3).
//
// KeyedState implements the operator side of Spill: a key's spilled value is its snapshot record
// without the key and with no timers (process_state.go), so eviction, loading and checkpoints
// share one encoding. Timers stay in memory (phase 1 of the design): an evicted key that has
// timers keeps its slot, its key and its timers, with empty state cells (a stub), so the timer
// heap's slots stay valid; its timer loads the state back for the call. A checkpoint writes a
// stub as its key, a marker (one state with an empty name and kind 0: the states are in the
// spill store, captured with the same checkpoint) and its timers.
//
// Dirty tracking is per call: after an element or a timer of a key, the key is marked dirty
// (user code may have changed any of its states), so its eviction writes it; a key only loaded
// for a timer that was already resident, or read by the TTL sweep, stays clean.

// kindSpilled is the kind of the marker state of a key whose states are in the spill store.
const kindSpilled byte = 0

// appendSpilledMarker appends nstates=1 and the marker state.
func appendSpilledMarker(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, 1)
	dst = appendString(dst, "")
	dst = append(dst, kindSpilled)
	return binary.AppendUvarint(dst, 0)
}

// SetSpill implements Spiller: at most budget keys stay in memory between records, the others
// go to st. Call it before RestoreState.
func (o *KeyedProcess[K, In, Out]) SetSpill(st SpillStore, budget int) error {
	if o.InitErr != nil {
		return o.InitErr
	}
	if err := o.checkCodecs(); err != nil {
		return fmt.Errorf("spilling keyed state: %w", err)
	}
	if budget < 0 {
		return fmt.Errorf("operator %q: the key budget %d is negative", o.Name, budget)
	}
	empty, err := StoreEmpty(st)
	if err != nil {
		return fmt.Errorf("operator %q: reading its spill store: %w", o.Name, err)
	}
	o.State.spill = &Spill[K]{Store: st, Budget: budget, Key: o.KeyCodec, Hash: o.hash, Empty: empty}
	o.State.spillOn = true
	return nil
}

// SpillStore implements Spiller.
func (o *KeyedProcess[K, In, Out]) SpillStore() SpillStore {
	if o.State.spill == nil {
		return nil
	}
	return o.State.spill.Store
}

// Spill returns the operator's spill helper, nil with the memory backend (tests, metrics).
func (o *KeyedProcess[K, In, Out]) Spill() *Spill[K] { return o.State.spill }

// maybeEvict evicts cold keys when over budget, between records.
func (o *KeyedProcess[K, In, Out]) maybeEvict() {
	if err := o.State.spill.MaybeEvict(o.State); err != nil {
		Fail(fmt.Errorf("operator %q: %w", o.Name, err))
	}
}

// enterSpilled is Enter with a spill store: k's state is loaded when it is not in memory.
func (s *KeyedState[K]) enterSpilled(k K) int32 {
	slot, ok, err := s.spill.Lookup(s, k, true)
	if err != nil {
		Fail(fmt.Errorf("operator %q: %w", s.Operator, err))
	}
	if !ok {
		var known bool
		if slot, known = s.index[k]; !known {
			slot = s.alloc(k)
		}
		s.spill.Added(slot, false)
	}
	s.cur = slot
	return slot
}

func (s *KeyedState[K]) slotOf(k K) (int32, bool) {
	slot, ok := s.index[k]
	return slot, ok
}

func (s *KeyedState[K]) evictable(slot int32) (K, bool) { return s.keys[slot], slot != s.cur }

// AppendKeyState appends the record of the key in slot without the key: its live states and no
// timers (they stay in memory). empty reports that it has no live state.
func (s *KeyedState[K]) AppendKeyState(dst []byte, slot int32) (_ []byte, empty bool) {
	if s.hasTTL() {
		now := s.now()
		for _, st := range s.ttl {
			st.expire(slot, now)
		}
	}
	var cur keyedState
	body, payload, n := s.appendStates(s.sbuf[0][:0], s.sbuf[1][:0], slot, &cur)
	s.sbuf = [2][]byte{body, payload}
	if n == 0 {
		return dst, true
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = append(dst, body...)
	return append(dst, 0, 0), false // no event-time, no processing-time timers
}

// LoadKeyState rebuilds k's states from body (written by AppendKeyState) into k's slot, a new
// one unless k has timers in memory. Expired TTL entries are dropped.
func (s *KeyedState[K]) LoadKeyState(k K, body []byte) (int32, error) {
	slot, ok := s.index[k]
	if !ok {
		slot = s.alloc(k)
	}
	if body == nil {
		return slot, nil
	}
	d := decoder{b: body}
	if _, err := s.restoreStates(&d, slot, s.now()); err != nil {
		return slot, err
	}
	if evt, proc := d.uvarint(), d.uvarint(); d.err == nil && evt+proc != 0 {
		d.err = fmt.Errorf("a spilled record holds %d timers", evt+proc)
	}
	if err := finish(&d); err != nil {
		return slot, fmt.Errorf("%w: operator %q: spilled state of key %v: %v", ErrCorruptState, s.Operator, k, err)
	}
	return slot, nil
}

// DropSlot empties slot's states; the slot is freed unless the key has timers.
func (s *KeyedState[K]) DropSlot(slot int32) {
	for _, st := range s.states {
		st.evictSlot(slot)
	}
	var t int32
	if int(slot) < len(s.tmr) {
		t = s.tmr[slot]
	}
	if s.refs[slot] = t; t == 0 {
		s.freeSlot(slot)
	}
}

func (s *ValueState[T]) evictSlot(slot int32) {
	if int(slot) < len(s.cells) {
		s.cells[slot] = valueCell[T]{}
	}
}

func (s *MapState[UK, UV]) evictSlot(slot int32) {
	if int(slot) >= len(s.maps) {
		return
	}
	if m := s.maps[slot]; len(m) > reuseLimit {
		s.maps[slot] = nil
	} else {
		clear(m)
	}
	if s.ttl.Millis != 0 && int(slot) < len(s.stamps) {
		if st := s.stamps[slot]; len(st) > reuseLimit {
			s.stamps[slot] = nil
		} else {
			clear(st)
		}
	}
}

func (s *ListState[T]) evictSlot(slot int32) {
	if int(slot) >= len(s.lists) {
		return
	}
	if l := s.lists[slot]; cap(l) > reuseLimit {
		s.lists[slot] = nil
	} else {
		clear(l)
		s.lists[slot] = l[:0]
	}
	if s.ttl.Millis != 0 && int(slot) < len(s.stamps) {
		s.stamps[slot] = s.stamps[slot][:0]
	}
}
