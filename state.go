package sluice

import (
	"iter"

	"github.com/sluicehq/sluice/internal/flow"
)

// StateStore declares the keyed state of one subtask of a Process operator (Flink: the
// RuntimeContext's getState, getMapState, getListState). Process passes one to the constructor of
// the process function, once per subtask; declare every state there and keep the handles:
//
//	count := sluice.NewValueState[int64](s, "count")
//
// State names must be unique per operator: a duplicate fails the pipeline when it starts, with an
// error naming the operator and the state. Declaring a state after the constructor has returned
// panics. The store keeps state in memory (the default backend): every access is an index into a
// per-key slot, with no serialization and no allocation in steady state.
type StateStore struct {
	sc *flow.StateScope
}

// scope returns the store's scope, panicking with a clear message for a nil store.
func (s *StateStore) scope() *flow.StateScope {
	if s == nil || s.sc == nil {
		panic("sluice: declare keyed state with the *StateStore that sluice.Process passes to the constructor")
	}
	return s.sc
}

// ValueState is a keyed state holding one value of type T per key (Flink: ValueState). Its methods
// read and write the value of the current key, so they may be called only from ProcessElement and
// OnTimer; elsewhere they panic with an error that names the operator and the state. A key's value
// is unset until Update.
type ValueState[T any] struct {
	s *flow.ValueState[T]
}

// NewValueState declares a value state named name (unique within the operator).
func NewValueState[T any](s *StateStore, name string) ValueState[T] {
	return ValueState[T]{flow.NewValueState[T](s.scope(), name)}
}

// Value returns the current key's value and whether it is set (Flink: value(), which returns null
// when unset).
func (v ValueState[T]) Value() (T, bool) { return v.s.Value() }

// Update sets the current key's value.
func (v ValueState[T]) Update(x T) { v.s.Update(x) }

// Clear unsets the current key's value.
func (v ValueState[T]) Clear() { v.s.Clear() }

// MapState is a keyed state holding a map from UK to UV per key (Flink: MapState). Like every
// state handle it refers to the current key and may be used only from ProcessElement and OnTimer.
// A key's map is empty until Put.
type MapState[UK comparable, UV any] struct {
	s *flow.MapState[UK, UV]
}

// NewMapState declares a map state named name (unique within the operator).
func NewMapState[UK comparable, UV any](s *StateStore, name string) MapState[UK, UV] {
	return MapState[UK, UV]{flow.NewMapState[UK, UV](s.scope(), name)}
}

// Get returns the value of k and whether it is present.
func (m MapState[UK, UV]) Get(k UK) (UV, bool) { return m.s.Get(k) }

// Put sets the value of k.
func (m MapState[UK, UV]) Put(k UK, v UV) { m.s.Put(k, v) }

// Remove deletes k; it does nothing when k is absent.
func (m MapState[UK, UV]) Remove(k UK) { m.s.Remove(k) }

// Contains reports whether k is present.
func (m MapState[UK, UV]) Contains(k UK) bool { return m.s.Contains(k) }

// Len is the number of entries.
func (m MapState[UK, UV]) Len() int { return m.s.Len() }

// All iterates over the current key's entries in no particular order (Flink: entries()). The loop
// body may Remove entries; entries it Puts may or may not be visited.
func (m MapState[UK, UV]) All() iter.Seq2[UK, UV] { return m.s.All() }

// Clear removes every entry of the current key.
func (m MapState[UK, UV]) Clear() { m.s.Clear() }

// ListState is a keyed state holding a list of T per key (Flink: ListState). Like every state
// handle it refers to the current key and may be used only from ProcessElement and OnTimer. A
// key's list is empty until Add or Update.
type ListState[T any] struct {
	s *flow.ListState[T]
}

// NewListState declares a list state named name (unique within the operator).
func NewListState[T any](s *StateStore, name string) ListState[T] {
	return ListState[T]{flow.NewListState[T](s.scope(), name)}
}

// Add appends v to the current key's list.
func (l ListState[T]) Add(v T) { l.s.Add(v) }

// Get returns the current key's list (nil when empty). The slice is the state's own storage and
// stays valid only until the state next changes: do not retain or modify it; copy it to keep it.
func (l ListState[T]) Get() []T { return l.s.Get() }

// Update replaces the current key's list by a copy of vs; an empty vs clears it.
func (l ListState[T]) Update(vs []T) { l.s.Update(vs) }

// Clear empties the current key's list.
func (l ListState[T]) Clear() { l.s.Clear() }
