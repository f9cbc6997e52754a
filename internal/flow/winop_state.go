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
// Timers are not written: they follow from the windows and are rebuilt on restore.
func (o *WindowOp[K, In, Acc]) SnapshotState(w *StateWriter) error {
	if o.State.Err != nil {
		return o.State.Err
	}
	var rec []byte
	for k, slot := range o.index {
		kw := &o.slots[slot]
		rec = o.State.Key.Append(append(rec[:0], formatGeneralWindow), k)
		rec = binary.AppendUvarint(rec, uint64(len(kw.wins)))
		for i := range kw.wins {
			ws := &kw.wins[i]
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
		w.Put(KeyGroup(o.State.Hash(k), DefaultMaxParallelism), rec)
	}
	return nil
}

// RestoreState rebuilds the windows of the keys this subtask owns and their timers.
func (o *WindowOp[K, In, Acc]) RestoreState(r *StateReader) error {
	if o.State.Err != nil && len(r.parts) > 0 {
		return o.State.Err
	}
	return r.Each(func(_ int, rec []byte) error {
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
		slot := o.slotFor(k)
		for i := uint64(0); i < nw && d.err == nil; i++ {
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
			o.slots[slot].wins = append(o.slots[slot].wins, ws)
			o.registerTimers(k, ws.w)
			if ws.earlyAt != 0 {
				o.proc.Add(ws.earlyAt, k)
				o.T.RequestProcTime(ws.earlyAt)
			}
		}
		if d.err != nil {
			return fmt.Errorf("%w: window state of a key: %v", ErrCorruptState, d.err)
		}
		return nil
	})
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
