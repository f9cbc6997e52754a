package flow

import (
	"errors"
	"fmt"
	"iter"
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
// behind the same methods. (It also needs a serde per state and per key, which is why there is no
// storage interface yet: its shape depends on that.)

// ErrNoCurrentKey is wrapped by the panic of a state handle used outside ProcessElement and
// OnTimer, where there is no current key.
var ErrNoCurrentKey = errors.New("keyed state used outside ProcessElement/OnTimer: there is no current key")

// reuseLimit bounds the size of a cleared map or list kept for reuse by the next key of its slot;
// larger ones are released to the garbage collector.
const reuseLimit = 256

// StateScope is the key-type-independent part of an operator subtask's keyed state: the current
// key's slot, the number of non-empty states and timers of every slot, and the declared state
// names. State handles read the current slot from it, so they do not depend on the key type.
type StateScope struct {
	// Operator names the operator in errors.
	Operator string
	// Err is the first declaration error (an empty or duplicate state name). The operator fails
	// with it when it starts.
	Err error

	cur    int32
	refs   []int32
	names  map[string]string // state name → kind
	sealed bool
}

// Seal ends the declaration of states: declaring one afterwards panics.
func (s *StateScope) Seal() { s.sealed = true }

// Current returns the current key's slot, or -1 outside user code.
func (s *StateScope) Current() int32 { return s.cur }

// declare registers a state name, recording an error for an empty or duplicate one.
func (s *StateScope) declare(name, kind string) {
	if s.sealed {
		panic(fmt.Errorf("operator %q: %s state %q declared after the process function was created: declare states in the constructor passed to sluice.Process", s.Operator, kind, name))
	}
	if s.names == nil {
		s.names = map[string]string{}
	}
	var err error
	switch prev, dup := s.names[name]; {
	case name == "":
		err = fmt.Errorf("operator %q: a %s state has an empty name", s.Operator, kind)
	case dup:
		err = fmt.Errorf("operator %q: state %q is declared twice (as %s state and as %s state); state names must be unique per operator", s.Operator, name, prev, kind)
	}
	if err != nil {
		s.Err = errors.Join(s.Err, err)
		return
	}
	s.names[name] = kind
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

// hold counts one more non-empty state or timer for slot.
func (s *StateScope) hold(slot int32) { s.refs[slot]++ }

// drop counts one less.
func (s *StateScope) drop(slot int32) { s.refs[slot]-- }

// KeyedState maps an operator subtask's keys to dense slots and tracks the current key. It is used
// by one goroutine.
type KeyedState[K comparable] struct {
	StateScope
	index map[K]int32
	keys  []K
	free  []int32
}

// NewKeyedState returns the empty keyed state of operator op.
func NewKeyedState[K comparable](op string) *KeyedState[K] {
	return &KeyedState[K]{StateScope: StateScope{Operator: op, cur: -1}, index: map[K]int32{}}
}

// Keys is the number of keys that hold state or timers (plus the current key, inside user code).
func (s *KeyedState[K]) Keys() int { return len(s.index) }

// Enter makes k the current key and returns its slot, allocating one for a new key.
func (s *KeyedState[K]) Enter(k K) int32 {
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

func (s *KeyedState[K]) release(slot int32) {
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

// ValueState holds one value per key (Flink: ValueState).
type ValueState[T any] struct {
	sc    *StateScope
	name  string
	cells []valueCell[T]
}

type valueCell[T any] struct {
	v  T
	ok bool
}

// NewValueState declares a value state named name in sc.
func NewValueState[T any](sc *StateScope, name string) *ValueState[T] {
	sc.declare(name, "value")
	return &ValueState[T]{sc: sc, name: name}
}

// Value returns the current key's value and whether it is set.
func (s *ValueState[T]) Value() (T, bool) {
	slot := s.sc.slot(s.name)
	if int(slot) < len(s.cells) {
		c := &s.cells[slot]
		return c.v, c.ok
	}
	var zero T
	return zero, false
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
}

// Clear removes the current key's value.
func (s *ValueState[T]) Clear() {
	slot := s.sc.slot(s.name)
	if int(slot) < len(s.cells) && s.cells[slot].ok {
		s.cells[slot] = valueCell[T]{}
		s.sc.drop(slot)
	}
}

// MapState holds a map per key (Flink: MapState).
type MapState[UK comparable, UV any] struct {
	sc   *StateScope
	name string
	maps []map[UK]UV
}

// NewMapState declares a map state named name in sc.
func NewMapState[UK comparable, UV any](sc *StateScope, name string) *MapState[UK, UV] {
	sc.declare(name, "map")
	return &MapState[UK, UV]{sc: sc, name: name}
}

// current returns the current key's map, nil when it has none.
func (s *MapState[UK, UV]) current() map[UK]UV {
	slot := s.sc.slot(s.name)
	if int(slot) < len(s.maps) {
		return s.maps[slot]
	}
	return nil
}

// Get returns the value of k and whether it is present.
func (s *MapState[UK, UV]) Get(k UK) (UV, bool) {
	v, ok := s.current()[k]
	return v, ok
}

// Contains reports whether k is present.
func (s *MapState[UK, UV]) Contains(k UK) bool {
	_, ok := s.current()[k]
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
}

// Remove deletes k.
func (s *MapState[UK, UV]) Remove(k UK) {
	slot := s.sc.slot(s.name)
	if int(slot) >= len(s.maps) {
		return
	}
	m := s.maps[slot]
	if n := len(m); n > 0 {
		delete(m, k)
		if len(m) == 0 {
			s.sc.drop(slot)
		}
	}
}

// All iterates over the current key's entries in no particular order. The loop body may Remove
// entries; entries Put during the loop may or may not be visited.
func (s *MapState[UK, UV]) All() iter.Seq2[UK, UV] {
	m := s.current()
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
		return
	}
	clear(m)
}

// ListState holds a list per key (Flink: ListState).
type ListState[T any] struct {
	sc    *StateScope
	name  string
	lists [][]T
}

// NewListState declares a list state named name in sc.
func NewListState[T any](sc *StateScope, name string) *ListState[T] {
	sc.declare(name, "list")
	return &ListState[T]{sc: sc, name: name}
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
}

// Get returns the current key's list, nil when empty. The slice is the state's own storage,
// valid until the state is next changed: callers must not retain or modify it. (Appending to it
// is safe: its capacity equals its length.)
func (s *ListState[T]) Get() []T {
	slot := s.sc.slot(s.name)
	if int(slot) < len(s.lists) {
		l := s.lists[slot]
		return l[:len(l):len(l)]
	}
	return nil
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
		return
	}
	clear(l)
	s.lists[slot] = l[:0]
}
