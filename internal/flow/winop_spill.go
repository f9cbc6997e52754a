package flow

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The general window operator with a spill store (docs/state-backends.md, section 3).
//
// WindowOp implements the operator side of Spill: a key's spilled value is its snapshot record
// without the format byte and the key (its windows with their accumulators and trigger state:
// appendWins in winop_state.go), so eviction, loading and checkpoints share one encoding. Its
// slots hold keys in memory only: an evicted key frees its slot and its index entry.
//
//   - An element loads its key (Lookup with promote) and marks it dirty; a new key costs no store
//     read while the store is still empty (Spill.Empty).
//   - Timers stay in memory, in the event-time and processing-time TimerQueues, which hold keys,
//     not slots: an evicted key needs no stub slot. A timer of an evicted key loads it without
//     promoting it (Lookup with promote=false), fires and purges its windows, then forgets it
//     (its windows are all purged: the stored copy is deleted) or, when the operator is over its
//     budget, evicts it again (a write only when a pane fired or a window was purged).
//   - A key whose windows are all purged is forgotten (Forget): a copy in the store is deleted.
//   - MaybeEvict runs after each element and after the timers of a watermark or a processing-time
//     wake-up; elements and timers run to completion before it, so any key may be evicted then.
//
// Timers of evicted keys in checkpoints. The memory backend writes no timers: a restore rebuilds
// them from the windows. An evicted key's windows are in the spill store, and reading the whole
// store on every restore to find them would cost O(state). So a checkpoint also writes, for each
// timer of an evicted key still in the queues, a stub record: the format byte, the key, a window
// count of 0, the timer's domain (timerStubEvent or timerStubProc) and its time. A restore
// registers the stub's timer (a processing-time one also asks the task for a wake-up), so the
// key's windows are loaded when it fires, as before the restore; it needs no slot. This costs the
// checkpoint O(timers of evicted keys) bytes, like the stubs of the keyed process operator and
// like Flink's heap timers with the RocksDB backend; a Pebble timer index (phase 2 of the design)
// would make it incremental. A stale timer (one of a window that was merged or purged since)
// may be written too: it loads nothing when it fires. The memory backend refuses stubs.
//
// The memory backend's path is unchanged but for a nil check of the spill helper where the
// operator reads its index (elements, timers) and after each element and watermark.

// Domains of a timer stub.
const (
	timerStubEvent byte = 1
	timerStubProc  byte = 2
)

// SetSpill implements Spiller: at most budget keys stay in memory between records, the others go
// to st. Call it before RestoreState.
func (o *WindowOp[K, In, Acc]) SetSpill(st SpillStore, budget int) error {
	switch {
	case o.State.Err != nil:
		return o.State.Err
	case o.State.Key == nil || o.State.Value == nil || o.State.Hash == nil:
		return fmt.Errorf("operator %q: spilling window state needs key and accumulator codecs and a key hash", o.Name)
	case budget < 0:
		return fmt.Errorf("operator %q: the key budget %d is negative", o.Name, budget)
	}
	empty, err := StoreEmpty(st)
	if err != nil {
		return fmt.Errorf("operator %q: reading its spill store: %w", o.Name, err)
	}
	o.spill = &Spill[K]{Store: st, Budget: budget, Key: o.State.Key, Hash: o.State.Hash, Empty: empty}
	return nil
}

// SpillStore implements Spiller.
func (o *WindowOp[K, In, Acc]) SpillStore() SpillStore {
	if o.spill == nil {
		return nil
	}
	return o.spill.Store
}

// Spill returns the operator's spill helper, nil with the memory backend (tests, metrics).
func (o *WindowOp[K, In, Acc]) Spill() *Spill[K] { return o.spill }

// maybeEvict evicts cold keys when over budget, between records.
func (o *WindowOp[K, In, Acc]) maybeEvict() {
	if err := o.spill.MaybeEvict(o); err != nil {
		Fail(fmt.Errorf("operator %q: %w", o.Name, err))
	}
}

// lookupSpilled returns k's slot for an element when k has state, loading it from the store.
func (o *WindowOp[K, In, Acc]) lookupSpilled(k K) (int32, bool) {
	slot, ok, err := o.spill.Lookup(o, k, true)
	if err != nil {
		Fail(fmt.Errorf("operator %q: %w", o.Name, err))
	}
	return slot, ok
}

// slotForSpilled is slotFor with a spill store: the key is loaded, or created, and dirty.
func (o *WindowOp[K, In, Acc]) slotForSpilled(k K) int32 {
	slot, ok := o.lookupSpilled(k)
	if !ok {
		return o.newKey(k)
	}
	o.spill.Dirty(slot)
	return slot
}

// spilledTimer runs a timer of k (proc: a processing-time one) with a spill store: an evicted key
// is loaded without promotion and evicted again afterwards when the operator is over budget.
func (o *WindowOp[K, In, Acc]) spilledTimer(k K, t int64, proc bool) {
	sp := o.spill
	slot, resident := o.index[k]
	if !resident {
		var ok bool
		var err error
		if slot, ok, err = sp.Lookup(o, k, false); err != nil {
			Fail(fmt.Errorf("operator %q: %w", o.Name, err))
		} else if !ok {
			return // a stale timer: the key's windows were purged
		}
	}
	var changed bool
	if proc {
		changed = o.procTime(slot, k, t)
	} else {
		changed = o.eventTime(slot, k, t)
	}
	if !sp.IsResident(slot) {
		return // every window purged: forgotten
	}
	if changed {
		sp.Dirty(slot)
	}
	if !resident && sp.Resident() > sp.Budget {
		if err := sp.EvictKey(o, slot); err != nil {
			Fail(fmt.Errorf("operator %q: %w", o.Name, err))
		}
	}
}

// forget deletes the stored copy of slot's key, whose windows are all purged (invariant 2).
func (o *WindowOp[K, In, Acc]) forget(slot int32) {
	if err := o.spill.Forget(o.slots[slot].key, slot); err != nil {
		Fail(fmt.Errorf("operator %q: %w", o.Name, err))
	}
}

func (o *WindowOp[K, In, Acc]) slotOf(k K) (int32, bool) {
	slot, ok := o.index[k]
	return slot, ok
}

// evictable: every key may be evicted between records (the operator calls user code, the
// aggregate and Fire, only inside an element or a timer).
func (o *WindowOp[K, In, Acc]) evictable(slot int32) (K, bool) { return o.slots[slot].key, true }

// AppendKeyState appends the windows of the key in slot (its record without the format byte and
// the key); empty reports that it has none.
func (o *WindowOp[K, In, Acc]) AppendKeyState(dst []byte, slot int32) (_ []byte, empty bool) {
	wins := o.slots[slot].wins
	if len(wins) == 0 {
		return dst, true
	}
	return o.appendWins(dst, wins), false
}

// errNoWindows rejects a spilled value that holds no window (AppendKeyState never writes one).
var errNoWindows = errors.New("no windows")

// LoadKeyState rebuilds k's windows from body (written by AppendKeyState) into a new slot and
// returns it. It registers no timers: those of an evicted key stayed in the queues.
func (o *WindowOp[K, In, Acc]) LoadKeyState(k K, body []byte) (int32, error) {
	slot, ok := o.index[k]
	if !ok {
		slot = o.newSlot(k)
	}
	d := decoder{b: body}
	if n := d.uvarint(); d.err == nil && n == 0 {
		d.err = errNoWindows
	} else {
		o.decodeWins(&d, slot, n)
	}
	if d.err != nil {
		if !ok {
			o.DropSlot(slot)
		}
		return -1, fmt.Errorf("%w: operator %q: spilled windows of key %v: %v", ErrCorruptState, o.Name, k, d.err)
	}
	return slot, nil
}

// DropSlot frees slot, its windows and its index entry; the key's timers stay in the queues.
func (o *WindowOp[K, In, Acc]) DropSlot(slot int32) {
	kw := &o.slots[slot]
	clear(kw.wins) // accumulators may hold references
	kw.wins = kw.wins[:0]
	o.freeSlot(slot)
}

// snapshotColdTimers writes a stub record for each timer of a key not in memory (rec is a
// scratch buffer).
func (o *WindowOp[K, In, Acc]) snapshotColdTimers(w *StateWriter, rec []byte) {
	put := func(domain byte) func(t int64, k K) {
		return func(t int64, k K) {
			if _, hot := o.index[k]; hot {
				return // rebuilt from its windows
			}
			rec = o.State.Key.Append(append(rec[:0], formatGeneralWindow), k)
			rec = append(rec, 0, domain) // no windows; the stub's domain
			rec = binary.AppendVarint(rec, t)
			w.Put(KeyGroup(o.State.Hash(k), DefaultMaxParallelism), rec)
		}
	}
	o.evt.Each(put(timerStubEvent))
	o.proc.Each(put(timerStubProc))
}

// restoreTimerStub registers the timer of a stub record (snapshotColdTimers); d is after the
// window count.
func (o *WindowOp[K, In, Acc]) restoreTimerStub(k K, d *decoder) error {
	if o.spill == nil {
		return fmt.Errorf("operator %q: the checkpoint keeps some of its keys in a Pebble spill store: restore it with the Pebble state backend", o.State.UID)
	}
	domain, t := d.byte(), d.varint()
	switch {
	case d.err != nil:
		return nil
	case len(d.b) > 0:
		d.err = fmt.Errorf("%d bytes after a timer stub", len(d.b))
	case domain == timerStubEvent:
		o.evt.Add(t, k)
	case domain == timerStubProc:
		o.proc.Add(t, k)
		o.T.RequestProcTime(t)
	default:
		d.err = fmt.Errorf("a timer stub of domain %d", domain)
	}
	return nil
}
