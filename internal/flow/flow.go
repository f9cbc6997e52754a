// Package flow is the typed core of the runtime: the collector and control interfaces that
// chained operators implement, the task context each subtask owns, the operators themselves
// (stateless, windows, keyed process), the timer service and the exchanges between stages.
//
// Records travel by direct method calls inside a task (a chain) and in batches over bounded
// channels between tasks (an exchange). A task is single-threaded: its operators own their state
// and timers, so nothing here takes a lock on the record path.
//
// With the Pebble state backend, keyed operators keep their hot keys in memory and evict cold
// ones to a SpillStore (spill.go). Their timers stay in memory. The window operator rebuilds
// timers from the windows on restore, so a checkpoint also writes, for each timer of an evicted
// key, a stub record (its key, domain and time: winop_spill.go); the keyed process operator
// writes an evicted key with timers as a stub with its timers (process_spill.go).
//
// The package sits below the public DSL: the DSL builds typed operator factories from these types,
// and internal/runtime schedules the tasks. It imports only the leaf semantics packages.
//
// State backends: keyed operators keep their state in memory; with a spill store (Spiller: the
// Pebble backend) they keep their hot keys in memory and their cold ones in the store (spill.go).
// Timers of cold keys stay in memory: KeyedProcess keeps an evicted key's slot as a stub with its
// timers (process_spill.go); SliceWindowOp moves an evicted key's wake into a (time, key) queue
// and writes those wakes into its checkpoints, so they survive a restore without reading the
// store (slicing_spill.go).
package flow

import "math"

// MinTime and MaxTime bound watermarks and timestamps (epoch ms).
const (
	MinTime int64 = math.MinInt64
	MaxTime int64 = math.MaxInt64
)

// Collector receives records of type T with their event timestamps (epoch ms).
type Collector[T any] interface {
	Collect(ts int64, v T)
}

// Node receives a task's control events. Every operator forwards them downstream after acting on
// them: a watermark first fires due event-time timers, processing time fires due processing-time
// timers, and Finish (end of input) flushes. Watermarks that do not advance and repeated Finish
// calls are ignored, since a node with several in-task inputs hears them more than once.
type Node interface {
	Watermark(wm int64)
	Idle(idle bool)
	ProcTime(now int64)
	Finish()
}

// Outlet is the input side of an operator: records and control.
type Outlet[T any] interface {
	Collector[T]
	Node
}

// Ctl is the bookkeeping every operator embeds: the last watermark and whether it finished.
type Ctl struct {
	WM       int64
	finished bool
	idle     bool
}

// NewCtl returns control state before any watermark.
func NewCtl() Ctl { return Ctl{WM: MinTime} }

// Advance records wm and reports whether it moved forward.
func (c *Ctl) Advance(wm int64) bool {
	if wm <= c.WM {
		return false
	}
	c.WM = wm
	return true
}

// MarkFinished reports whether this is the first Finish.
func (c *Ctl) MarkFinished() bool {
	if c.finished {
		return false
	}
	c.finished = true
	return true
}

// SetIdle records the idle status and reports whether it changed.
func (c *Ctl) SetIdle(idle bool) bool {
	if c.idle == idle {
		return false
	}
	c.idle = idle
	return true
}

// Tee fans records and control out to several outlets.
type Tee[T any] struct {
	outs []Outlet[T]
}

// NewOutlet combines consumers into one outlet: Discard for none, the consumer itself for one, a
// Tee for several.
func NewOutlet[T any](outs []Outlet[T]) Outlet[T] {
	switch len(outs) {
	case 0:
		return Discard[T]{}
	case 1:
		return outs[0]
	}
	return &Tee[T]{outs: outs}
}

// Collect forwards to every outlet.
func (t *Tee[T]) Collect(ts int64, v T) {
	for _, o := range t.outs {
		o.Collect(ts, v)
	}
}

// Watermark forwards.
func (t *Tee[T]) Watermark(wm int64) {
	for _, o := range t.outs {
		o.Watermark(wm)
	}
}

// Idle forwards.
func (t *Tee[T]) Idle(idle bool) {
	for _, o := range t.outs {
		o.Idle(idle)
	}
}

// ProcTime forwards.
func (t *Tee[T]) ProcTime(now int64) {
	for _, o := range t.outs {
		o.ProcTime(now)
	}
}

// Finish forwards.
func (t *Tee[T]) Finish() {
	for _, o := range t.outs {
		o.Finish()
	}
}

// Discard drops records of a stream that nobody consumes (a main output without consumers; side
// outputs are never discarded silently: their operators count what they route there).
type Discard[T any] struct{}

// Collect drops v.
func (Discard[T]) Collect(int64, T) {}

// Watermark ignores wm.
func (Discard[T]) Watermark(int64) {}

// Idle ignores the status.
func (Discard[T]) Idle(bool) {}

// ProcTime ignores now.
func (Discard[T]) ProcTime(int64) {}

// Finish does nothing.
func (Discard[T]) Finish() {}

// IsDiscard reports whether an outlet drops everything.
func IsDiscard[T any](o Outlet[T]) bool {
	_, ok := o.(Discard[T])
	return ok
}

// Keyed is a record of a keyed stream: the key computed once at the exchange, and the value.
type Keyed[K comparable, T any] struct {
	Key   K
	Value T
}
