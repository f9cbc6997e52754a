package flow

import (
	"encoding/binary"
	"fmt"

	"github.com/sluicehq/sluice/window"
)

// SliceWindowOp is the window operator for tumbling and sliding windows under the plain
// event-time trigger with accumulating panes (no early firings, no count trigger, not
// discarding), with allowed lateness. Its results are those of WindowOp for the same Spec; what
// differs is the cost: an element updates one pre-aggregated slice, whatever size/slide is.
//
// Each key keeps slices [start, start+gcd(size, slide)) with one accumulator each, sorted by
// start. Every window is a union of whole slices; when the watermark reaches a window's end-1 its
// pane is the Merge of its slices (a tumbling window is a single slice and is never merged).
// Only windows holding at least one non-empty slice fire, exactly as the general operator, where
// a window exists only once an element reached it.
//
// Timers are chained: a key has one armed timer (its next "wake"), registered when a new slice
// needs an earlier wake (the superseded one stays queued and is ignored when it pops) or when the
// previous wake has run, so registrations cost O(1) per slice and per fired window, never
// size/slide per element; timers hold slot numbers, not keys. A wake fires the window ending there,
// flushes late panes held back by LateEveryCount, purges the slices no live window needs any more
// (lazily: purging is invisible), and schedules the next wake.
//
// Lateness is decided per window, as in WindowOp: an element late for some of its windows updates
// its slice and re-fires the windows that are past their end but within allowed lateness as LATE
// panes (pane index continues after the ON_TIME pane when there was one); it goes to Late only
// when it is too late for every window it belongs to.
type SliceWindowOp[K comparable, In, Acc any] struct {
	Ctl
	Name string
	T    *Task
	Spec window.Spec
	// Agg folds elements into slices; its Merge combines the slices of a sliding window.
	Agg Accumulator[In, Acc]
	// Fire emits one pane downstream.
	Fire func(k K, w window.Window, p window.Pane, acc Acc)
	// Out receives control after the panes a watermark fires.
	Out Node
	// Late receives elements too late for every window; Discard counts them only.
	Late Outlet[LateElement[K, In]]
	// State holds the UID and codecs for checkpoints.
	State StateCodecs[K, Acc]

	size, slide, offset, sl int64 // window size, slide, offset and slice length, in ms

	index map[K]int32
	hot   []swHot[Acc] // by slot
	slots []swKey[K, Acc]
	free  []int32
	wakes TimerQueue[int32] // slot wakes; a wake is stale unless it equals the slot's armed wake
}

// swSlice is one pre-aggregated slice of one key.
type swSlice[Acc any] struct {
	start int64 // the slice is [start, start+sl)
	last  int64 // end of the last window that contains the slice
	born  int64 // the watermark when the slice got its first element
	acc   Acc
}

// swLate is the pane state of a window that received elements after its end: only such windows
// need one; every other window's pane is ON_TIME with index 0.
type swLate struct {
	end       int64
	panes     int // panes fired so far: the next pane's index
	lateCount int // late elements since the last pane
}

// swHot is the part of a key's state that nearly every element touches: its newest slice. It
// lives in an array of its own, apart from the rest of the key's state (swKey), so that the
// common update touches one small entry and the working set of many keys stays cache-sized.
type swHot[Acc any] struct {
	swSlice[Acc]
	has bool
}

// swKey is the rest of a key's state, touched by new slices, late elements and wakes.
type swKey[K comparable, Acc any] struct {
	key   K
	older []swSlice[Acc] // sorted by start, all before the newest
	late  []swLate
	wake  int64 // the armed wake, when armed
	armed bool
}

// swSlices views a key's slices in start order: its older slices, then its newest.
type swSlices[Acc any] struct {
	hot   *swHot[Acc]
	older *[]swSlice[Acc]
}

func (o *SliceWindowOp[K, In, Acc]) slices(slot int32) swSlices[Acc] {
	return swSlices[Acc]{hot: &o.hot[slot], older: &o.slots[slot].older}
}

func (s swSlices[Acc]) len() int {
	if !s.hot.has {
		return 0
	}
	return len(*s.older) + 1
}

// at returns the i-th slice in start order.
func (s swSlices[Acc]) at(i int) *swSlice[Acc] {
	if i == len(*s.older) {
		return &s.hot.swSlice
	}
	return &(*s.older)[i]
}

// insert puts v at index i in start order (0 <= i <= len).
func (s swSlices[Acc]) insert(i int, v swSlice[Acc]) {
	switch {
	case !s.hot.has:
		s.hot.swSlice, s.hot.has = v, true
	case i > len(*s.older):
		*s.older = append(*s.older, s.hot.swSlice)
		s.hot.swSlice = v
	default:
		*s.older = append(*s.older, swSlice[Acc]{})
		copy((*s.older)[i+1:], (*s.older)[i:])
		(*s.older)[i] = v
	}
}

// dropFront removes the first m slices.
func (s swSlices[Acc]) dropFront(m int) {
	if m >= s.len() {
		s.reset()
		return
	}
	k := copy(*s.older, (*s.older)[m:])
	clear((*s.older)[k:])
	*s.older = (*s.older)[:k]
}

func (s swSlices[Acc]) reset() {
	clear(*s.older)
	*s.older = (*s.older)[:0]
	*s.hot = swHot[Acc]{}
}

// SupportsSlicing reports whether SliceWindowOp can run spec: a tumbling or sliding window with
// the event-time trigger, no early firings, no count trigger and accumulating panes.
func SupportsSlicing(spec window.Spec) bool {
	k := spec.Assigner.Kind()
	return (k == window.KindTumbling || k == window.KindSliding) && spec.EarlyAfter == 0 && spec.Count == 0 && !spec.Discarding
}

// Init prepares the operator's state. It panics when the Spec needs the general operator (see
// SupportsSlicing): that is a planning bug, not a user error.
func (o *SliceWindowOp[K, In, Acc]) Init() {
	if !SupportsSlicing(o.Spec) {
		panic(fmt.Sprintf("flow: SliceWindowOp %q cannot run %s windows with early, count or discarding triggers", o.Name, o.Spec.Assigner.Kind()))
	}
	o.Ctl = NewCtl()
	o.index = make(map[K]int32)
	a := o.Spec.Assigner
	o.size, o.slide, o.offset, o.sl = a.Size(), a.Slide(), a.Offset(), a.SliceLen()
}

// Keys is the number of keys holding window state.
func (o *SliceWindowOp[K, In, Acc]) Keys() int { return len(o.index) }

// Slices is the number of slices held over all keys (for tests and metrics).
func (o *SliceWindowOp[K, In, Acc]) Slices() int {
	n := 0
	for _, s := range o.index {
		n += o.slices(s).len()
	}
	return n
}

// Collect adds the element to its slice, fires LATE panes of the windows it arrives late for,
// and routes it to Late when it is too late for all of them.
func (o *SliceWindowOp[K, In, Acc]) Collect(ts int64, r Keyed[K, In]) {
	defer func() {
		if e := recover(); e != nil {
			o.T.Recovered(o.Name, e, ts, r.Value)
		}
	}()
	slot, ok := o.index[r.Key]
	if ok {
		if s := &o.hot[slot]; s.has {
			if ts >= s.start && ts-s.start < o.sl { // the newest slice: the common case
				if o.Spec.IsLate(o.win(s.last), o.WM) {
					o.late(ts, r, s.last)
					return
				}
				s.acc = o.Agg.Add(r.Value, s.acc)
				if s.start+o.sl-1 <= o.WM {
					o.fireLate(slot, s.start, s.last)
				}
				return
			}
		}
	}
	start := ts - floorMod(ts-o.offset, o.sl)
	last := o.lastEnd(start)
	if o.Spec.IsLate(o.win(last), o.WM) {
		o.late(ts, r, last)
		return
	}
	if !ok {
		slot = o.slotFor(r.Key)
	}
	i, isNew := o.sliceIndex(slot, start, last)
	if isNew {
		o.armNewSlice(slot, start, last) // before Add: a panicking Add must not leak the slice
	}
	s := o.slices(slot).at(i)
	s.acc = o.Agg.Add(r.Value, s.acc)
	if start+o.sl-1 <= o.WM {
		o.fireLate(slot, start, last)
	}
}

func (o *SliceWindowOp[K, In, Acc]) win(end int64) window.Window {
	return window.Window{Start: end - o.size, End: end}
}

// lastEnd is the end of the last window containing the slice that starts at start.
func (o *SliceWindowOp[K, In, Acc]) lastEnd(start int64) int64 {
	return start - floorMod(start-o.offset, o.slide) + o.size
}

// firstEnd is the end of the first window containing the slice that starts at start: the first
// window start after start-size.
func (o *SliceWindowOp[K, In, Acc]) firstEnd(start int64) int64 {
	x := start - o.size + o.sl
	return x + floorMod(o.offset-x, o.slide) + o.size
}

// cleanup is the watermark at which the window ending at end is purged (Spec.CleanupTime).
func (o *SliceWindowOp[K, In, Acc]) cleanup(end int64) int64 { return o.Spec.CleanupTime(o.win(end)) }

func (o *SliceWindowOp[K, In, Acc]) late(ts int64, r Keyed[K, In], last int64) {
	w := o.win(last)
	o.T.Counters.Late.Add(1)
	o.Late.Collect(ts, LateElement[K, In]{Key: r.Key, Value: r.Value, Timestamp: ts, Watermark: o.WM, Window: w,
		Reason: fmt.Sprintf("too late: window %v closed at watermark %d (allowed lateness %dms)", w, o.WM, o.Spec.AllowedLateness)})
}

func (o *SliceWindowOp[K, In, Acc]) slotFor(k K) int32 {
	var s int32
	if n := len(o.free); n > 0 {
		s = o.free[n-1]
		o.free = o.free[:n-1]
	} else {
		s = int32(len(o.slots))
		o.slots = append(o.slots, swKey[K, Acc]{})
		o.hot = append(o.hot, swHot[Acc]{})
	}
	o.slots[s].key = k
	o.index[k] = s
	return s
}

// sliceIndex finds or inserts, in start order, the slice starting at start.
func (o *SliceWindowOp[K, In, Acc]) sliceIndex(slot int32, start, last int64) (int, bool) {
	ss := o.slices(slot)
	n := ss.len()
	i := n
	for i > 0 && ss.at(i-1).start >= start {
		i--
	}
	if i < n && ss.at(i).start == start {
		return i, false
	}
	ss.insert(i, swSlice[Acc]{start: start, last: last, born: o.WM, acc: o.Agg.CreateAccumulator()})
	return i, true
}

// armNewSlice makes sure the key wakes for the first window of a new slice that is still to fire
// on time, or, when every window of the slice is already past, before its state could leak.
func (o *SliceWindowOp[K, In, Acc]) armNewSlice(slot int32, start, last int64) {
	e := o.firstEnd(start)
	if e-1 <= o.WM { // the first windows are past: the first end after the watermark
		x := o.WM + 2
		e = x + floorMod(o.offset+o.size-x, o.slide)
	}
	ks := &o.slots[slot]
	switch {
	case e <= last:
		o.arm(slot, e-1)
	case !ks.armed: // only late windows: stay alive until the slice may be purged
		o.arm(slot, o.cleanup(last))
	}
}

// arm schedules a wake of the slot at t unless an earlier one is armed.
func (o *SliceWindowOp[K, In, Acc]) arm(slot int32, t int64) {
	ks := &o.slots[slot]
	if ks.armed && ks.wake <= t {
		return
	}
	ks.armed, ks.wake = true, t
	o.wakes.Add(t, slot)
}

// fireLate handles an element of the slice [start, start+sl) for the windows already past their
// end but within allowed lateness: each counts a late element and fires a LATE pane every
// LateEveryCount of them.
func (o *SliceWindowOp[K, In, Acc]) fireLate(slot int32, start, last int64) {
	for e := o.firstEnd(start); e <= last && e-1 <= o.WM; e += o.slide {
		if o.Spec.IsLate(o.win(e), o.WM) {
			continue
		}
		ks := &o.slots[slot]
		j := o.lateIndex(slot, e)
		lw := &ks.late[j]
		lw.lateCount++
		if lw.lateCount >= o.Spec.LateEveryCount {
			o.firePane(slot, e, window.Late, lw)
		} else {
			o.arm(slot, o.cleanup(e)) // flush the held-back pane when the window is purged
		}
	}
}

// lateIndex finds or creates the pane state of the window ending at end. A new one starts after
// the ON_TIME pane if the window had one: if one of its slices existed before the watermark
// passed its end.
func (o *SliceWindowOp[K, In, Acc]) lateIndex(slot int32, end int64) int {
	ks := &o.slots[slot]
	for j := range ks.late {
		if ks.late[j].end == end {
			return j
		}
	}
	lw := swLate{end: end}
	ss := o.slices(slot)
	for i, n := 0, ss.len(); i < n; i++ {
		s := ss.at(i)
		if s.start >= end {
			break
		}
		if s.start >= end-o.size && s.born < end-1 {
			lw.panes = 1
			break
		}
	}
	ks.late = append(ks.late, lw)
	return len(ks.late) - 1
}

// firePane emits the window ending at end, merged from its slices, if it holds any.
func (o *SliceWindowOp[K, In, Acc]) firePane(slot int32, end int64, t window.Timing, lw *swLate) {
	ks := &o.slots[slot]
	start := end - o.size
	var acc Acc
	found := false
	ss := o.slices(slot)
	for i, n := 0, ss.len(); i < n; i++ {
		s := ss.at(i)
		if s.start < start {
			continue
		}
		if s.start >= end {
			break
		}
		if found {
			acc = o.Agg.Merge(acc, s.acc)
		} else {
			acc, found = s.acc, true
		}
	}
	if !found {
		return
	}
	p := window.Pane{Timing: t}
	if lw != nil {
		p.Index = lw.panes
		lw.panes++
		lw.lateCount = 0
	}
	o.Fire(ks.key, window.Window{Start: start, End: end}, p, acc)
}

// Watermark fires the windows the watermark completes, purges expired slices, and forwards it.
func (o *SliceWindowOp[K, In, Acc]) Watermark(wm int64) {
	if !o.Advance(wm) {
		return
	}
	for o.wakes.Len() > 0 && o.wakes.Next() <= wm {
		t, slots := o.wakes.Pop()
		for _, s := range slots {
			o.wake(s, t)
		}
		o.wakes.Recycle(slots)
	}
	o.Out.Watermark(wm)
	o.Late.Watermark(wm)
}

// wake runs a key's chained timer at t: the ON_TIME pane of the window ending at t+1, the LATE
// panes held back until their window's cleanup, the purge, and the next wake.
func (o *SliceWindowOp[K, In, Acc]) wake(slot int32, t int64) {
	ks := &o.slots[slot]
	if !ks.armed || ks.wake != t {
		return // stale: superseded by an earlier wake, or the slot was released
	}
	ks.armed = false
	if t < MaxTime && floorMod(t+1-o.offset-o.size, o.slide) == 0 {
		o.firePane(slot, t+1, window.OnTime, nil)
	}
	ks = &o.slots[slot]
	if len(ks.late) > 0 {
		kept := ks.late[:0]
		for _, lw := range ks.late {
			if o.cleanup(lw.end) <= t {
				if lw.lateCount > 0 {
					o.firePane(slot, lw.end, window.Late, &lw)
				}
				continue
			}
			kept = append(kept, lw)
		}
		ks = &o.slots[slot]
		clear(ks.late[len(kept):])
		ks.late = kept
	}
	ss := o.slices(slot)
	n, all := 0, ss.len()
	for n < all && o.cleanup(ss.at(n).last) <= t {
		n++
	}
	if n > 0 {
		ss.dropFront(n)
	}
	if !ss.hot.has {
		o.release(slot)
		return
	}
	o.arm(slot, o.nextWake(slot, t))
}

// nextWake is the earliest of: the end-1 of the next window after t that holds a slice, the
// cleanup of a window holding back a LATE pane, and, when no window is left to fire on time, the
// time when every slice may be purged.
func (o *SliceWindowOp[K, In, Acc]) nextWake(slot int32, t int64) int64 {
	ks, ss := &o.slots[slot], o.slices(slot)
	next := MaxTime
	onTime := false
	if t < MaxTime-1 {
		x := t + 2
		e0 := x + floorMod(o.offset+o.size-x, o.slide) // the first window end after t+1
		for i, n := 0, ss.len(); i < n; i++ {
			if s := ss.at(i); s.start >= e0-o.size {
				next, onTime = max(e0, o.firstEnd(s.start))-1, true
				break
			}
		}
	}
	for _, lw := range ks.late {
		if lw.lateCount > 0 {
			next = min(next, o.cleanup(lw.end))
		}
	}
	if !onTime {
		next = min(next, o.cleanup(ss.hot.last))
	}
	return next
}

func (o *SliceWindowOp[K, In, Acc]) release(slot int32) {
	ks := &o.slots[slot]
	delete(o.index, ks.key)
	var zero K
	ks.key = zero
	clear(ks.late)
	ks.late = ks.late[:0]
	o.slices(slot).reset()
	ks.armed = false
	o.free = append(o.free, slot)
}

// ProcTime forwards: the event-time trigger has no processing-time timers.
func (o *SliceWindowOp[K, In, Acc]) ProcTime(now int64) {
	o.Out.ProcTime(now)
	o.Late.ProcTime(now)
}

// Idle forwards the status.
func (o *SliceWindowOp[K, In, Acc]) Idle(idle bool) {
	if o.SetIdle(idle) {
		o.Out.Idle(idle)
		o.Late.Idle(idle)
	}
}

// Finish forwards end of input once.
func (o *SliceWindowOp[K, In, Acc]) Finish() {
	if o.MarkFinished() {
		o.Out.Finish()
		o.Late.Finish()
	}
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// Timers is the number of scheduled wakes, stale ones included (for tests and metrics).
func (o *SliceWindowOp[K, In, Acc]) Timers() int { return o.wakes.Len() }

// StateUID is the operator's UID.
func (o *SliceWindowOp[K, In, Acc]) StateUID() string { return o.State.UID }

// SnapshotState writes one record per key: its armed wake (the position of its timer chain, so
// that a restored operator fires no window twice), its slices, and the pane state of its windows
// that received late elements.
func (o *SliceWindowOp[K, In, Acc]) SnapshotState(w *StateWriter) error {
	if o.State.Err != nil {
		return o.State.Err
	}
	var rec []byte
	for k, slot := range o.index {
		ks, ss := &o.slots[slot], o.slices(slot)
		if !ks.armed || ss.len() == 0 {
			continue // no state (a CreateAccumulator panicked)
		}
		rec = o.State.Key.Append(append(rec[:0], formatSlicedWindow), k)
		rec = binary.AppendVarint(rec, ks.wake)
		rec = binary.AppendUvarint(rec, uint64(ss.len()))
		for i, n := 0, ss.len(); i < n; i++ {
			s := ss.at(i)
			rec = binary.AppendVarint(rec, s.start)
			rec = binary.AppendVarint(rec, s.born)
			rec = o.State.Value.Append(rec, s.acc)
		}
		rec = binary.AppendUvarint(rec, uint64(len(ks.late)))
		for _, lw := range ks.late {
			rec = binary.AppendVarint(rec, lw.end)
			rec = binary.AppendUvarint(rec, uint64(lw.panes))
			rec = binary.AppendUvarint(rec, uint64(lw.lateCount))
		}
		w.Put(KeyGroup(o.State.Hash(k), DefaultMaxParallelism), rec)
	}
	return nil
}

// RestoreState rebuilds the slices of the keys this subtask owns and re-arms their wakes.
func (o *SliceWindowOp[K, In, Acc]) RestoreState(r *StateReader) error {
	if o.State.Err != nil && len(r.parts) > 0 {
		return o.State.Err
	}
	return r.Each(func(_ int, rec []byte) error {
		rec, err := checkWindowFormat(rec, formatSlicedWindow, o.State.UID)
		if err != nil {
			return err
		}
		k, n, err := o.State.Key.Decode(rec)
		if err != nil {
			return fmt.Errorf("%w: window key: %v", ErrCorruptState, err)
		}
		d := decoder{b: rec[n:]}
		wake := d.varint()
		ns := d.uvarint()
		slot, ok := o.index[k]
		if !ok {
			slot = o.slotFor(k)
		}
		ss := o.slices(slot)
		for i := uint64(0); i < ns && d.err == nil; i++ {
			s := swSlice[Acc]{start: d.varint(), born: d.varint()}
			if d.err == nil {
				var m int
				s.acc, m, d.err = o.State.Value.Decode(d.b)
				d.skip(m)
			}
			s.last = o.lastEnd(s.start)
			ss.insert(ss.len(), s)
		}
		nl := d.uvarint()
		ks := &o.slots[slot]
		for i := uint64(0); i < nl && d.err == nil; i++ {
			ks.late = append(ks.late, swLate{end: d.varint(), panes: int(d.uvarint()), lateCount: int(d.uvarint())})
		}
		if d.err != nil {
			return fmt.Errorf("%w: window slices of a key: %v", ErrCorruptState, d.err)
		}
		if ss.len() == 0 {
			o.release(slot)
			return nil
		}
		o.arm(slot, wake)
		return nil
	})
}
