package flow

import (
	"fmt"

	"github.com/sluicehq/sluice/window"
)

// winState is the state of one window of one key.
type winState[Acc any] struct {
	w         window.Window
	acc       Acc
	panes     int   // panes fired so far: the next pane's index
	count     int   // elements since the last pane (count trigger)
	lateCount int   // late elements since the last pane
	earlyAt   int64 // pending early timer (processing time), 0 when none
	hasNew    bool  // elements arrived since the last pane
	onTime    bool  // the on-time pane fired, or the window was born late: only LATE panes follow
}

type keyWins[K comparable, Acc any] struct {
	key  K
	wins []winState[Acc]
}

// WindowOp is the general window operator: any assigner, the event-time trigger with early
// (processing-time) and late firings, the count trigger, allowed lateness, accumulating or
// discarding panes, and session merging including trigger state. Its semantics are those of
// window.Spec and docs/semantics.md; the shared fixtures pin them down.
type WindowOp[K comparable, In, Acc any] struct {
	Ctl
	Name string
	T    *Task
	Spec window.Spec
	Agg  Accumulator[In, Acc]
	// Fire emits one pane downstream.
	Fire func(k K, w window.Window, p window.Pane, acc Acc)
	// Out receives control after the panes a watermark fires.
	Out Node
	// Late receives elements too late for every window; Discard counts them only.
	Late Outlet[LateElement[K, In]]
	// State holds the UID and codecs for checkpoints.
	State StateCodecs[K, Acc]

	index  map[K]int32
	slots  []keyWins[K, Acc]
	free   []int32
	evt    TimerQueue[K]
	proc   TimerQueue[K]
	assign []window.Window
	spill  *Spill[K] // nil with the memory backend (winop_spill.go)
}

// Init prepares the operator's state.
func (o *WindowOp[K, In, Acc]) Init() {
	o.Ctl = NewCtl()
	o.index = make(map[K]int32)
}

// Keys is the number of keys holding window state in memory (with a spill store, the resident
// ones).
func (o *WindowOp[K, In, Acc]) Keys() int { return len(o.index) }

// Collect assigns the element to its windows and runs the triggers.
func (o *WindowOp[K, In, Acc]) Collect(ts int64, r Keyed[K, In]) {
	defer func() {
		if e := recover(); e != nil {
			o.T.Recovered(o.Name, e, ts, r.Value)
		}
	}()
	if o.Spec.Assigner.IsMerging() {
		o.collectSession(ts, r)
	} else {
		o.collectAssigned(ts, r)
	}
	if o.spill != nil {
		o.maybeEvict()
	}
}

// collectAssigned adds an element to the windows the assigner gives it, or sends it to the late
// output when it is late for all of them.
func (o *WindowOp[K, In, Acc]) collectAssigned(ts int64, r Keyed[K, In]) {
	o.assign = o.Spec.Assigner.Assign(o.assign[:0], ts)
	slot := int32(-1)
	for _, w := range o.assign {
		if o.Spec.IsLate(w, o.WM) {
			continue
		}
		if slot < 0 {
			slot = o.slotFor(r.Key)
		}
		i := o.windowIndex(slot, w)
		o.add(slot, i, r.Value)
	}
	if slot < 0 {
		o.late(ts, r, o.assign[0])
	}
}

func (o *WindowOp[K, In, Acc]) late(ts int64, r Keyed[K, In], w window.Window) {
	o.T.Counters.Late.Add(1)
	o.Late.Collect(ts, LateElement[K, In]{Key: r.Key, Value: r.Value, Timestamp: ts, Watermark: o.WM, Window: w,
		Reason: fmt.Sprintf("too late: window %v closed at watermark %d (allowed lateness %dms)", w, o.WM, o.Spec.AllowedLateness)})
}

// slotFor returns k's slot for an element of k, creating (or, with a spill store, loading) it.
func (o *WindowOp[K, In, Acc]) slotFor(k K) int32 {
	if o.spill != nil {
		return o.slotForSpilled(k)
	}
	if s, ok := o.index[k]; ok {
		return s
	}
	return o.newSlot(k)
}

// keySlot returns k's slot when k has window state (loading it from the spill store).
func (o *WindowOp[K, In, Acc]) keySlot(k K) (int32, bool) {
	if o.spill != nil {
		return o.lookupSpilled(k)
	}
	s, ok := o.index[k]
	return s, ok
}

// newKey allocates a slot for k, which has no state in memory or in the spill store.
func (o *WindowOp[K, In, Acc]) newKey(k K) int32 {
	s := o.newSlot(k)
	if o.spill != nil {
		o.spill.AddedNew(s)
	}
	return s
}

// newSlot allocates a slot for k, which has none.
func (o *WindowOp[K, In, Acc]) newSlot(k K) int32 {
	var s int32
	if n := len(o.free); n > 0 {
		s = o.free[n-1]
		o.free = o.free[:n-1]
	} else {
		s = int32(len(o.slots))
		o.slots = append(o.slots, keyWins[K, Acc]{})
	}
	o.slots[s].key = k
	o.index[k] = s
	return s
}

// windowIndex finds or creates window w in the slot and returns its index.
func (o *WindowOp[K, In, Acc]) windowIndex(slot int32, w window.Window) int {
	kw := &o.slots[slot]
	for i := range kw.wins {
		if kw.wins[i].w == w {
			return i
		}
	}
	kw.wins = append(kw.wins, winState[Acc]{w: w, acc: o.Agg.CreateAccumulator()})
	o.registerTimers(kw.key, w)
	i := len(kw.wins) - 1
	if o.Spec.Count == 0 && w.MaxTimestamp() <= o.WM {
		kw.wins[i].onTime = true // born late: LATE panes only
	}
	return i
}

func (o *WindowOp[K, In, Acc]) registerTimers(k K, w window.Window) {
	if o.Spec.Count == 0 {
		o.evt.Add(w.MaxTimestamp(), k)
	}
	if c := o.Spec.CleanupTime(w); c != w.MaxTimestamp() || o.Spec.Count > 0 {
		o.evt.Add(c, k)
	}
}

// add folds v into window i of the slot and runs the element-driven triggers.
func (o *WindowOp[K, In, Acc]) add(slot int32, i int, v In) {
	kw := &o.slots[slot]
	ws := &kw.wins[i]
	ws.acc = o.Agg.Add(v, ws.acc)
	ws.count++
	if !ws.hasNew {
		ws.hasNew = true
		o.armEarly(kw.key, ws)
	}
	switch {
	case o.Spec.Count > 0:
		if ws.count >= o.Spec.Count {
			t := window.Early
			if ws.w.MaxTimestamp() <= o.WM {
				t = window.Late
			}
			o.fire(kw.key, ws, t)
		}
	case ws.onTime:
		ws.lateCount++
		if ws.lateCount >= o.Spec.LateEveryCount {
			o.fire(kw.key, ws, window.Late)
		}
	}
}

func (o *WindowOp[K, In, Acc]) armEarly(k K, ws *winState[Acc]) {
	if o.Spec.EarlyAfter <= 0 || ws.onTime || ws.earlyAt != 0 || o.Spec.Count > 0 {
		return
	}
	ws.earlyAt = o.T.Clock.Now() + o.Spec.EarlyAfter
	o.proc.Add(ws.earlyAt, k)
	o.T.RequestProcTime(ws.earlyAt)
}

func (o *WindowOp[K, In, Acc]) fire(k K, ws *winState[Acc], t window.Timing) {
	o.Fire(k, ws.w, window.Pane{Timing: t, Index: ws.panes}, ws.acc)
	ws.panes++
	ws.hasNew = false
	ws.count = 0
	ws.lateCount = 0
	ws.earlyAt = 0
	if o.Spec.Discarding {
		ws.acc = o.Agg.CreateAccumulator()
	}
}

// Watermark fires the windows the watermark completes, purges expired ones, and forwards it.
func (o *WindowOp[K, In, Acc]) Watermark(wm int64) {
	if !o.Advance(wm) {
		return
	}
	for o.evt.Len() > 0 && o.evt.Next() <= wm {
		t, keys := o.evt.Pop()
		for _, k := range keys {
			o.onEventTime(k, t)
		}
		o.evt.Recycle(keys)
	}
	if o.spill != nil {
		o.maybeEvict()
	}
	o.Out.Watermark(wm)
	o.Late.Watermark(wm)
}

func (o *WindowOp[K, In, Acc]) onEventTime(k K, t int64) {
	if o.spill != nil {
		o.spilledTimer(k, t, false)
		return
	}
	if slot, ok := o.index[k]; ok {
		o.eventTime(slot, k, t)
	}
}

// eventTime fires the windows of slot's key, k, that end by t and purges those whose cleanup
// time has come; it reports whether the key's state changed.
func (o *WindowOp[K, In, Acc]) eventTime(slot int32, k K, t int64) (changed bool) {
	kw := &o.slots[slot]
	kept := kw.wins[:0]
	for i := range kw.wins {
		ws := &kw.wins[i]
		if o.Spec.Count == 0 && !ws.onTime && ws.w.MaxTimestamp() <= t {
			o.fire(k, ws, window.OnTime)
			ws.onTime = true
			changed = true
		}
		if o.Spec.CleanupTime(ws.w) <= t {
			if ws.lateCount > 0 {
				o.fire(k, ws, window.Late) // late elements still pending a count: not lost
			}
			changed = true
			continue
		}
		kept = append(kept, *ws)
	}
	clear(kw.wins[len(kept):])
	kw.wins = kept
	if len(kw.wins) == 0 {
		o.release(slot)
	}
	return changed
}

// release forgets the key of slot: its windows are all purged.
func (o *WindowOp[K, In, Acc]) release(slot int32) {
	if o.spill != nil {
		o.forget(slot)
	}
	o.freeSlot(slot)
}

// freeSlot frees slot and its index entry.
func (o *WindowOp[K, In, Acc]) freeSlot(slot int32) {
	kw := &o.slots[slot]
	delete(o.index, kw.key)
	var zero K
	kw.key = zero
	o.free = append(o.free, slot)
}

// ProcTime fires due early panes.
func (o *WindowOp[K, In, Acc]) ProcTime(now int64) {
	for o.proc.Len() > 0 && o.proc.Next() <= now {
		t, keys := o.proc.Pop()
		for _, k := range keys {
			o.onProcTime(k, t)
		}
		o.proc.Recycle(keys)
	}
	if o.spill != nil {
		o.maybeEvict()
	}
	if o.proc.Len() > 0 {
		o.T.RequestProcTime(o.proc.Next())
	}
	o.Out.ProcTime(now)
	o.Late.ProcTime(now)
}

func (o *WindowOp[K, In, Acc]) onProcTime(k K, t int64) {
	if o.spill != nil {
		o.spilledTimer(k, t, true)
		return
	}
	if slot, ok := o.index[k]; ok {
		o.procTime(slot, k, t)
	}
}

// procTime fires the due early panes of slot's key, k; it reports whether any fired.
func (o *WindowOp[K, In, Acc]) procTime(slot int32, k K, t int64) (changed bool) {
	kw := &o.slots[slot]
	for i := range kw.wins {
		ws := &kw.wins[i]
		if ws.earlyAt != 0 && ws.earlyAt <= t && !ws.onTime {
			o.fire(k, ws, window.Early)
			changed = true
		}
	}
	return changed
}

// Idle forwards the status.
func (o *WindowOp[K, In, Acc]) Idle(idle bool) {
	if o.SetIdle(idle) {
		o.Out.Idle(idle)
		o.Late.Idle(idle)
	}
}

// Finish forwards end of input once.
func (o *WindowOp[K, In, Acc]) Finish() {
	if o.MarkFinished() {
		o.Out.Finish()
		o.Late.Finish()
	}
}
