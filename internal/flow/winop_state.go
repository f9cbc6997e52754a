package flow

import (
	"encoding/binary"
	"fmt"

	"github.com/sluicehq/sluice/window"
)

// Codec encodes values of T for snapshots (package state/codec provides them).
type Codec[T any] interface {
	Append(dst []byte, v T) []byte
	Decode(src []byte) (v T, n int, err error)
}

// StateCodecs are what a keyed operator needs to snapshot its state: codecs for keys and
// values, and the key hash that assigns key groups.
type StateCodecs[K comparable, V any] struct {
	UID   string
	Key   Codec[K]
	Value Codec[V]
	Hash  func(K) uint64
	// Err is why the codecs could not be made (a type that cannot be encoded); snapshots and
	// restores then fail with it.
	Err error
}

// Window snapshot records start with a byte naming the operator that wrote them: the sliced and
// the general window operator have different formats, and a change of trigger, accumulation or
// assigner moves a window from one to the other. A restore then fails with an explanation instead
// of misreading the state.
const (
	formatGeneralWindow byte = 'W'
	formatSlicedWindow  byte = 'S'
)

func windowFormatName(f byte) string {
	switch f {
	case formatGeneralWindow:
		return "general"
	case formatSlicedWindow:
		return "sliced (tumbling/sliding, event-time trigger)"
	}
	return fmt.Sprintf("unknown (%#x)", f)
}

// checkWindowFormat strips the format byte of a window record, or explains why the record cannot
// be read by this operator.
func checkWindowFormat(rec []byte, want byte, uid string) ([]byte, error) {
	if len(rec) == 0 {
		return nil, fmt.Errorf("%w: empty window record", ErrCorruptState)
	}
	if rec[0] != want {
		return nil, fmt.Errorf("operator %q: the checkpoint holds state of the %s window operator but the pipeline now runs the %s one "+
			"(the window's trigger, accumulation or assigner changed): restore with the previous window definition",
			uid, windowFormatName(rec[0]), windowFormatName(want))
	}
	return rec[1:], nil
}

// StateUID is the operator's UID.
func (o *WindowOp[K, In, Acc]) StateUID() string { return o.State.UID }

// SnapshotState writes one record per key: the key and its windows with their trigger state.
// Timers are not written: they follow from the windows and are rebuilt on restore. With a spill
// store, the keys in memory are written so, and the timers of evicted keys as stubs
// (winop_spill.go).
func (o *WindowOp[K, In, Acc]) SnapshotState(w *StateWriter) error {
	if o.State.Err != nil {
		return o.State.Err
	}
	var rec []byte
	for k, slot := range o.index {
		kw := &o.slots[slot]
		if len(kw.wins) == 0 {
			continue // no state (a key whose first window failed to be made)
		}
		rec = o.State.Key.Append(append(rec[:0], formatGeneralWindow), k)
		rec = o.appendWins(rec, kw.wins)
		w.Put(KeyGroup(o.State.Hash(k), DefaultMaxParallelism), rec)
	}
	if o.spill != nil {
		o.snapshotColdTimers(w, rec)
	}
	return nil
}

// appendWins appends the windows of a key with their trigger state: the body of its record.
func (o *WindowOp[K, In, Acc]) appendWins(rec []byte, wins []winState[Acc]) []byte {
	rec = binary.AppendUvarint(rec, uint64(len(wins)))
	for i := range wins {
		ws := &wins[i]
		rec = binary.AppendVarint(rec, ws.w.Start)
		rec = binary.AppendVarint(rec, ws.w.End)
		rec = o.State.Value.Append(rec, ws.acc)
		rec = binary.AppendUvarint(rec, uint64(ws.panes))
		rec = binary.AppendUvarint(rec, uint64(ws.count))
		rec = binary.AppendUvarint(rec, uint64(ws.lateCount))
		rec = binary.AppendVarint(rec, ws.earlyAt)
		var flags byte
		if ws.hasNew {
			flags |= 1
		}
		if ws.onTime {
			flags |= 2
		}
		rec = append(rec, flags)
	}
	return rec
}

// decodeWins reads n windows (appendWins after the count) into slot; it registers no timers.
func (o *WindowOp[K, In, Acc]) decodeWins(d *decoder, slot int32, n uint64) {
	for i := uint64(0); i < n && d.err == nil; i++ {
		var ws winState[Acc]
		ws.w = window.Window{Start: d.varint(), End: d.varint()}
		if d.err == nil {
			var m int
			ws.acc, m, d.err = o.State.Value.Decode(d.b)
			d.skip(m)
		}
		ws.panes, ws.count, ws.lateCount = int(d.uvarint()), int(d.uvarint()), int(d.uvarint())
		ws.earlyAt = d.varint()
		flags := d.byte()
		ws.hasNew, ws.onTime = flags&1 != 0, flags&2 != 0
		if d.err == nil {
			o.slots[slot].wins = append(o.slots[slot].wins, ws)
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes after the windows", len(d.b))
	}
}

// RestoreState rebuilds the windows of the keys this subtask owns and their timers.
func (o *WindowOp[K, In, Acc]) RestoreState(r *StateReader) error {
	if o.State.Err != nil && len(r.parts) > 0 {
		return o.State.Err
	}
	err := r.Each(func(_ int, rec []byte) error {
		rec, err := checkWindowFormat(rec, formatGeneralWindow, o.State.UID)
		if err != nil {
			return err
		}
		k, n, err := o.State.Key.Decode(rec)
		if err != nil {
			return fmt.Errorf("%w: window key: %v", ErrCorruptState, err)
		}
		d := decoder{b: rec[n:]}
		nw := d.uvarint()
		switch {
		case d.err == nil && nw == 0 && len(d.b) > 0:
			err = o.restoreTimerStub(k, &d)
		case d.err == nil && nw > 0:
			o.restoreKey(k, &d, nw)
		}
		if err != nil {
			return err
		}
		if d.err != nil {
			return fmt.Errorf("%w: window state of a key: %v", ErrCorruptState, d.err)
		}
		return nil
	})
	if err == nil && o.spill != nil { // a smaller budget than the checkpoint's
		err = RunGuarded(o.maybeEvict)
	}
	return err
}

// restoreKey reads the nw windows of key k into its slot and registers their timers.
func (o *WindowOp[K, In, Acc]) restoreKey(k K, d *decoder, nw uint64) {
	slot, ok := o.index[k]
	if !ok {
		slot = o.newSlot(k)
	}
	from := len(o.slots[slot].wins)
	o.decodeWins(d, slot, nw)
	for _, ws := range o.slots[slot].wins[from:] {
		o.registerTimers(k, ws.w)
		if ws.earlyAt != 0 {
			o.proc.Add(ws.earlyAt, k)
			o.T.RequestProcTime(ws.earlyAt)
		}
	}
	if o.spill != nil {
		o.spill.Added(slot, true) // shadows a copy the restored store may hold (invariant 3)
	}
}

// decoder reads the varints of a snapshot record, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("truncated record")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("truncated record")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		if d.err == nil {
			d.err = fmt.Errorf("truncated record")
		}
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) skip(n int) {
	if d.err == nil {
		d.b = d.b[n:]
	}
}
