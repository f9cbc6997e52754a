package flow

import (
	"fmt"
	"sync/atomic"
)

// TimeDomain says which clock a timer belongs to (Flink: TimeDomain).
type TimeDomain uint8

// The time domains.
const (
	// EventTimeDomain timers fire when the watermark reaches their time.
	EventTimeDomain TimeDomain = iota
	// ProcessingTimeDomain timers fire when the task's clock reaches their time.
	ProcessingTimeDomain
)

// String returns "event_time" or "processing_time".
func (d TimeDomain) String() string {
	if d == ProcessingTimeDomain {
		return "processing_time"
	}
	return "event_time"
}

// MarshalText encodes the domain as its String.
func (d TimeDomain) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// FiredTimer is the record of a dead letter whose OnTimer call failed: the key, the timer's time
// and its domain.
type FiredTimer[K comparable] struct {
	Key    K          `json:"key"`
	Time   int64      `json:"time"`
	Domain TimeDomain `json:"domain"`
}

// SideOutlet is one typed side output of a keyed process operator.
type SideOutlet struct {
	// ID is the output tag's id.
	ID string
	// Type names the element type, for error messages.
	Type string
	// Out is the port's Outlet[T], as any.
	Out any
	// Node is the same outlet, for control events.
	Node Node
}

// ProcessContext is the part of a KeyedProcess operator that user code reaches through the public
// KeyedContext: the current key, timestamp and time domain, the outputs and the timer service. It
// is only valid inside a call to the user's element or timer function.
type ProcessContext[K comparable, Out any] struct {
	Ctl
	Name  string
	T     *Task
	Out   Outlet[Out]
	Sides []SideOutlet
	State *KeyedState[K]

	evt, proc timerHeap
	key       K
	ts        int64
	domain    TimeDomain
	unrouted  atomic.Int64
	warned    map[string]bool
}

// Key returns the current key.
func (c *ProcessContext[K, Out]) Key() K { return c.key }

// Timestamp returns the current element's timestamp, or the firing timer's time.
func (c *ProcessContext[K, Out]) Timestamp() int64 { return c.ts }

// Domain returns the firing timer's time domain; EventTimeDomain for an element.
func (c *ProcessContext[K, Out]) Domain() TimeDomain { return c.domain }

// Emit sends v downstream with timestamp ts.
func (c *ProcessContext[K, Out]) Emit(ts int64, v Out) {
	c.active()
	c.Out.Collect(ts, v)
}

// Now returns the task's processing time.
func (c *ProcessContext[K, Out]) Now() int64 { return c.T.Clock.Now() }

// RegisterEventTimer schedules an event-time timer for the current key at ts. Registering the
// same (key, ts) again does nothing.
func (c *ProcessContext[K, Out]) RegisterEventTimer(ts int64) {
	slot := c.active()
	if c.evt.add(slot, ts) {
		c.State.holdTimer(slot)
	}
}

// RegisterProcTimer schedules a processing-time timer for the current key at ts and asks the task
// to wake up then. Registering the same (key, ts) again does nothing.
func (c *ProcessContext[K, Out]) RegisterProcTimer(ts int64) {
	slot := c.active()
	if c.proc.add(slot, ts) {
		c.State.holdTimer(slot)
		c.T.RequestProcTime(ts)
	}
}

// DeleteEventTimer cancels the current key's event-time timer at ts, if any.
func (c *ProcessContext[K, Out]) DeleteEventTimer(ts int64) {
	slot := c.active()
	if c.evt.remove(slot, ts) {
		c.State.dropTimer(slot)
	}
}

// DeleteProcTimer cancels the current key's processing-time timer at ts, if any. The task may
// still wake up at ts; nothing fires then.
func (c *ProcessContext[K, Out]) DeleteProcTimer(ts int64) {
	slot := c.active()
	if c.proc.remove(slot, ts) {
		c.State.dropTimer(slot)
	}
}

// EventTimers is the number of registered event-time timers.
func (c *ProcessContext[K, Out]) EventTimers() int { return c.evt.len() }

// ProcTimers is the number of registered processing-time timers.
func (c *ProcessContext[K, Out]) ProcTimers() int { return c.proc.len() }

// EachTimer calls f for every registered timer, in no particular order (for snapshots and tests).
func (c *ProcessContext[K, Out]) EachTimer(f func(k K, ts int64, d TimeDomain)) {
	for _, e := range c.evt.ents {
		if e.pos >= 0 {
			f(c.State.Key(e.slot), e.ts, EventTimeDomain)
		}
	}
	for _, e := range c.proc.ents {
		if e.pos >= 0 {
			f(c.State.Key(e.slot), e.ts, ProcessingTimeDomain)
		}
	}
}

// Side returns the side outlet with the given tag id and the current timestamp. Without a
// consumer for id it returns nil, counts the record (Unrouted) and logs the tag once at debug
// level: emitting to a tag nobody reads is allowed, as in Flink.
func (c *ProcessContext[K, Out]) Side(id string) (*SideOutlet, int64) {
	c.active()
	for i := range c.Sides {
		if c.Sides[i].ID == id {
			return &c.Sides[i], c.ts
		}
	}
	c.unrouted.Add(1)
	if !c.warned[id] {
		if c.warned == nil {
			c.warned = map[string]bool{}
		}
		c.warned[id] = true
		c.T.Logger.Debug("side output has no consumer: records emitted to it are counted and dropped",
			"operator", c.Name, "task", c.T.Name(), "tag", id)
	}
	return nil, c.ts
}

// Unrouted is the number of records emitted to side outputs that have no consumer.
func (c *ProcessContext[K, Out]) Unrouted() int64 { return c.unrouted.Load() }

// active returns the current slot; it panics outside user code.
func (c *ProcessContext[K, Out]) active() int32 {
	slot := c.State.cur
	if slot < 0 {
		panic(fmt.Errorf("operator %q: the process context was used outside ProcessElement/OnTimer", c.Name))
	}
	return slot
}

// KeyedProcess is the keyed process operator (Flink: KeyedProcessOperator): for every element it
// calls Element with the element's key current, so keyed state and timers refer to that key; when
// a timer fires it calls Timer the same way. Event-time timers fire in time order when the
// watermark reaches them, before the watermark goes downstream; processing-time timers fire from
// ProcTime. An error returned by user code, or a panic, sends the element (or a FiredTimer) to the
// dead-letter route; state changes made before it are kept, as are records already emitted.
type KeyedProcess[K comparable, In, Out any] struct {
	ProcessContext[K, Out]
	// Element handles one element; the context holds its key and timestamp.
	Element func(v In) error
	// Timer handles a firing timer; the context holds its key, time and domain.
	Timer func(ts int64) error
	// InitErr, when set, fails the task as soon as the operator is called: the user's constructor
	// failed or declared an invalid state.
	InitErr error

	// UID identifies the operator's state in checkpoints (StateUID).
	UID string
	// KeyCodec writes keys to checkpoints.
	KeyCodec Codec[K]
	// KeyCodecErr, when set, is why there is no KeyCodec (a key type that cannot be encoded):
	// checkpoints then fail with it, while runs without checkpoints are not affected.
	KeyCodecErr error

	hash     func(K) uint64 // assigns keys to key groups, as the KeyBy exchange does
	snapBufs [3][]byte      // buffers reused by SnapshotState
}

// NewKeyedProcess returns an operator with empty state; set Element and Timer before use.
func NewKeyedProcess[K comparable, In, Out any](name string, t *Task, out Outlet[Out]) *KeyedProcess[K, In, Out] {
	o := &KeyedProcess[K, In, Out]{}
	o.Ctl = NewCtl()
	o.Name, o.T, o.Out = name, t, out
	o.State = NewKeyedState[K](name)
	o.State.Clock = taskClock{t}
	o.hash = KeyHasher[K]()
	return o
}

// taskClock reads the task's clock when asked, so a clock set on the task after the operator was
// made is the one state TTL uses.
type taskClock struct{ t *Task }

func (c taskClock) Now() int64 { return c.t.Clock.Now() }

// Collect calls Element for the element with its key current.
func (o *KeyedProcess[K, In, Out]) Collect(ts int64, r Keyed[K, In]) {
	if o.InitErr != nil {
		Fail(o.InitErr)
	}
	slot := o.State.Enter(r.Key)
	o.key, o.ts, o.domain = r.Key, ts, EventTimeDomain
	o.element(ts, r.Value)
	if sp := o.State.spill; sp != nil {
		sp.Dirty(slot) // user code may have changed any state of the key
	}
	o.leave()
	if o.State.hasTTL() {
		o.State.sweepTTL(ttlSweepSlots)
	}
	if o.State.spill != nil {
		o.maybeEvict()
	}
}

func (o *KeyedProcess[K, In, Out]) element(ts int64, v In) {
	defer func() {
		if e := recover(); e != nil {
			o.T.Recovered(o.Name, e, ts, v)
		}
	}()
	if err := o.Element(v); err != nil {
		o.T.Failed(o.Name, err, ts, v)
	}
}

func (o *KeyedProcess[K, In, Out]) leave() {
	o.State.Leave()
	var zero K
	o.key = zero
}

// fire calls Timer for a timer popped from its queue.
func (o *KeyedProcess[K, In, Out]) fire(slot int32, ts int64, d TimeDomain) {
	o.State.dropTimer(slot)
	sp := o.State.spill
	if sp == nil {
		k := o.State.EnterSlot(slot)
		o.key, o.ts, o.domain = k, ts, d
		o.timer(k, ts, d)
		o.leave()
		return
	}
	// An evicted key's timer loads its state for the call without promoting it (the design's
	// "timers do not promote"): it goes back to the store afterwards unless there is room.
	loaded := !sp.IsResident(slot)
	if loaded {
		if err := sp.LoadSlot(o.State, slot, o.State.keys[slot]); err != nil {
			Fail(fmt.Errorf("operator %q: %w", o.Name, err))
		}
	}
	k := o.State.EnterSlot(slot)
	o.key, o.ts, o.domain = k, ts, d
	o.timer(k, ts, d)
	sp.Dirty(slot)
	o.leave()
	if loaded && sp.IsResident(slot) && sp.Resident() > sp.Budget {
		if err := sp.EvictKey(o.State, slot); err != nil {
			Fail(fmt.Errorf("operator %q: %w", o.Name, err))
		}
	}
}

func (o *KeyedProcess[K, In, Out]) timer(k K, ts int64, d TimeDomain) {
	defer func() {
		if e := recover(); e != nil {
			o.T.Recovered(o.Name, e, ts, FiredTimer[K]{Key: k, Time: ts, Domain: d})
		}
	}()
	if err := o.Timer(ts); err != nil {
		o.T.Failed(o.Name, fmt.Errorf("OnTimer (%s, %d): %w", d, ts, err), ts, FiredTimer[K]{Key: k, Time: ts, Domain: d})
	}
}

// Watermark fires the event-time timers at or before wm, in time order (timers registered by
// them fire too when due), then forwards wm to every output.
func (o *KeyedProcess[K, In, Out]) Watermark(wm int64) {
	if o.InitErr != nil {
		Fail(o.InitErr)
	}
	if !o.Advance(wm) {
		return
	}
	for o.evt.len() > 0 && o.evt.next() <= wm {
		slot, ts := o.evt.pop()
		o.fire(slot, ts, EventTimeDomain)
	}
	if o.State.spill != nil {
		o.maybeEvict()
	}
	o.Out.Watermark(wm)
	for i := range o.Sides {
		o.Sides[i].Node.Watermark(wm)
	}
}

// ProcTime fires the processing-time timers at or before now, asks to be woken for the next one,
// and forwards now.
func (o *KeyedProcess[K, In, Out]) ProcTime(now int64) {
	if o.InitErr != nil {
		Fail(o.InitErr)
	}
	for o.proc.len() > 0 && o.proc.next() <= now {
		slot, ts := o.proc.pop()
		o.fire(slot, ts, ProcessingTimeDomain)
	}
	if o.State.spill != nil {
		o.maybeEvict()
	}
	if o.proc.len() > 0 {
		o.T.RequestProcTime(o.proc.next())
	}
	o.Out.ProcTime(now)
	for i := range o.Sides {
		o.Sides[i].Node.ProcTime(now)
	}
}

// Idle forwards the status.
func (o *KeyedProcess[K, In, Out]) Idle(idle bool) {
	if o.InitErr != nil {
		Fail(o.InitErr)
	}
	if o.SetIdle(idle) {
		o.Out.Idle(idle)
		for i := range o.Sides {
			o.Sides[i].Node.Idle(idle)
		}
	}
}

// Finish forwards end of input once. Timers still pending do not fire (after a bounded input the
// +∞ watermark has fired every event-time timer; processing-time timers are dropped, as in
// Flink); they are logged at debug level.
func (o *KeyedProcess[K, In, Out]) Finish() {
	if o.InitErr != nil {
		Fail(o.InitErr)
	}
	if !o.MarkFinished() {
		return
	}
	if n, m := o.evt.len(), o.proc.len(); n+m > 0 {
		o.T.Logger.Debug("timers pending at end of input do not fire", "operator", o.Name, "task", o.T.Name(),
			"event_time", n, "processing_time", m)
	}
	o.Out.Finish()
	for i := range o.Sides {
		o.Sides[i].Node.Finish()
	}
}

// timerHeap is a priority queue of (slot, time) timers with deduplication and deletion (Flink's
// HeapPriorityQueueSet): a binary heap of entry ids ordered by time, then registration order;
// entries live in a slab and know their heap position, so a deletion finds its entry by map and
// moves nothing but heap ids. Slab entries are reused: steady state allocates nothing.
type timerHeap struct {
	heap  []int32
	ents  []timerEnt
	free  []int32
	index map[timerID]int32
	seq   uint64
}

type timerID struct {
	ts   int64
	slot int32
}

type timerEnt struct {
	ts   int64
	seq  uint64
	slot int32
	pos  int32 // index in heap; -1 when free
}

func (h *timerHeap) len() int { return len(h.heap) }

// next returns the earliest time, MaxTime when empty.
func (h *timerHeap) next() int64 {
	if len(h.heap) == 0 {
		return MaxTime
	}
	return h.ents[h.heap[0]].ts
}

// add registers (slot, ts) and reports whether it was new.
func (h *timerHeap) add(slot int32, ts int64) bool {
	id := timerID{ts: ts, slot: slot}
	if _, dup := h.index[id]; dup {
		return false
	}
	if h.index == nil {
		h.index = map[timerID]int32{}
	}
	var e int32
	if n := len(h.free); n > 0 {
		e = h.free[n-1]
		h.free = h.free[:n-1]
	} else {
		e = int32(len(h.ents))
		h.ents = append(h.ents, timerEnt{})
	}
	h.seq++
	h.ents[e] = timerEnt{ts: ts, seq: h.seq, slot: slot, pos: int32(len(h.heap))}
	h.index[id] = e
	h.heap = append(h.heap, e)
	h.up(len(h.heap) - 1)
	return true
}

// remove deletes (slot, ts) and reports whether it was registered.
func (h *timerHeap) remove(slot int32, ts int64) bool {
	id := timerID{ts: ts, slot: slot}
	e, ok := h.index[id]
	if !ok {
		return false
	}
	h.removeAt(int(h.ents[e].pos))
	return true
}

// pop removes the earliest timer.
func (h *timerHeap) pop() (slot int32, ts int64) {
	e := h.ents[h.heap[0]]
	h.removeAt(0)
	return e.slot, e.ts
}

func (h *timerHeap) removeAt(i int) {
	e := h.heap[i]
	last := len(h.heap) - 1
	if i != last {
		h.swap(i, last)
	}
	h.heap = h.heap[:last]
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
	ent := &h.ents[e]
	delete(h.index, timerID{ts: ent.ts, slot: ent.slot})
	*ent = timerEnt{pos: -1}
	h.free = append(h.free, e)
}

func (h *timerHeap) less(i, j int) bool {
	a, b := &h.ents[h.heap[i]], &h.ents[h.heap[j]]
	return a.ts < b.ts || a.ts == b.ts && a.seq < b.seq
}

func (h *timerHeap) swap(i, j int) {
	h.heap[i], h.heap[j] = h.heap[j], h.heap[i]
	h.ents[h.heap[i]].pos = int32(i)
	h.ents[h.heap[j]].pos = int32(j)
}

func (h *timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// down sifts i down and reports whether it moved.
func (h *timerHeap) down(i int) bool {
	start, n := i, len(h.heap)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && h.less(r, l) {
			c = r
		}
		if !h.less(c, i) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > start
}
