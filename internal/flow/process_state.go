package flow

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
)

// Checkpoints of the keyed process operator (KeyedProcess).
//
// SnapshotState writes one record per key, tagged with the key's key group (KeyGroup of the same
// hash the KeyBy exchange uses), so that a restore with another parallelism finds each key in the
// subtask that now owns it. The record holds the key, its non-empty states and its pending timers:
//
//	record  = key nstates state* timers(event time) timers(processing time)
//	key     = the key, by KeyCodec
//	nstates = uvarint
//	state   = name kind len payload
//	name    = uvarint length, then the state's name (states are matched by name on restore)
//	kind    = byte: 1 value, 2 map, 3 list; plus 0x80 when the entries carry TTL stamps
//	len     = uvarint length of payload
//	payload = value: [stamp] value
//	          map:   uvarint n, then n × (key value [stamp])
//	          list:  uvarint n, then n × (element [stamp])
//	stamp   = varint: processing time (ms) the entry was last written, or read (see TTL)
//	timers  = uvarint n, then n × (varint time, uvarint seq)
//
// Values, map keys and elements are encoded by the state's codecs (SetCodec). seq is the timer's
// registration order: restored timers are registered again in that order, so timers with equal
// times fire in the same order as without the restart. Entries whose TTL has expired are not
// written (the snapshot visits every key, so it also removes them from memory).
//
// RestoreState reads the records of the subtask's key groups. A state of the checkpoint that the
// operator no longer declares, or declares with another kind, is an error naming it; declaration
// order does not matter. A state with a TTL restored from entries without stamps (TTL added since
// the checkpoint) stamps them with the restore time; stamps of a state that no longer has a TTL
// are ignored. Processing-time timers are registered with the task again (RequestProcTime); a
// timer whose time has passed fires at the task's next processing-time call.

// StateUID is the operator's UID.
func (o *KeyedProcess[K, In, Out]) StateUID() string { return o.UID }

// checkCodecs says why the operator's state cannot be written to a checkpoint.
func (o *KeyedProcess[K, In, Out]) checkCodecs() error {
	if o.KeyCodecErr != nil {
		return fmt.Errorf("operator %q: its keys cannot be checkpointed: %w", o.Name, o.KeyCodecErr)
	}
	if o.KeyCodec == nil {
		return fmt.Errorf("operator %q: its keys cannot be checkpointed: %w", o.Name, codecMissing[K]())
	}
	for _, st := range o.State.states {
		if err := st.codecErr(); err != nil {
			return stateCodecError(o.Name, st, err)
		}
	}
	return nil
}

func stateCodecError(op string, st keyedState, err error) error {
	return fmt.Errorf("operator %q: %s state %q cannot be checkpointed: %w", op, kindName(st.stateKind()), st.stateName(), err)
}

// SnapshotState writes one record per key with its states and timers (format above). Expired
// TTL entries are removed first. A state whose type cannot be encoded fails the snapshot with an
// error naming the operator, the state and the type.
func (o *KeyedProcess[K, In, Out]) SnapshotState(w *StateWriter) (err error) {
	if o.InitErr != nil {
		return o.InitErr
	}
	if err := o.checkCodecs(); err != nil {
		return err
	}
	var cur keyedState
	defer func() {
		if r := recover(); r != nil {
			if a, ok := r.(abort); ok {
				panic(a)
			}
			if cur != nil {
				err = fmt.Errorf("operator %q: encoding %s state %q: %v", o.Name, kindName(cur.stateKind()), cur.stateName(), r)
			} else {
				err = fmt.Errorf("operator %q: encoding a key: %v", o.Name, r)
			}
		}
	}()
	sc := o.State
	ttl, now := sc.hasTTL(), sc.now()
	evt, proc := groupTimers(&o.evt, len(sc.refs)), groupTimers(&o.proc, len(sc.refs))
	rec, body, payload := o.snapBufs[0][:0], o.snapBufs[1][:0], o.snapBufs[2][:0]
	sp := sc.spill
	for i := range sc.refs {
		slot := int32(i)
		if sc.refs[slot] == 0 {
			continue // a free slot
		}
		k := sc.keys[slot]
		cur = nil
		rec = o.KeyCodec.Append(rec[:0], k)
		if sp != nil && !sp.IsResident(slot) {
			// An evicted key with timers: its states are in the spill store, captured with
			// this checkpoint (or it has none).
			if sp.InStore(slot) {
				rec = appendSpilledMarker(rec)
			} else {
				rec = binary.AppendUvarint(rec, 0)
			}
		} else {
			if ttl {
				if sc.expireSlot(slot, now); sc.refs[slot] == 0 {
					continue
				}
			}
			var n int
			body, payload, n = sc.appendStates(body[:0], payload, slot, &cur)
			cur = nil
			rec = binary.AppendUvarint(rec, uint64(n))
			rec = append(rec, body...)
		}
		rec = appendTimers(rec, evt.of(slot))
		rec = appendTimers(rec, proc.of(slot))
		w.Put(KeyGroup(o.hash(k), DefaultMaxParallelism), rec)
	}
	o.snapBufs = [3][]byte{rec, body, payload}
	return nil
}

// appendStates appends the non-empty states of slot (state* in the record format) to body, using
// payload as scratch, and returns both and the number of states written; *cur is the state
// being encoded (for the messages of encoding panics).
func (s *StateScope) appendStates(body, payload []byte, slot int32, cur *keyedState) (_, _ []byte, n int) {
	for _, st := range s.states {
		*cur = st
		var ok bool
		if payload, ok = st.appendSlot(payload[:0], slot); !ok {
			continue
		}
		body = appendString(body, st.stateName())
		kind := st.stateKind()
		if st.stamped() {
			kind |= kindStamped
		}
		body = append(body, kind)
		body = binary.AppendUvarint(body, uint64(len(payload)))
		body = append(body, payload...)
		n++
	}
	return body, payload, n
}

// restoredTimer is a timer read from a checkpoint, registered once every record is read.
type restoredTimer struct {
	ts   int64
	seq  uint64
	slot int32
	proc bool
}

// RestoreState rebuilds the states and timers of the keys in the subtask's key groups. Without
// snapshot parts (a fresh start) it does nothing.
func (o *KeyedProcess[K, In, Out]) RestoreState(r *StateReader) error {
	if len(r.parts) == 0 {
		return nil
	}
	if o.InitErr != nil {
		return o.InitErr
	}
	if o.KeyCodecErr != nil || o.KeyCodec == nil {
		return o.checkCodecs()
	}
	sc := o.State
	now := sc.now()
	var timers []restoredTimer
	var slots []int32
	err := r.Each(func(_ int, rec []byte) error {
		slot, err := o.restoreKey(rec, now, &timers)
		if slot >= 0 {
			slots = append(slots, slot)
		}
		return err
	})
	if err != nil {
		return err
	}
	slices.SortStableFunc(timers, func(a, b restoredTimer) int { return cmp.Compare(a.seq, b.seq) })
	for _, t := range timers {
		h := &o.evt
		if t.proc {
			h = &o.proc
		}
		if h.add(t.slot, t.ts) {
			sc.holdTimer(t.slot)
			if t.proc {
				o.T.RequestProcTime(t.ts)
			}
		}
	}
	return RunGuarded(func() {
		for _, slot := range slots {
			if sc.refs[slot] == 0 { // every entry had expired, and no timer
				sc.release(slot)
			}
		}
		if sc.spill != nil { // a smaller budget than the checkpoint's
			o.maybeEvict()
		}
	})
}

// restoreKey loads one record; it returns the key's slot (-1 when the key could not be read).
func (o *KeyedProcess[K, In, Out]) restoreKey(rec []byte, now int64, timers *[]restoredTimer) (int32, error) {
	sc := o.State
	k, n, err := o.KeyCodec.Decode(rec)
	if err != nil {
		return -1, fmt.Errorf("%w: operator %q: key: %v", ErrCorruptState, o.Name, err)
	}
	if _, dup := sc.index[k]; dup {
		return -1, fmt.Errorf("%w: operator %q: key %v appears twice", ErrCorruptState, o.Name, k)
	}
	slot := sc.alloc(k)
	d := decoder{b: rec[n:]}
	spilled, err := sc.restoreStates(&d, slot, now)
	if err != nil {
		return slot, err
	}
	if sp := sc.spill; sp != nil {
		if spilled {
			sp.Stub(slot)
		} else {
			sp.Added(slot, true) // shadows a copy the restored store may hold (invariant 3)
		}
	}
	for _, proc := range []bool{false, true} {
		nt := d.uvarint()
		for i := uint64(0); i < nt && d.err == nil; i++ {
			ts := d.varint()
			seq := d.uvarint()
			if d.err == nil {
				*timers = append(*timers, restoredTimer{ts: ts, seq: seq, slot: slot, proc: proc})
			}
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes after the timers", len(d.b))
	}
	if d.err != nil {
		return slot, fmt.Errorf("%w: operator %q: state of key %v: %v", ErrCorruptState, o.Name, k, d.err)
	}
	return slot, nil
}

// restoreStates reads nstates state* from d into slot (entries expired at now are dropped). spilled
// reports the marker of a key whose states were in the spill store (appendSpilledMarker).
func (s *StateScope) restoreStates(d *decoder, slot int32, now int64) (spilled bool, err error) {
	ns := d.uvarint()
	for i := uint64(0); i < ns && d.err == nil; i++ {
		name := takeBytes(d, d.uvarint())
		kind := d.byte()
		payload := takeBytes(d, d.uvarint())
		if d.err != nil {
			break
		}
		if len(name) == 0 && kind == kindSpilled && ns == 1 {
			if !s.spillOn {
				return false, fmt.Errorf("operator %q: the checkpoint keeps some of its keys in a Pebble spill store: restore it with the Pebble state backend", s.Operator)
			}
			return true, nil
		}
		st := s.byName[string(name)]
		switch {
		case st == nil:
			return false, fmt.Errorf("operator %q: the checkpoint holds %s state %q, which the operator no longer declares", s.Operator, kindName(kind), name)
		case st.stateKind() != kind&^kindStamped:
			return false, fmt.Errorf("operator %q: state %q is a %s state in the checkpoint but is now declared as a %s state", s.Operator, name, kindName(kind), kindName(st.stateKind()))
		}
		if err := st.codecErr(); err != nil {
			return false, stateCodecError(s.Operator, st, err)
		}
		if err := st.restoreSlot(slot, payload, kind&kindStamped != 0, now); err != nil {
			return false, fmt.Errorf("%w: operator %q, %s state %q: %v", ErrCorruptState, s.Operator, kindName(kind), name, err)
		}
	}
	return false, nil
}

// slotTimers are a heap's timers grouped by slot (compressed rows: slot s has
// ents[start[s]:start[s+1]]).
type slotTimers struct {
	start []int32
	ents  []timerEnt
}

func groupTimers(h *timerHeap, slots int) slotTimers {
	if h.len() == 0 {
		return slotTimers{}
	}
	start := make([]int32, slots+1)
	for i := range h.ents {
		if e := &h.ents[i]; e.pos >= 0 {
			start[e.slot+1]++
		}
	}
	for i := 1; i <= slots; i++ {
		start[i] += start[i-1]
	}
	ents := make([]timerEnt, start[slots])
	next := slices.Clone(start[:slots])
	for _, e := range h.ents {
		if e.pos >= 0 {
			ents[next[e.slot]] = e
			next[e.slot]++
		}
	}
	return slotTimers{start: start, ents: ents}
}

func (g slotTimers) of(slot int32) []timerEnt {
	if g.start == nil {
		return nil
	}
	return g.ents[g.start[slot]:g.start[slot+1]]
}

func appendTimers(dst []byte, ts []timerEnt) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ts)))
	for _, t := range ts {
		dst = binary.AppendVarint(dst, t.ts)
		dst = binary.AppendUvarint(dst, t.seq)
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// takeBytes reads the next n bytes.
func takeBytes(d *decoder, n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("truncated record")
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

// decodeWith decodes one value with c.
func decodeWith[T any](d *decoder, c Codec[T]) T {
	var v T
	if d.err != nil {
		return v
	}
	v, n, err := c.Decode(d.b)
	if err != nil {
		d.err = err
		return v
	}
	d.b = d.b[n:]
	return v
}

// finish reports an error of d, or bytes left after what was decoded.
func finish(d *decoder) error {
	if d.err == nil && len(d.b) > 0 {
		return fmt.Errorf("%d bytes after the entries", len(d.b))
	}
	return d.err
}

// Snapshot and restore of each state kind (the keyedState methods).

func (s *ValueState[T]) stateName() string { return s.name }
func (s *ValueState[T]) stateKind() byte   { return kindValue }
func (s *ValueState[T]) stamped() bool     { return s.ttl.Millis != 0 }

func (s *ValueState[T]) codecErr() error {
	if s.cerr != nil {
		return s.cerr
	}
	if s.codec == nil {
		return codecMissing[T]()
	}
	return nil
}

func (s *ValueState[T]) appendSlot(dst []byte, slot int32) ([]byte, bool) {
	if int(slot) >= len(s.cells) || !s.cells[slot].ok {
		return dst, false
	}
	if s.ttl.Millis != 0 {
		dst = binary.AppendVarint(dst, s.stamps[slot])
	}
	return s.codec.Append(dst, s.cells[slot].v), true
}

func (s *ValueState[T]) restoreSlot(slot int32, src []byte, stamped bool, now int64) error {
	d := decoder{b: src}
	ts := now
	if stamped {
		ts = d.varint()
	}
	v := decodeWith(&d, s.codec)
	if err := finish(&d); err != nil {
		return err
	}
	if s.ttl.Millis == 0 {
		ts = now
	} else if s.ttl.expired(ts, now) {
		return nil
	}
	s.cells = growTo(s.cells, slot)
	if !s.cells[slot].ok {
		s.sc.hold(slot)
	}
	s.cells[slot] = valueCell[T]{v: v, ok: true}
	if s.ttl.Millis != 0 {
		s.stamps = growTo(s.stamps, slot)
		s.stamps[slot] = ts
	}
	return nil
}

func (s *MapState[UK, UV]) stateName() string { return s.name }
func (s *MapState[UK, UV]) stateKind() byte   { return kindMap }
func (s *MapState[UK, UV]) stamped() bool     { return s.ttl.Millis != 0 }

func (s *MapState[UK, UV]) codecErr() error {
	switch {
	case s.cerr != nil:
		return s.cerr
	case s.kc == nil:
		return codecMissing[UK]()
	case s.vc == nil:
		return codecMissing[UV]()
	}
	return nil
}

func (s *MapState[UK, UV]) appendSlot(dst []byte, slot int32) ([]byte, bool) {
	if int(slot) >= len(s.maps) || len(s.maps[slot]) == 0 {
		return dst, false
	}
	m := s.maps[slot]
	dst = binary.AppendUvarint(dst, uint64(len(m)))
	var st map[UK]int64
	if s.ttl.Millis != 0 {
		st = s.stamps[slot]
	}
	for k, v := range m {
		dst = s.kc.Append(dst, k)
		dst = s.vc.Append(dst, v)
		if st != nil {
			dst = binary.AppendVarint(dst, st[k])
		}
	}
	return dst, true
}

func (s *MapState[UK, UV]) restoreSlot(slot int32, src []byte, stamped bool, now int64) error {
	d := decoder{b: src}
	n := d.uvarint()
	for i := uint64(0); i < n && d.err == nil; i++ {
		k := decodeWith(&d, s.kc)
		v := decodeWith(&d, s.vc)
		ts := now
		if stamped {
			ts = d.varint()
		}
		if d.err != nil {
			break
		}
		if s.ttl.Millis == 0 {
			ts = now
		} else if s.ttl.expired(ts, now) {
			continue
		}
		s.maps = growTo(s.maps, slot)
		m := s.maps[slot]
		if m == nil {
			m = make(map[UK]UV)
			s.maps[slot] = m
		}
		if len(m) == 0 {
			s.sc.hold(slot)
		}
		m[k] = v
		if s.ttl.Millis != 0 {
			s.stamp(slot, k, len(m) == 1, ts)
		}
	}
	return finish(&d)
}

func (s *ListState[T]) stateName() string { return s.name }
func (s *ListState[T]) stateKind() byte   { return kindList }
func (s *ListState[T]) stamped() bool     { return s.ttl.Millis != 0 }

func (s *ListState[T]) codecErr() error {
	if s.cerr != nil {
		return s.cerr
	}
	if s.codec == nil {
		return codecMissing[T]()
	}
	return nil
}

func (s *ListState[T]) appendSlot(dst []byte, slot int32) ([]byte, bool) {
	if int(slot) >= len(s.lists) || len(s.lists[slot]) == 0 {
		return dst, false
	}
	l := s.lists[slot]
	dst = binary.AppendUvarint(dst, uint64(len(l)))
	for i, v := range l {
		dst = s.codec.Append(dst, v)
		if s.ttl.Millis != 0 {
			dst = binary.AppendVarint(dst, s.stamps[slot][i])
		}
	}
	return dst, true
}

func (s *ListState[T]) restoreSlot(slot int32, src []byte, stamped bool, now int64) error {
	d := decoder{b: src}
	n := d.uvarint()
	s.lists = growTo(s.lists, slot)
	wasEmpty := len(s.lists[slot]) == 0
	l := s.lists[slot]
	var st []int64
	if s.ttl.Millis != 0 {
		s.stamps = growTo(s.stamps, slot)
		s.oldest = growTo(s.oldest, slot)
		st = s.stamps[slot]
	}
	oldest := MaxTime
	if len(st) > 0 {
		oldest = s.oldest[slot]
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		v := decodeWith(&d, s.codec)
		ts := now
		if stamped {
			ts = d.varint()
		}
		if d.err != nil {
			break
		}
		if s.ttl.Millis == 0 {
			l = append(l, v)
			continue
		}
		if !s.ttl.expired(ts, now) {
			l = append(l, v)
			st = append(st, ts)
			oldest = min(oldest, ts)
		}
	}
	s.lists[slot] = l
	if s.ttl.Millis != 0 {
		s.stamps[slot], s.oldest[slot] = st, oldest
	}
	if wasEmpty && len(l) > 0 {
		s.sc.hold(slot)
	}
	return finish(&d)
}
