package sluice

import (
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/state/codec"
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
//
// # Checkpoints
//
// With checkpoints, every key's states and pending timers are written (values encoded by package
// state/codec) and a restore, with the same or another parallelism, brings them back. States are
// matched by name, so declarations may be reordered or added between versions of a pipeline; a
// checkpoint holding a state that is no longer declared, or is declared with another kind (value,
// map, list), cannot be restored, and the error names the state. Changing a state's type is not
// detected: the restore then fails to decode it or misreads it. A type state/codec cannot encode
// (an unexported struct field, a function …) is fine in a pipeline that never checkpoints; with
// checkpoints, the first one fails with an error naming the operator, the state and the type.
//
// # Time to live
//
// StateTTL gives a state's entries a time to live; see there.
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

// NewValueState declares a value state named name (unique within the operator). Options:
// StateTTL, StateTTLOnReadAndWrite.
func NewValueState[T any](s *StateStore, name string, opts ...StateOption) ValueState[T] {
	st := flow.NewValueState[T](s.scope(), name)
	c, err := codec.For[T]()
	st.SetCodec(c, err)
	if ttl, ok := stateTTL(s.sc, "value", name, opts); ok {
		st.SetTTL(ttl)
	}
	return ValueState[T]{st}
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

// NewMapState declares a map state named name (unique within the operator). Options: StateTTL
// (each entry has its own time to live), StateTTLOnReadAndWrite.
func NewMapState[UK comparable, UV any](s *StateStore, name string, opts ...StateOption) MapState[UK, UV] {
	st := flow.NewMapState[UK, UV](s.scope(), name)
	kc, kerr := codec.For[UK]()
	vc, verr := codec.For[UV]()
	st.SetCodecs(kc, vc, errors.Join(kerr, verr))
	if ttl, ok := stateTTL(s.sc, "map", name, opts); ok {
		st.SetTTL(ttl)
	}
	return MapState[UK, UV]{st}
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

// NewListState declares a list state named name (unique within the operator). Options: StateTTL
// (each element has its own time to live), StateTTLOnReadAndWrite.
func NewListState[T any](s *StateStore, name string, opts ...StateOption) ListState[T] {
	st := flow.NewListState[T](s.scope(), name)
	c, err := codec.For[T]()
	st.SetCodec(c, err)
	if ttl, ok := stateTTL(s.sc, "list", name, opts); ok {
		st.SetTTL(ttl)
	}
	return ListState[T]{st}
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

// StateOption configures a state declaration (NewValueState, NewMapState, NewListState).
type StateOption func(*stateOptions)

type stateOptions struct {
	ttl           time.Duration
	hasTTL        bool
	readAndWrite  bool
	hasReadUpdate bool
}

// StateTTL gives the state's entries a time to live (Flink: StateTtlConfig): the value of a
// ValueState, each entry of a MapState and each element of a ListState expires ttl of processing
// time after it was created or last written (Flink's default update type, OnCreateAndWrite; see
// StateTTLOnReadAndWrite). An expired entry is never returned (Flink's NeverReturnExpired): Value
// reports it unset, Get and Contains absent, Len, All and ListState.Get leave it out.
//
// As in Flink, only processing time is supported: the task's clock (the wall clock, or the fake
// clock of sluicetest), with millisecond precision (a ttl is rounded up to whole milliseconds;
// zero or negative fails the pipeline when it starts). The timestamps of entries are kept in
// checkpoints, so an entry expires at the same time whether or not the pipeline restarted in
// between (provided the clock is the same).
//
// Expired entries are removed when they are read, by a background sweep that visits a few keys
// after each element (so keys never seen again are reclaimed too, with their slot once no state
// and no timer is left), and at every checkpoint. TTL costs a timestamp per entry and a clock read
// per state access; states without it are unaffected.
//
//	session := sluice.NewValueState[Session](s, "session", sluice.StateTTL(30*time.Minute))
func StateTTL(ttl time.Duration) StateOption {
	return func(o *stateOptions) { o.ttl, o.hasTTL = ttl, true }
}

// StateTTLOnReadAndWrite makes reads restart an entry's time to live too (Flink's update type
// OnReadAndWrite): Value, Get, Contains, and every entry All visits or ListState.Get returns. It
// requires StateTTL.
func StateTTLOnReadAndWrite() StateOption {
	return func(o *stateOptions) { o.readAndWrite, o.hasReadUpdate = true, true }
}

// stateTTL reads the TTL options of a declaration; ok is false without a TTL. A misconfiguration
// is recorded as a declaration error, which fails the operator when it starts.
func stateTTL(sc *flow.StateScope, kind, name string, opts []StateOption) (flow.TTL, bool) {
	var o stateOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.hasReadUpdate && !o.hasTTL {
		sc.Err = errors.Join(sc.Err, fmt.Errorf("operator %q: %s state %q: StateTTLOnReadAndWrite needs StateTTL", sc.Operator, kind, name))
	}
	if !o.hasTTL {
		return flow.TTL{}, false
	}
	ms := int64(o.ttl / time.Millisecond)
	if o.ttl%time.Millisecond > 0 {
		ms++
	}
	return flow.TTL{Millis: ms, RefreshOnRead: o.readAndWrite}, true
}
