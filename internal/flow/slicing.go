package flow

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"unsafe"

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
// (lazily: purging is invisible), and schedules the next wake. A key left without slices keeps its
// slot, idle, for one more slide, so that a key that comes back does not leave the table and
// enter it again; a wake of an idle key releases it.
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
	lateness                int64 // Spec.AllowedLateness (see isLate)

	tab   keyTable[K, swEnt[Acc]] // key → slot, with the key's newest slice inline
	ring  swRing[Acc]             // the older slices of the keys, at a place fixed by the slot
	ext   cowArray[swExt[Acc]]    // the late panes of the keys that have any, and older slices the ring cannot hold
	wakes TimerQueue[int32]       // slot wakes; a wake is stale unless it equals the slot's armed wake
	sp    *sliceSpill[K]          // cold keys in a spill store; nil with the memory backend (slicing_spill.go)
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

// swEnt is a key's entry in the table, beside the key: the state nearly every element touches
// (the newest slice) and its timer, in one cache line for a small accumulator, so that the
// common update costs one cache miss.
type swEnt[Acc any] struct {
	newest swSlice[Acc]
	wake   int64 // the armed wake, when armed
	ext    int32 // 1 + the index in SliceWindowOp.ext of the key's other state, 0 for none
	has    bool  // newest holds a slice
	armed  bool
	over   bool  // the older slices are in the ext state, not in the ring
	nold   uint8 // the number of older slices in the ring
}

// swExt is the rest of a key's state, touched by late elements and by keys with more older
// slices than the ring holds. Its
// backing arrays may be shared with a snapshot taken in an earlier epoch (cowArray.freeze
// copies the headers only): a key's ext is reached through SliceWindowOp.extOf, which clones
// them before the first write of a new epoch.
type swExt[Acc any] struct {
	older []swSlice[Acc] // when swEnt.over: sorted by start, all before the newest
	late  []swLate
	epoch uint32 // the ext array's epoch when the backing arrays were made
}

// entry returns the slot's entry, ready for writing.
func (o *SliceWindowOp[K, In, Acc]) entry(slot int32) *swEnt[Acc] { return &o.tab.at(slot).val }

// extOf returns the key's other state, ready for writing, creating it if create is set; nil
// when it has none.
func (o *SliceWindowOp[K, In, Acc]) extOf(e *swEnt[Acc], create bool) *swExt[Acc] {
	if e.ext == 0 {
		if !create {
			return nil
		}
		i := o.ext.alloc()
		e.ext = i + 1
		x := o.ext.at(i)
		x.epoch = o.ext.epoch
		return x
	}
	x := o.ext.at(e.ext - 1)
	if x.epoch != o.ext.epoch { // the arrays may belong to a snapshot: copy before writing
		x.older = append([]swSlice[Acc](nil), x.older...)
		x.late = append([]swLate(nil), x.late...)
		x.epoch = o.ext.epoch
	}
	return x
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
	o.tab = newKeyTable[K, swEnt[Acc]]()
	a := o.Spec.Assigner
	o.size, o.slide, o.offset, o.sl = a.Size(), a.Slide(), a.Offset(), a.SliceLen()
	o.lateness = o.Spec.AllowedLateness
	o.ring = swRing[Acc]{c: swRingCap[Acc](o.size, o.slide, o.sl, o.Spec.AllowedLateness)}
}

// Keys is the number of keys holding window state (for tests and metrics: it scans the table).
// Idle keys, which keep their slot for a slide after their state ended, are not counted.
func (o *SliceWindowOp[K, In, Acc]) Keys() int {
	n := 0
	o.tab.each(func(s int32) {
		if o.entry(s).has {
			n++
		}
	})
	return n
}

// Slots is the number of keys in the operator's table, idle ones included (for tests).
func (o *SliceWindowOp[K, In, Acc]) Slots() int { return o.tab.len() }

// Slices is the number of slices held over all keys (for tests and metrics).
func (o *SliceWindowOp[K, In, Acc]) Slices() int {
	n := 0
	var ss swSlices[Acc]
	o.tab.each(func(s int32) { o.slices(s, &ss); n += ss.len() })
	return n
}

// Collect adds the element to its slice, fires LATE panes of the windows it arrives late for,
// and routes it to Late when it is too late for all of them.
func (o *SliceWindowOp[K, In, Acc]) Collect(ts int64, r Keyed[K, In]) {
	if o.sp != nil {
		o.collectSpill(ts, r, o.tab.hash(r.Key))
		return
	}
	o.collect(ts, r, o.tab.hash(r.Key))
}

// batchGroup is the number of restored records whose index entries RestoreState fetches at
// once: enough to keep the memory system busy, few enough that the first is still cached when its
// turn comes.
const batchGroup = 32

// batchDist is the distance, in records, between the stages of CollectBatch's pipeline: the
// time a stage's cache line has to arrive before the next stage reads it.
const batchDist = 8

// CollectBatch is Collect for each record, in order, in a software pipeline of five stages, each
// batchDist records ahead of the next: touch the key's bytes; hash the key and touch its index
// entry; read the index entry and touch the key's table entry; read the entry and touch the
// place a new slice goes (touchNewSlice); process the record. The cache misses of the records
// in flight overlap instead of following one another, and each line has arrived when its stage
// reads it. The touches only read: whatever processing changes (a new key, an index rebuild),
// the record finds its state again as Collect does.
func (o *SliceWindowOp[K, In, Acc]) CollectBatch(recs []Rec[Keyed[K, In]]) {
	const d, mask = batchDist, 8*batchDist - 1
	var hs [8 * batchDist]uint64
	var cand [8 * batchDist]int32
	n := len(recs)
	for i := 0; i < n+4*d; i++ {
		if i < n {
			o.tab.touchKey(&recs[i].V.Key)
		}
		if a := i - d; a >= 0 && a < n {
			hs[a&mask] = o.tab.hash(recs[a].V.Key)
			o.tab.touchHome(hs[a&mask])
		}
		if b := i - 2*d; b >= 0 && b < n {
			s := o.tab.candidate(hs[b&mask])
			if cand[b&mask] = s; s >= 0 {
				o.tab.touchEnt(s)
			}
		}
		if c := i - 3*d; c >= 0 && c < n {
			if s := cand[c&mask]; s >= 0 {
				o.touchNewSlice(s, recs[c].TS)
			}
		}
		if e := i - 4*d; e >= 0 {
			if o.sp != nil {
				o.collectSpill(recs[e].TS, recs[e].V, hs[e&mask])
			} else {
				o.collect(recs[e].TS, recs[e].V, hs[e&mask])
			}
		}
	}
}

// touchNewSlice prefetches, for a record that starts a slice (its key, in slot s, has state but
// the record is not in its newest slice), the place in the ring where the newest slice will
// move, and the key's ext state when it has one. A record that updates the newest slice, the
// common case, needs nothing beyond its entry.
func (o *SliceWindowOp[K, In, Acc]) touchNewSlice(s int32, ts int64) {
	if o.inNewest(s, ts) {
		return
	}
	e := &o.tab.peek(s).val
	if !e.over {
		o.ring.touch(s, int(e.nold), int(e.nold)+1)
	}
	if e.ext > 0 {
		o.touchExt(e.ext - 1)
	}
}

// inNewest reports whether ts belongs to the newest slice of slot s (read only).
func (o *SliceWindowOp[K, In, Acc]) inNewest(s int32, ts int64) bool {
	e := &o.tab.peek(s).val
	return e.has && ts >= e.newest.start && ts-e.newest.start < o.sl
}

// pipeline3 runs three stages over slots, d slots apart: first for slot i, second for slot i-d,
// last for slot i-2d, so that the lines first and second prefetch have arrived when the next
// stage reads them. It is small enough to inline, and its stages with it.
func pipeline3(slots []int32, d int, first, second, last func(int32)) {
	n := len(slots)
	for i := 0; i < n+2*d; i++ {
		if i < n {
			first(slots[i])
		}
		if a := i - d; a >= 0 && a < n {
			second(slots[a])
		}
		if b := i - 2*d; b >= 0 {
			last(slots[b])
		}
	}
}

// touchSlot prefetches a slot's entry (the first stage of a wake).
func (o *SliceWindowOp[K, In, Acc]) touchSlot(s int32) { o.tab.touchEnt(s) }

// touchSlotRest prefetches, once a slot's entry has arrived, its older slices, exactly those the
// entry counts, and its ext state.
func (o *SliceWindowOp[K, In, Acc]) touchSlotRest(s int32) {
	e := &o.tab.peek(s).val
	if !e.over {
		o.ring.touch(s, 0, int(e.nold))
	}
	if e.ext > 0 {
		o.touchExt(e.ext - 1)
	}
}

// touchExt prefetches ext state i and the older slices it holds (the merge of a sliding
// window's pane reads them all).
func (o *SliceWindowOp[K, In, Acc]) touchExt(i int32) {
	x := o.ext.peek(i)
	prefetchRange(unsafe.Pointer(x), unsafe.Sizeof(*x))
	if len(x.older) > 0 {
		prefetchRange(unsafe.Pointer(&x.older[0]), uintptr(len(x.older))*unsafe.Sizeof(x.older[0]))
	}
}

func (o *SliceWindowOp[K, In, Acc]) collect(ts int64, r Keyed[K, In], h uint64) {
	defer func() {
		if e := recover(); e != nil {
			o.T.Recovered(o.Name, e, ts, r.Value)
		}
	}()
	slot, ok := o.tab.find(h, r.Key)
	start, last, next := int64(0), int64(0), false
	if ok {
		if e := o.entry(slot); e.has {
			s := &e.newest
			if ts >= s.start && ts-s.start < o.sl { // the newest slice: the common case
				if o.isLate(s.last) {
					o.late(ts, r, s.last)
					return
				}
				s.acc = o.Agg.Add(r.Value, s.acc)
				if s.start+o.sl-1 <= o.WM {
					o.fireLate(slot, s.start, s.last)
				}
				return
			}
			// The slice after the newest, the next most common case, without a division: its
			// last window is the newest's, or the one after when the slice starts a window.
			if d := ts - s.start - o.sl; d >= 0 && d < o.sl {
				start, last, next = s.start+o.sl, s.last, true
				if start >= s.last-o.size+o.slide {
					last += o.slide
				}
			}
		}
	}
	if !next {
		start = ts - floorMod(ts-o.offset, o.sl)
		last = o.lastEnd(start)
	}
	if o.isLate(last) {
		o.late(ts, r, last)
		return
	}
	if !ok {
		slot = o.tab.add(h, r.Key)
	}
	var ss swSlices[Acc]
	i, isNew := o.sliceIndex(slot, start, last, &ss)
	if isNew {
		o.armNewSlice(slot, start, last) // before Add: a panicking Add must not leak the slice
	}
	s := ss.at(i) // ss stays valid: arming changes the entry in place, not the slices
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

// isLate is Spec.IsLate for the window ending at end at the current watermark. It and cleanup
// read the lateness from the operator: the hot paths would otherwise copy the whole Spec (a
// value receiver) for every call, and read it back before the copy settled (a store-forwarding
// stall).
func (o *SliceWindowOp[K, In, Acc]) isLate(end int64) bool {
	return end-1+o.lateness <= o.WM && o.WM != MinTime
}

// cleanup is the watermark at which the window ending at end is purged (Spec.CleanupTime).
func (o *SliceWindowOp[K, In, Acc]) cleanup(end int64) int64 {
	t := end - 1 + o.lateness
	if t < end-1 {
		return MaxTime
	}
	return t
}

func (o *SliceWindowOp[K, In, Acc]) late(ts int64, r Keyed[K, In], last int64) {
	w := o.win(last)
	o.T.Counters.Late.Add(1)
	o.Late.Collect(ts, LateElement[K, In]{Key: r.Key, Value: r.Value, Timestamp: ts, Watermark: o.WM, Window: w,
		Reason: fmt.Sprintf("too late: window %v closed at watermark %d (allowed lateness %dms)", w, o.WM, o.Spec.AllowedLateness)})
}

// sliceIndex finds or inserts, in start order, the slice starting at start: it sets ss to the
// key's slices and returns the slice's index, and whether it is new.
func (o *SliceWindowOp[K, In, Acc]) sliceIndex(slot int32, start, last int64, ss *swSlices[Acc]) (int, bool) {
	o.slices(slot, ss)
	n := ss.len()
	i := n
	for i > 0 && ss.at(i-1).start >= start {
		i--
	}
	if i < n && ss.at(i).start == start {
		return i, false
	}
	o.insert(ss, i, swSlice[Acc]{start: start, last: last, born: o.WM, acc: o.Agg.CreateAccumulator()})
	return i, true
}

// armNewSlice makes sure the key wakes for the first window of a new slice that is still to fire
// on time, or, when every window of the slice is already past, before its state could leak.
func (o *SliceWindowOp[K, In, Acc]) armNewSlice(slot int32, start, last int64) {
	if ent := o.entry(slot); ent.armed && ent.wake <= start+o.sl-1 {
		return // the armed wake comes first: the slice's windows end at start+sl-1 or later
	}
	e := o.firstEnd(start)
	if e-1 <= o.WM { // the first windows are past: the first end after the watermark
		x := o.WM + 2
		e = x + floorMod(o.offset+o.size-x, o.slide)
	}
	switch {
	case e <= last:
		o.arm(slot, e-1)
	case !o.entry(slot).armed: // only late windows: stay alive until the slice may be purged
		o.arm(slot, o.cleanup(last))
	}
}

// arm schedules a wake of the slot at t unless an earlier one is armed.
func (o *SliceWindowOp[K, In, Acc]) arm(slot int32, t int64) {
	ks := o.entry(slot)
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
		if o.isLate(e) {
			continue
		}
		j := o.lateIndex(slot, e)
		lw := &o.extOf(o.entry(slot), true).late[j]
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
	ks := o.extOf(o.entry(slot), true)
	for j := range ks.late {
		if ks.late[j].end == end {
			return j
		}
	}
	lw := swLate{end: end}
	var ss swSlices[Acc]
	o.slices(slot, &ss)
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
	var ss swSlices[Acc]
	o.slices(slot, &ss)
	o.fireSlices(&ss, slot, end, t, lw)
}

// fireSlices is firePane with the key's slices at hand.
func (o *SliceWindowOp[K, In, Acc]) fireSlices(ss *swSlices[Acc], slot int32, end int64, t window.Timing, lw *swLate) {
	start := end - o.size
	var acc Acc
	found := false
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
	o.Fire(o.tab.at(slot).key, window.Window{Start: start, End: end}, p, acc)
}

// Watermark fires the windows the watermark completes, purges expired slices, and forwards it.
func (o *SliceWindowOp[K, In, Acc]) Watermark(wm int64) {
	if !o.Advance(wm) {
		return
	}
	if o.sp != nil {
		o.fireSpill(wm)
	}
	for o.wakes.Len() > 0 && o.wakes.Next() <= wm {
		o.fireWakes()
	}
	o.Out.Watermark(wm)
	o.Late.Watermark(wm)
}

// fireWakes runs the earliest bucket of slot wakes in a pipeline of three stages batchDist
// slots apart: touch the entry; read the entry and touch the older slices and the ext state;
// wake.
func (o *SliceWindowOp[K, In, Acc]) fireWakes() {
	t, slots := o.wakes.Pop()
	pipeline3(slots, batchDist, o.touchSlot, o.touchSlotRest, func(s int32) { o.wake(s, t) })
	o.wakes.Recycle(slots)
}

// wake runs a key's chained timer at t: the ON_TIME pane of the window ending at t+1, the LATE
// panes held back until their window's cleanup, the purge, and the next wake.
func (o *SliceWindowOp[K, In, Acc]) wake(slot int32, t int64) {
	e := o.entry(slot)
	if !e.armed || e.wake != t {
		return // stale: superseded by an earlier wake, or the slot was released
	}
	e.armed = false
	if !e.has { // idle since the last wake (see below): the key did not come back
		o.release(slot)
		return
	}
	if o.sp != nil {
		o.sp.Dirty(slot)
	}
	var ss swSlices[Acc] // Fire runs downstream operators only: the view stays valid
	o.slices(slot, &ss)
	end := t < MaxTime && floorMod(t+1-o.offset-o.size, o.slide) == 0 // a window ends at t+1
	if end {
		o.fireSlices(&ss, slot, t+1, window.OnTime, nil)
	}
	if ks := ss.x; ks != nil && len(ks.late) > 0 {
		kept := ks.late[:0]
		for _, lw := range ks.late {
			if o.cleanup(lw.end) <= t {
				if lw.lateCount > 0 {
					o.fireSlices(&ss, slot, lw.end, window.Late, &lw)
				}
				continue
			}
			kept = append(kept, lw)
		}
		clear(ks.late[len(kept):])
		ks.late = kept
	}
	n, all := 0, ss.len()
	for n < all && o.cleanup(ss.at(n).last) <= t {
		n++
	}
	if n > 0 {
		ss.dropFront(n)
	}
	if !ss.e.has {
		if o.sp == nil && t < MaxTime-o.slide {
			// The key keeps its slot, idle, for one more slide: a key that comes back, as most
			// keys of a tumbling window do in the next window, finds its slot again instead of
			// leaving the table and entering it anew.
			o.arm(slot, t+o.slide)
			return
		}
		o.release(slot)
		return
	}
	o.arm(slot, o.nextWake(&ss, t, end))
}

// nextWake is the earliest of: the end-1 of the next window after t that holds a slice, the
// cleanup of a window holding back a LATE pane, and, when no window is left to fire on time, the
// time when every slice may be purged. end tells that a window ended at t+1: the next one ends a
// slide later.
func (o *SliceWindowOp[K, In, Acc]) nextWake(ss *swSlices[Acc], t int64, end bool) int64 {
	next := MaxTime
	onTime := false
	if t < MaxTime-1 {
		var e0 int64 // the first window end after t+1
		if end && t < MaxTime-1-o.slide {
			e0 = t + 1 + o.slide
		} else {
			x := t + 2
			e0 = x + floorMod(o.offset+o.size-x, o.slide)
		}
		for i, n := 0, ss.len(); i < n; i++ {
			if s := ss.at(i); s.start >= e0-o.size {
				next, onTime = e0-1, true // the window ending at e0 holds the slice
				if s.start >= e0 {
					next = o.firstEnd(s.start) - 1
				}
				break
			}
		}
	}
	if ss.x != nil {
		for _, lw := range ss.x.late {
			if lw.lateCount > 0 {
				next = min(next, o.cleanup(lw.end))
			}
		}
	}
	if !onTime {
		next = min(next, o.cleanup(ss.e.newest.last))
	}
	return next
}

// release frees the slot of a key whose state ended.
func (o *SliceWindowOp[K, In, Acc]) release(slot int32) {
	if o.sp != nil {
		o.forget(slot)
	}
	o.drop(slot)
}

// drop frees slot and its index entry, keeping the arrays a snapshot may hold.
func (o *SliceWindowOp[K, In, Acc]) drop(slot int32) {
	if e := o.entry(slot); !e.over && e.nold > 0 { // a key dropped with slices: its ring place is reused
		clear(o.ring.at(slot)[:e.nold])
	}
	if i := o.entry(slot).ext - 1; i >= 0 {
		x := o.ext.at(i)
		if x.epoch == o.ext.epoch { // keep the arrays for the next key
			clear(x.older)
			clear(x.late)
			x.older, x.late = x.older[:0], x.late[:0]
		} else { // a snapshot may hold them
			*x = swExt[Acc]{}
		}
		o.ext.free = append(o.ext.free, i)
	}
	o.tab.remove(slot)
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
func (o *SliceWindowOp[K, In, Acc]) Timers() int {
	if o.sp != nil {
		return o.wakes.Len() + o.sp.cold.Len()
	}
	return o.wakes.Len()
}

// StateUID is the operator's UID.
func (o *SliceWindowOp[K, In, Acc]) StateUID() string { return o.State.UID }

// SnapshotState writes one record per key: its armed wake (the position of its timer chain, so
// that a restored operator fires no window twice), its slices, and the pane state of its windows
// that received late elements.
func (o *SliceWindowOp[K, In, Acc]) SnapshotState(w *StateWriter) error {
	if o.State.Err != nil {
		return o.State.Err
	}
	if err := o.encode(o.tab.view(), o.ext.view(), o.ring.view(), w); err != nil {
		return err
	}
	if o.sp != nil {
		o.putColdWakes(w)
	}
	return nil
}

// SnapshotAsync freezes the state (a copy of the chunk pointers: microseconds) and returns the
// function that encodes it while the task goes on; the first write to a frozen chunk copies it.
// An accumulator type holding references (a slice, a map, a pointer) could be changed in place
// by Add, under the reader's feet: such operators encode synchronously here instead.
func (o *SliceWindowOp[K, In, Acc]) SnapshotAsync(id int64) (func(w *StateWriter) error, error) {
	if o.State.Err != nil {
		return nil, o.State.Err
	}
	if !pointerFree[Acc]() {
		w := StateWriter{CheckpointID: id}
		if err := o.SnapshotState(&w); err != nil {
			return nil, err
		}
		b := w.Bytes()
		return func(w *StateWriter) error { w.buf = append(w.buf, b...); return nil }, nil
	}
	var cold StateWriter // the wakes of cold keys, taken at the barrier
	if o.sp != nil {
		o.putColdWakes(&cold)
	}
	tv, xv, rv := o.tab.freeze(), o.ext.freeze(), o.ring.freeze()
	return func(w *StateWriter) error {
		err := o.encode(tv, xv, rv, w)
		tv.release()
		w.buf = append(w.buf, cold.buf...)
		return err
	}, nil
}

// encode writes the records of a frozen state. It runs on another goroutine for SnapshotAsync:
// it reads only the views and the operator's immutable configuration.
func (o *SliceWindowOp[K, In, Acc]) encode(tv ktView[K, swEnt[Acc]], xv cowView[swExt[Acc]], rv swRingView[Acc], w *StateWriter) error {
	var rec []byte
	ke := tv.keyEncoder(o.State.Key.Append, o.keyGroup)
	defer ke.end()
	for slot := int32(0); slot < tv.slots; slot++ {
		ent := tv.at(slot)
		e := &ent.val
		if !e.armed || !e.has {
			continue // a free slot, or no state (a CreateAccumulator panicked)
		}
		var x *swExt[Acc]
		if e.ext != 0 {
			x = xv.at(e.ext - 1)
		}
		ss := swSlices[Acc]{e: e, x: x, older: rv.older(slot, e, x)}
		var kg int
		rec, kg = ke.appendKey(append(rec[:0], formatSlicedWindow), slot)
		rec = o.appendKeyBody(rec, &ss)
		w.Put(kg, rec)
	}
	return nil
}

// keyGroup is the key group of k.
func (o *SliceWindowOp[K, In, Acc]) keyGroup(k K) int {
	return KeyGroup(o.State.Hash(k), DefaultMaxParallelism)
}

// appendKeyBody appends a key's record after its key: its armed wake, its slices and the pane
// state of its windows that received late elements. x is nil when the key has no ext.
func (o *SliceWindowOp[K, In, Acc]) appendKeyBody(rec []byte, ss *swSlices[Acc]) []byte {
	e, x := ss.e, ss.x
	rec = binary.AppendVarint(rec, e.wake)
	rec = binary.AppendUvarint(rec, uint64(ss.len()))
	for i, n := 0, ss.len(); i < n; i++ {
		s := ss.at(i)
		rec = binary.AppendVarint(rec, s.start)
		rec = binary.AppendVarint(rec, s.born)
		rec = o.State.Value.Append(rec, s.acc)
	}
	var late []swLate
	if x != nil {
		late = x.late
	}
	rec = binary.AppendUvarint(rec, uint64(len(late)))
	for _, lw := range late {
		rec = binary.AppendVarint(rec, lw.end)
		rec = binary.AppendUvarint(rec, uint64(lw.panes))
		rec = binary.AppendUvarint(rec, uint64(lw.lateCount))
	}
	return rec
}

// RestoreState rebuilds the slices of the keys this subtask owns and re-arms their wakes. Records
// are decoded a group at a time: the index entry of each key is prefetched as its record is
// decoded, and the group is applied, in order, once its entries are on their way.
func (o *SliceWindowOp[K, In, Acc]) RestoreState(r *StateReader) error {
	if o.State.Err != nil && len(r.parts) > 0 {
		return o.State.Err
	}
	type decoded struct {
		k    K
		h    uint64
		rest []byte
	}
	var group []decoded
	apply := func() error {
		for i := range group {
			if err := o.restoreKey(group[i].k, group[i].h, group[i].rest); err != nil {
				return err
			}
		}
		clear(group)
		group = group[:0]
		return nil
	}
	err := r.Each(func(_ int, rec []byte) error {
		if len(rec) > 0 && rec[0] == formatSlicedWake {
			return o.restoreColdWake(rec[1:])
		}
		rec, err := checkWindowFormat(rec, formatSlicedWindow, o.State.UID)
		if err != nil {
			if aerr := apply(); aerr != nil { // the earlier records' errors come first
				return aerr
			}
			return err
		}
		k, n, err := o.State.Key.Decode(rec)
		if err != nil {
			if aerr := apply(); aerr != nil {
				return aerr
			}
			return fmt.Errorf("%w: window key: %v", ErrCorruptState, err)
		}
		h := o.tab.hash(k)
		o.tab.touchHomes([]uint64{h})
		group = append(group, decoded{k: k, h: h, rest: rec[n:]})
		if len(group) == batchGroup {
			return apply()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := apply(); err != nil {
		return err
	}
	if o.sp != nil { // a smaller budget than the checkpoint's
		return RunGuarded(o.maybeEvict)
	}
	return nil
}

// restoreKey restores one key's record (after its key).
func (o *SliceWindowOp[K, In, Acc]) restoreKey(k K, h uint64, rest []byte) error {
	slot, ok := o.tab.find(h, k)
	if !ok {
		slot = o.tab.add(h, k)
	}
	wake, err := o.decodeKeyBody(slot, rest)
	if err != nil {
		return err
	}
	if !o.entry(slot).has {
		o.release(slot)
		return nil
	}
	o.arm(slot, wake)
	if o.sp != nil {
		o.sp.added(slot, true) // shadows a copy the restored store may hold (invariant 3)
	}
	return nil
}

// decodeKeyBody reads a key's record after its key (appendKeyBody) into slot and returns the
// key's wake.
func (o *SliceWindowOp[K, In, Acc]) decodeKeyBody(slot int32, rest []byte) (int64, error) {
	d := decoder{b: rest}
	wake := d.varint()
	ns := d.uvarint()
	var ss swSlices[Acc]
	o.slices(slot, &ss)
	for i := uint64(0); i < ns && d.err == nil; i++ {
		s := swSlice[Acc]{start: d.varint(), born: d.varint()}
		if d.err == nil {
			var m int
			s.acc, m, d.err = o.State.Value.Decode(d.b)
			d.skip(m)
		}
		s.last = o.lastEnd(s.start)
		o.insert(&ss, ss.len(), s)
	}
	if nl := d.uvarint(); nl > 0 && d.err == nil {
		ks := o.extOf(ss.e, true)
		for i := uint64(0); i < nl && d.err == nil; i++ {
			ks.late = append(ks.late, swLate{end: d.varint(), panes: int(d.uvarint()), lateCount: int(d.uvarint())})
		}
	}
	if err := finish(&d); err != nil {
		return 0, fmt.Errorf("%w: window slices of a key: %v", ErrCorruptState, err)
	}
	return wake, nil
}

var _ AsyncSnapshotter = (*SliceWindowOp[string, int64, int64])(nil)

// pointerFree reports whether values of T hold no references, so that a shallow copy of one is
// a snapshot of it.
func pointerFree[T any]() bool {
	var z T
	return typePointerFree(reflect.TypeOf(&z).Elem())
}

func typePointerFree(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return true // strings are immutable
	case reflect.Array:
		return typePointerFree(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !typePointerFree(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}
