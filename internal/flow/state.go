package flow

import (
	"errors"
	"fmt"
	"iter"
	"reflect"
	"slices"
)

// Keyed state, memory backend.
//
// Each operator subtask maps its keys to dense int32 slots (KeyedState). Every state keeps one
// cell per slot in a plain slice (ValueState: a value and a presence bit; MapState: a Go map;
// ListState: a slice), so a read or an update is a bounds check and an index: no hashing beyond
// the one key lookup the operator does per record, no allocation in steady state.
//
// The operator sets the current slot before it calls user code and clears it afterwards; a state
// handle used outside that window panics with ErrNoCurrentKey instead of touching another key's
// state. A slot counts its non-empty states and its registered timers; when both drop to zero the
// key is forgotten and its slot reused, so a stream of short-lived keys does not grow memory.
//
// The handle types (ValueState, MapState, ListState) are the seam for other backends: the public
// API wraps them and never sees the storage, so a Pebble backend replaces the per-slot slices
// behind the same methods. Each state carries the codecs of its types (SetCodec), which
// checkpoints use (process_state.go) and a byte-oriented backend would too.
//
// # Time to live
//
// A state may have a time to live (SetTTL; Flink's StateTtlConfig with processing time, the only
// time characteristic Flink supports): each entry (the value of a ValueState, each entry of a
// MapState, each element of a ListState) remembers the processing time (StateScope.Clock) at
// which it was created or last written, or also read with TTL.RefreshOnRead, and expires TTL.Millis
// later (expired when now - stamp >= TTL.Millis, as Flink). Expired entries are never returned
// (Flink's NeverReturnExpired). They are removed
//
//   - lazily, when the current key's entry is read (ValueState.Value, MapState.Get/Contains, and
//     for MapState.Len/All and ListState.Get the whole current map or list: each keeps a lower
//     bound of its stamps, so this is a comparison unless something may have expired);
//   - incrementally: after each element the operator visits the next ttlSweepSlots key slots
//     (round robin) and removes their expired entries, so the state of keys that are never seen
//     again is reclaimed too (Flink's incremental cleanup); a key left with no state and no timer
//     is forgotten;
//   - at every checkpoint, which visits every key and writes only live entries (Flink's cleanup
//     in full snapshot), and at restore, which drops entries that expired in between.
//
// The stamps live in separate per-slot slices, allocated only for states with a TTL: a state
// without one pays a predictable branch per call and nothing else.

// ErrNoCurrentKey is wrapped by the panic of a state handle used outside ProcessElement and
// OnTimer, where there is no current key.
var ErrNoCurrentKey = errors.New("keyed state used outside ProcessElement/OnTimer: there is no current key")

// reuseLimit bounds the size of a cleared map or list kept for reuse by the next key of its slot;
// larger ones are released to the garbage collector.
const reuseLimit = 256

// ttlSweepSlots is the number of key slots the incremental TTL cleanup visits after each element.
const ttlSweepSlots = 2

// State kinds, as written in snapshots (process_state.go).
const (
	kindValue byte = 1
	kindMap   byte = 2
	kindList  byte = 3
	// kindStamped flags a snapshotted state whose entries carry TTL stamps.
	kindStamped byte = 0x80
)

// kindName names a state kind for messages.
func kindName(k byte) string {
	switch k &^ kindStamped {
	case kindValue:
		return "value"
	case kindMap:
		return "map"
	case kindList:
		return "list"
	}
	return fmt.Sprintf("unknown (%d)", k)
}

// TTL is the time to live of a state's entries (Flink: StateTtlConfig with processing time,
// update type OnCreateAndWrite or OnReadAndWrite, visibility NeverReturnExpired). See the notes
// at the top of state.go.
type TTL struct {
	// Millis is the time to live in milliseconds of processing time; it must be positive.
	Millis int64
	// RefreshOnRead restarts an entry's time to live when it is read, too (Flink's
	// OnReadAndWrite). By default only creating and writing an entry do (OnCreateAndWrite).
	RefreshOnRead bool
}

// expired reports whether an entry stamped at ts has expired at now.
func (c TTL) expired(ts, now int64) bool { return now-ts >= c.Millis }

// keyedState is what the operator sees of a declared state: its identity, snapshots
// (process_state.go) and TTL cleanup.
type keyedState interface {
	stateName() string
	stateKind() byte
	// stamped reports whether the state has a TTL, so its entries carry stamps.
	stamped() bool
	// codecErr says why the state cannot be written to a checkpoint; nil when it can.
	codecErr() error
	// appendSlot appends the encoding of slot's entries to dst; ok is false (and dst unchanged)
	// when the slot has none.
	appendSlot(dst []byte, slot int32) (_ []byte, ok bool)
	// restoreSlot loads slot's entries from src (written by appendSlot, with stamps when stamped);
	// entries expired at now are dropped.
	restoreSlot(slot int32, src []byte, stamped bool, now int64) error
	// expire removes slot's entries that have expired at now (states with a TTL only).
	expire(slot int32, now int64)
	// evictSlot empties slot's cells without counting it (the key's state moved to the spill
	// store; process_spill.go).
	evictSlot(slot int32)
}

// StateScope is the key-type-independent part of an operator subtask's keyed state: the current
// key's slot, the number of non-empty states and timers of every slot, and the declared states.
// State handles read the current slot from it, so they do not depend on the key type.
type StateScope struct {
	// Operator names the operator in errors.
	Operator string
	// Err is the first declaration error (an empty or duplicate state name, an invalid TTL). The
	// operator fails with it when it starts.
	Err error
	// Clock tells processing time for state TTL; nil means the wall clock. NewKeyedProcess sets
	// it to the task's clock.
	Clock Clock

	cur     int32
	refs    []int32
	tmr     []int32               // the timers counted in refs, per slot (an evicted key keeps them)
	states  []keyedState          // in declaration order
	byName  map[string]keyedState // state name → state
	ttl     []keyedState          // the states with a TTL
	sweep   int32                 // the next slot the incremental TTL cleanup visits
	release func(slot int32)      // forgets the key of a slot (set by KeyedState)
	sealed  bool
	spillOn bool // cold keys go to a spill store (KeyedState.spill is set)
}

// Seal ends the declaration of states: declaring one afterwards panics.
func (s *StateScope) Seal() { s.sealed = true }

// Current returns the current key's slot, or -1 outside user code.
func (s *StateScope) Current() int32 { return s.cur }

// declare registers state st, recording an error for an empty or duplicate name.
func (s *StateScope) declare(st keyedState) {
	name, kind := st.stateName(), kindName(st.stateKind())
	if s.sealed {
		panic(fmt.Errorf("operator %q: %s state %q declared after the process function was created: declare states in the constructor passed to sluice.Process", s.Operator, kind, name))
	}
	if s.byName == nil {
		s.byName = map[string]keyedState{}
	}
	var err error
	switch prev, dup := s.byName[name]; {
	case name == "":
		err = fmt.Errorf("operator %q: a %s state has an empty name", s.Operator, kind)
	case dup:
		err = fmt.Errorf("operator %q: state %q is declared twice (as %s state and as %s state); state names must be unique per operator", s.Operator, name, kindName(prev.stateKind()), kind)
	}
	if err != nil {
		s.Err = errors.Join(s.Err, err)
		return
	}
	s.byName[name] = st
	s.states = append(s.states, st)
}

// setTTL validates c for st and enlists st for the TTL cleanup; it reports whether c is valid.
func (s *StateScope) setTTL(st keyedState, c TTL) bool {
	name, kind := st.stateName(), kindName(st.stateKind())
	if s.sealed {
		panic(fmt.Errorf("operator %q: the TTL of %s state %q was set after the process function was created", s.Operator, kind, name))
	}
	if c.Millis <= 0 {
		s.Err = errors.Join(s.Err, fmt.Errorf("operator %q: %s state %q: the time to live must be positive (at least 1ms), got %dms", s.Operator, kind, name, c.Millis))
		return false
	}
	if s.byName[name] == st && !slices.Contains(s.ttl, st) {
		s.ttl = append(s.ttl, st)
	}
	return true
}

// now returns processing time for TTL.
func (s *StateScope) now() int64 {
	if s.Clock == nil {
		return WallClock{}.Now()
	}
	return s.Clock.Now()
}

// hasTTL reports whether some state has a TTL.
func (s *StateScope) hasTTL() bool { return len(s.ttl) > 0 }

// sweepTTL is the incremental TTL cleanup: it visits the next n slots and removes their expired
// entries, forgetting keys left with nothing. It runs outside user code.
func (s *StateScope) sweepTTL(n int) {
	if len(s.refs) == 0 {
		return
	}
	now := MinTime // read the clock only when a live slot is visited
	for range n {
		slot := s.sweep
		if s.sweep++; int(s.sweep) >= len(s.refs) {
			s.sweep = 0
		}
		if s.refs[slot] > 0 && slot != s.cur {
			if now == MinTime {
				now = s.now()
			}
			s.expireSlot(slot, now)
		}
	}
}

// expireSlot removes the expired entries of a live slot and forgets its key when nothing is left
// (unless it is the current key, which Leave handles).
func (s *StateScope) expireSlot(slot int32, now int64) {
	for _, st := range s.ttl {
		st.expire(slot, now)
	}
	if s.refs[slot] == 0 && slot != s.cur && s.release != nil {
		s.release(slot)
	}
}

// slot returns the current slot for state name, panicking outside user code.
func (s *StateScope) slot(name string) int32 {
	if s.cur < 0 {
		s.noKey(name)
	}
	return s.cur
}

func (s *StateScope) noKey(name string) {
	panic(fmt.Errorf("operator %q, state %q: %w", s.Operator, name, ErrNoCurrentKey))
}

// hold counts one more non-empty state for slot.
func (s *StateScope) hold(slot int32) { s.refs[slot]++ }

// drop counts one less.
func (s *StateScope) drop(slot int32) { s.refs[slot]-- }

// holdTimer counts one more timer for slot.
func (s *StateScope) holdTimer(slot int32) {
	s.refs[slot]++
	s.tmr = growTo(s.tmr, slot)
	s.tmr[slot]++
}

// dropTimer counts one less.
func (s *StateScope) dropTimer(slot int32) {
	s.refs[slot]--
	s.tmr[slot]--
}

// KeyedState maps an operator subtask's keys to dense slots and tracks the current key. It is used
// by one goroutine.
type KeyedState[K comparable] struct {
	StateScope
	index map[K]int32
	keys  []K
	free  []int32
	spill *Spill[K] // nil with the memory backend (process_spill.go)
	sbuf  [2][]byte // scratch of AppendKeyState
}

// NewKeyedState returns the empty keyed state of operator op.
func NewKeyedState[K comparable](op string) *KeyedState[K] {
	s := &KeyedState[K]{StateScope: StateScope{Operator: op, cur: -1}, index: map[K]int32{}}
	s.StateScope.release = s.release
	return s
}

// Keys is the number of keys that hold state or timers (plus the current key, inside user code).
func (s *KeyedState[K]) Keys() int { return len(s.index) }

// Enter makes k the current key and returns its slot, allocating one for a new key (or loading
// it from the spill store).
func (s *KeyedState[K]) Enter(k K) int32 {
	if s.spill != nil {
		return s.enterSpilled(k)
	}
	slot, ok := s.index[k]
	if !ok {
		slot = s.alloc(k)
	}
	s.cur = slot
	return slot
}

// EnterSlot makes the key of slot current and returns it.
func (s *KeyedState[K]) EnterSlot(slot int32) K {
	s.cur = slot
	return s.keys[slot]
}

// Leave clears the current key; a key left with no state and no timer is forgotten.
func (s *KeyedState[K]) Leave() {
	if slot := s.cur; slot >= 0 && s.refs[slot] == 0 {
		s.release(slot)
	}
	s.cur = -1
}

// Key returns the key of slot.
func (s *KeyedState[K]) Key(slot int32) K { return s.keys[slot] }

func (s *KeyedState[K]) alloc(k K) int32 {
	var slot int32
	if n := len(s.free); n > 0 {
		slot = s.free[n-1]
		s.free = s.free[:n-1]
		s.keys[slot] = k
	} else {
		slot = int32(len(s.keys))
		s.keys = append(s.keys, k)
		s.refs = append(s.refs, 0)
	}
	s.index[k] = slot
	return slot
}

// release forgets the key of slot: its state ended.
func (s *KeyedState[K]) release(slot int32) {
	if s.spill != nil {
		if err := s.spill.Forget(s.keys[slot], slot); err != nil {
			Fail(fmt.Errorf("operator %q: %w", s.Operator, err))
		}
	}
	s.freeSlot(slot)
}

// freeSlot frees slot and its index entry.
func (s *KeyedState[K]) freeSlot(slot int32) {
	delete(s.index, s.keys[slot])
	var zero K
	s.keys[slot] = zero
	s.free = append(s.free, slot)
}

// growTo makes s long enough to index slot. Cells past len(s) are always zero: the per-slot slices
// never shrink, and cleared cells are zeroed.
func growTo[E any](s []E, slot int32) []E {
	if int(slot) < len(s) {
		return s
	}
	n := int(slot) + 1
	return slices.Grow(s, n-len(s))[:n]
}

// codecMissing is the error of a state whose codec was not set.
func codecMissing[T any]() error {
	return fmt.Errorf("no codec for %v was set", reflect.TypeFor[T]())
}

// ValueState holds one value per key (Flink: ValueState).
type ValueState[T any] struct {
	sc     *StateScope
	name   string
	cells  []valueCell[T]
	ttl    TTL
	stamps []int64 // with a TTL: when each slot's value was written (or read)
	codec  Codec[T]
	cerr   error
}

type valueCell[T any] struct {
	v  T
	ok bool
}

// NewValueState declares a value state named name in sc.
func NewValueState[T any](sc *StateScope, name string) *ValueState[T] {
	s := &ValueState[T]{sc: sc, name: name}
	sc.declare(s)
	return s
}

// SetCodec sets the codec that writes the state's values to checkpoints; err, when not nil, is
// why there is none (a type that cannot be encoded): checkpoints then fail with it, naming the
// operator and the state, while pipelines that never checkpoint are not affected.
func (s *ValueState[T]) SetCodec(c Codec[T], err error) { s.codec, s.cerr = c, err }

// SetTTL gives the state's values a time to live. Call it when declaring the state.
func (s *ValueState[T]) SetTTL(c TTL) {
	if s.sc.setTTL(s, c) {
		s.ttl = c
	}
}

// Value returns the current key's value and whether it is set.
func (s *ValueState[T]) Value() (T, bool) {
	slot := s.sc.slot(s.name)
	if s.ttl.Millis != 0 {
		return s.valueTTL(slot)
	}
	if int(slot) < len(s.cells) {
		c := &s.cells[slot]
		return c.v, c.ok
	}
	var zero T
	return zero, false
}

func (s *ValueState[T]) valueTTL(slot int32) (T, bool) {
	var zero T
	if int(slot) >= len(s.cells) || !s.cells[slot].ok {
		return zero, false
	}
	now := s.sc.now()
	if s.ttl.expired(s.stamps[slot], now) {
		s.cells[slot] = valueCell[T]{}
		s.sc.drop(slot)
		return zero, false
	}
	if s.ttl.RefreshOnRead {
		s.stamps[slot] = now
	}
	return s.cells[slot].v, true
}

// Update sets the current key's value.
func (s *ValueState[T]) Update(v T) {
	slot := s.sc.slot(s.name)
	s.cells = growTo(s.cells, slot)
	c := &s.cells[slot]
	if !c.ok {
		c.ok = true
		s.sc.hold(slot)
	}
	c.v = v
	if s.ttl.Millis != 0 {
		s.stamps = growTo(s.stamps, slot)
		s.stamps[slot] = s.sc.now()
	}
}

// Clear removes the current key's value.
func (s *ValueState[T]) Clear() {
	slot := s.sc.slot(s.name)
	if int(slot) < len(s.cells) && s.cells[slot].ok {
		s.cells[slot] = valueCell[T]{}
		s.sc.drop(slot)
	}
}

func (s *ValueState[T]) expire(slot int32, now int64) {
	if int(slot) < len(s.cells) && s.cells[slot].ok && s.ttl.expired(s.stamps[slot], now) {
		s.cells[slot] = valueCell[T]{}
		s.sc.drop(slot)
	}
}

// MapState holds a map per key (Flink: MapState).
type MapState[UK comparable, UV any] struct {
	sc     *StateScope
	name   string
	maps   []map[UK]UV
	ttl    TTL
	stamps []map[UK]int64 // with a TTL: when each entry was written (or read)
	oldest []int64        // with a TTL: a lower bound of the slot's stamps
	kc     Codec[UK]
	vc     Codec[UV]
	cerr   error
}

// NewMapState declares a map state named name in sc.
func NewMapState[UK comparable, UV any](sc *StateScope, name string) *MapState[UK, UV] {
	s := &MapState[UK, UV]{sc: sc, name: name}
	sc.declare(s)
	return s
}

// SetCodecs sets the codecs that write the state's entries to checkpoints; err, when not nil, is
// why there are none (see ValueState.SetCodec).
func (s *MapState[UK, UV]) SetCodecs(k Codec[UK], v Codec[UV], err error) {
	s.kc, s.vc, s.cerr = k, v, err
}

// SetTTL gives each of the state's entries a time to live. Call it when declaring the state.
func (s *MapState[UK, UV]) SetTTL(c TTL) {
	if s.sc.setTTL(s, c) {
		s.ttl = c
	}
}

// current returns the current key's map, nil when it has none. With a TTL, it first removes the
// map's expired entries.
func (s *MapState[UK, UV]) current() map[UK]UV {
	slot := s.sc.slot(s.name)
	if int(slot) < len(s.maps) {
		if s.ttl.Millis != 0 {
			s.purge(slot, s.sc.now())
		}
		return s.maps[slot]
	}
	return nil
}

// Get returns the value of k and whether it is present.
func (s *MapState[UK, UV]) Get(k UK) (UV, bool) {
	if s.ttl.Millis != 0 {
		return s.getTTL(k)
	}
	slot := s.sc.slot(s.name)
	if int(slot) < len(s.maps) {
		v, ok := s.maps[slot][k]
		return v, ok
	}
	var zero UV
	return zero, false
}

func (s *MapState[UK, UV]) getTTL(k UK) (UV, bool) {
	var zero UV
	slot := s.sc.slot(s.name)
	if int(slot) >= len(s.maps) {
		return zero, false
	}
	v, ok := s.maps[slot][k]
	if !ok {
		return zero, false
	}
	now := s.sc.now()
	st := s.stamps[slot]
	if s.ttl.expired(st[k], now) {
		s.remove(slot, k)
		return zero, false
	}
	if s.ttl.RefreshOnRead {
		st[k] = now
	}
	return v, true
}

// Contains reports whether k is present.
func (s *MapState[UK, UV]) Contains(k UK) bool {
	_, ok := s.Get(k)
	return ok
}

// Len is the number of entries.
func (s *MapState[UK, UV]) Len() int { return len(s.current()) }

// Put sets the value of k.
func (s *MapState[UK, UV]) Put(k UK, v UV) {
	slot := s.sc.slot(s.name)
	s.maps = growTo(s.maps, slot)
	m := s.maps[slot]
	if m == nil {
		m = make(map[UK]UV)
		s.maps[slot] = m
	}
	if len(m) == 0 {
		s.sc.hold(slot)
	}
	m[k] = v
	if s.ttl.Millis != 0 {
		s.stamp(slot, k, len(m) == 1, s.sc.now())
	}
}

// stamp records that k of slot was written at now; first says the map was empty before.
func (s *MapState[UK, UV]) stamp(slot int32, k UK, first bool, now int64) {
	s.stamps = growTo(s.stamps, slot)
	s.oldest = growTo(s.oldest, slot)
	st := s.stamps[slot]
	if st == nil {
		st = make(map[UK]int64)
		s.stamps[slot] = st
	}
	st[k] = now
	if first || now < s.oldest[slot] {
		s.oldest[slot] = now
	}
}

// Remove deletes k.
func (s *MapState[UK, UV]) Remove(k UK) {
	slot := s.sc.slot(s.name)
	if int(slot) < len(s.maps) {
		s.remove(slot, k)
	}
}

func (s *MapState[UK, UV]) remove(slot int32, k UK) {
	m := s.maps[slot]
	if n := len(m); n > 0 {
		delete(m, k)
		if s.ttl.Millis != 0 {
			delete(s.stamps[slot], k)
		}
		if len(m) == 0 {
			s.sc.drop(slot)
		}
	}
}

// purge removes the expired entries of slot's map, unless its lower bound shows there are none.
func (s *MapState[UK, UV]) purge(slot int32, now int64) {
	m := s.maps[slot]
	if len(m) == 0 || !s.ttl.expired(s.oldest[slot], now) {
		return
	}
	st := s.stamps[slot]
	oldest := MaxTime
	for k, ts := range st {
		if s.ttl.expired(ts, now) {
			delete(m, k)
			delete(st, k)
		} else if ts < oldest {
			oldest = ts
		}
	}
	s.oldest[slot] = oldest
	if len(m) == 0 {
		s.sc.drop(slot)
	}
}

func (s *MapState[UK, UV]) expire(slot int32, now int64) {
	if int(slot) < len(s.maps) {
		s.purge(slot, now)
	}
}

// All iterates over the current key's entries in no particular order. The loop body may Remove
// entries; entries Put during the loop may or may not be visited. With a TTL that refreshes on
// read, every entry visited counts as read.
func (s *MapState[UK, UV]) All() iter.Seq2[UK, UV] {
	m := s.current()
	if s.ttl.RefreshOnRead && len(m) > 0 {
		slot, now := s.sc.cur, s.sc.now()
		st := s.stamps[slot]
		return func(yield func(UK, UV) bool) {
			for k, v := range m {
				if _, ok := st[k]; ok {
					st[k] = now
				}
				if !yield(k, v) {
					return
				}
			}
		}
	}
	return func(yield func(UK, UV) bool) {
		for k, v := range m {
			if !yield(k, v) {
				return
			}
		}
	}
}

// Clear removes every entry of the current key.
func (s *MapState[UK, UV]) Clear() {
	slot := s.sc.slot(s.name)
	if int(slot) >= len(s.maps) {
		return
	}
	m := s.maps[slot]
	if len(m) == 0 {
		return
	}
	s.sc.drop(slot)
	if len(m) > reuseLimit {
		s.maps[slot] = nil
		if s.ttl.Millis != 0 {
			s.stamps[slot] = nil
		}
		return
	}
	clear(m)
	if s.ttl.Millis != 0 {
		clear(s.stamps[slot])
	}
}

// ListState holds a list per key (Flink: ListState).
type ListState[T any] struct {
	sc     *StateScope
	name   string
	lists  [][]T
	ttl    TTL
	stamps [][]int64 // with a TTL: when each element was written (or read)
	oldest []int64   // with a TTL: a lower bound of the slot's stamps
	codec  Codec[T]
	cerr   error
}

// NewListState declares a list state named name in sc.
func NewListState[T any](sc *StateScope, name string) *ListState[T] {
	s := &ListState[T]{sc: sc, name: name}
	sc.declare(s)
	return s
}

// SetCodec sets the codec that writes the state's elements to checkpoints; err, when not nil, is
// why there is none (see ValueState.SetCodec).
func (s *ListState[T]) SetCodec(c Codec[T], err error) { s.codec, s.cerr = c, err }

// SetTTL gives each of the state's elements a time to live. Call it when declaring the state.
func (s *ListState[T]) SetTTL(c TTL) {
	if s.sc.setTTL(s, c) {
		s.ttl = c
	}
}

// Add appends v to the current key's list.
func (s *ListState[T]) Add(v T) {
	slot := s.sc.slot(s.name)
	s.lists = growTo(s.lists, slot)
	l := s.lists[slot]
	if len(l) == 0 {
		s.sc.hold(slot)
	}
	s.lists[slot] = append(l, v)
	if s.ttl.Millis != 0 {
		now := s.sc.now()
		s.stamps = growTo(s.stamps, slot)
		s.oldest = growTo(s.oldest, slot)
		s.stamps[slot] = append(s.stamps[slot], now)
		if len(l) == 0 || now < s.oldest[slot] {
			s.oldest[slot] = now
		}
	}
}

// Get returns the current key's list, nil when empty. The slice is the state's own storage,
// valid until the state is next changed: callers must not retain or modify it. (Appending to it
// is safe: its capacity equals its length.)
func (s *ListState[T]) Get() []T {
	slot := s.sc.slot(s.name)
	if int(slot) < len(s.lists) {
		if s.ttl.Millis != 0 {
			s.readTTL(slot)
		}
		l := s.lists[slot]
		return l[:len(l):len(l)]
	}
	return nil
}

// readTTL removes the expired elements of slot's list and, refreshing on read, restamps the rest.
func (s *ListState[T]) readTTL(slot int32) {
	now := s.sc.now()
	s.purge(slot, now)
	if s.ttl.RefreshOnRead && len(s.lists[slot]) > 0 {
		st := s.stamps[slot]
		for i := range st {
			st[i] = now
		}
		s.oldest[slot] = now
	}
}

// Update replaces the current key's list by a copy of vs (which may be the result of Get).
func (s *ListState[T]) Update(vs []T) {
	if len(vs) == 0 {
		s.Clear()
		return
	}
	slot := s.sc.slot(s.name)
	s.lists = growTo(s.lists, slot)
	old := s.lists[slot]
	if len(old) == 0 {
		s.sc.hold(slot)
	}
	l := append(old[:0], vs...)
	if len(l) < len(old) {
		clear(old[len(l):]) // same backing array: drop the references past the new end
	}
	s.lists[slot] = l
	if s.ttl.Millis != 0 {
		now := s.sc.now()
		s.stamps = growTo(s.stamps, slot)
		s.oldest = growTo(s.oldest, slot)
		st := slices.Grow(s.stamps[slot][:0], len(l))[:len(l)]
		for i := range st {
			st[i] = now
		}
		s.stamps[slot] = st
		s.oldest[slot] = now
	}
}

// purge removes the expired elements of slot's list, keeping the order of the others, unless its
// lower bound shows there are none.
func (s *ListState[T]) purge(slot int32, now int64) {
	l := s.lists[slot]
	if len(l) == 0 || !s.ttl.expired(s.oldest[slot], now) {
		return
	}
	st := s.stamps[slot]
	oldest, j := MaxTime, 0
	for i, ts := range st {
		if s.ttl.expired(ts, now) {
			continue
		}
		l[j], st[j] = l[i], ts
		oldest = min(oldest, ts)
		j++
	}
	clear(l[j:])
	s.lists[slot], s.stamps[slot], s.oldest[slot] = l[:j], st[:j], oldest
	if j == 0 {
		s.sc.drop(slot)
	}
}

func (s *ListState[T]) expire(slot int32, now int64) {
	if int(slot) < len(s.lists) {
		s.purge(slot, now)
	}
}

// Clear empties the current key's list.
func (s *ListState[T]) Clear() {
	slot := s.sc.slot(s.name)
	if int(slot) >= len(s.lists) {
		return
	}
	l := s.lists[slot]
	if len(l) == 0 {
		return
	}
	s.sc.drop(slot)
	if cap(l) > reuseLimit {
		s.lists[slot] = nil
		if s.ttl.Millis != 0 {
			s.stamps[slot] = nil
		}
		return
	}
	clear(l)
	s.lists[slot] = l[:0]
	if s.ttl.Millis != 0 {
		s.stamps[slot] = s.stamps[slot][:0]
	}
}
