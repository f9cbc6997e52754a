package flow

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
)

// SortByTime buffers records until the watermark passes their timestamp, then emits them in
// timestamp order, ties broken by Less. Run with parallelism 1 after a gather, its output order is
// deterministic whatever the interleaving of upstream subtasks (Flink SQL: ORDER BY rowtime).
type SortByTime[T any] struct {
	Ctl
	Name string
	T    *Task
	Less func(a, b T) int
	Out  Outlet[T]
	// State holds the UID and codec for checkpoints.
	State SortState[T]
	buf   []Rec[T]
}

// Collect buffers v; a record already behind the watermark is emitted at once.
func (s *SortByTime[T]) Collect(ts int64, v T) {
	if ts <= s.WM {
		s.Out.Collect(ts, v)
		return
	}
	s.buf = append(s.buf, Rec[T]{TS: ts, V: v})
}

// Watermark emits the buffered records up to wm in order, then forwards wm.
func (s *SortByTime[T]) Watermark(wm int64) {
	if !s.Advance(wm) {
		return
	}
	slices.SortStableFunc(s.buf, func(a, b Rec[T]) int {
		if c := cmp.Compare(a.TS, b.TS); c != 0 {
			return c
		}
		return s.Less(a.V, b.V)
	})
	n := 0
	for n < len(s.buf) && s.buf[n].TS <= wm {
		s.Out.Collect(s.buf[n].TS, s.buf[n].V)
		n++
	}
	rest := copy(s.buf, s.buf[n:])
	clear(s.buf[rest:])
	s.buf = s.buf[:rest]
	s.Out.Watermark(wm)
}

// Idle forwards.
func (s *SortByTime[T]) Idle(idle bool) {
	if s.SetIdle(idle) {
		s.Out.Idle(idle)
	}
}

// ProcTime forwards.
func (s *SortByTime[T]) ProcTime(now int64) { s.Out.ProcTime(now) }

// Finish emits what is left in order and forwards end of input.
func (s *SortByTime[T]) Finish() {
	if s.MarkFinished() {
		s.Watermark(MaxTime)
		s.Out.Finish()
	}
}

// SortState is what SortByTime needs for checkpoints: its UID and a codec for records.
type SortState[T any] struct {
	UID   string
	Value Codec[T]
	Err   error
}

// StateUID is the operator's UID.
func (s *SortByTime[T]) StateUID() string { return s.State.UID }

// SnapshotState writes the buffered records as operator state.
func (s *SortByTime[T]) SnapshotState(w *StateWriter) error {
	if s.State.Err != nil {
		return s.State.Err
	}
	var rec []byte
	for _, r := range s.buf {
		rec = binary.AppendVarint(rec[:0], r.TS)
		rec = s.State.Value.Append(rec, r.V)
		w.Put(OperatorStateGroup, rec)
	}
	return nil
}

// RestoreState reloads buffered records.
func (s *SortByTime[T]) RestoreState(r *StateReader) error {
	return r.Each(func(_ int, rec []byte) error {
		if s.State.Err != nil {
			return s.State.Err
		}
		ts, n := binary.Varint(rec)
		if n <= 0 {
			return fmt.Errorf("%w: sort buffer timestamp", ErrCorruptState)
		}
		v, _, err := s.State.Value.Decode(rec[n:])
		if err != nil {
			return fmt.Errorf("%w: sort buffer record: %v", ErrCorruptState, err)
		}
		s.buf = append(s.buf, Rec[T]{TS: ts, V: v})
		return nil
	})
}
