package flow

// Map applies a function to every record.
type Map[I, O any] struct {
	Ctl
	Name string
	T    *Task
	F    func(I) O
	Out  Outlet[O]
}

// Collect maps v; a panic in F sends v to the dead-letter route.
func (m *Map[I, O]) Collect(ts int64, v I) {
	defer func() {
		if r := recover(); r != nil {
			m.T.Recovered(m.Name, r, ts, v)
		}
	}()
	m.Out.Collect(ts, m.F(v))
}

// Watermark forwards.
func (m *Map[I, O]) Watermark(wm int64) {
	if m.Advance(wm) {
		m.Out.Watermark(wm)
	}
}

// Idle forwards.
func (m *Map[I, O]) Idle(idle bool) {
	if m.SetIdle(idle) {
		m.Out.Idle(idle)
	}
}

// ProcTime forwards.
func (m *Map[I, O]) ProcTime(now int64) { m.Out.ProcTime(now) }

// Finish forwards once.
func (m *Map[I, O]) Finish() {
	if m.MarkFinished() {
		m.Out.Finish()
	}
}

// FlatMap calls a function that may emit any number of records.
type FlatMap[I, O any] struct {
	Ctl
	Name string
	T    *Task
	F    func(I, func(O))
	Out  Outlet[O]
	ts   int64
	emit func(O)
}

// Collect runs F on v.
func (m *FlatMap[I, O]) Collect(ts int64, v I) {
	defer func() {
		if r := recover(); r != nil {
			m.T.Recovered(m.Name, r, ts, v)
		}
	}()
	if m.emit == nil {
		m.emit = func(o O) { m.Out.Collect(m.ts, o) }
	}
	m.ts = ts
	m.F(v, m.emit)
}

// Watermark forwards.
func (m *FlatMap[I, O]) Watermark(wm int64) {
	if m.Advance(wm) {
		m.Out.Watermark(wm)
	}
}

// Idle forwards.
func (m *FlatMap[I, O]) Idle(idle bool) {
	if m.SetIdle(idle) {
		m.Out.Idle(idle)
	}
}

// ProcTime forwards.
func (m *FlatMap[I, O]) ProcTime(now int64) { m.Out.ProcTime(now) }

// Finish forwards once.
func (m *FlatMap[I, O]) Finish() {
	if m.MarkFinished() {
		m.Out.Finish()
	}
}

// Filter keeps the records for which F is true.
type Filter[T any] struct {
	Ctl
	Name string
	T    *Task
	F    func(T) bool
	Out  Outlet[T]
}

// Collect forwards v when F(v).
func (m *Filter[T]) Collect(ts int64, v T) {
	defer func() {
		if r := recover(); r != nil {
			m.T.Recovered(m.Name, r, ts, v)
		}
	}()
	if m.F(v) {
		m.Out.Collect(ts, v)
	}
}

// Watermark forwards.
func (m *Filter[T]) Watermark(wm int64) {
	if m.Advance(wm) {
		m.Out.Watermark(wm)
	}
}

// Idle forwards.
func (m *Filter[T]) Idle(idle bool) {
	if m.SetIdle(idle) {
		m.Out.Idle(idle)
	}
}

// ProcTime forwards.
func (m *Filter[T]) ProcTime(now int64) { m.Out.ProcTime(now) }

// Finish forwards once.
func (m *Filter[T]) Finish() {
	if m.MarkFinished() {
		m.Out.Finish()
	}
}

// Pass forwards everything unchanged; it joins several in-task inputs (a union).
type Pass[T any] struct {
	Ctl
	Out Outlet[T]
}

// Collect forwards.
func (m *Pass[T]) Collect(ts int64, v T) { m.Out.Collect(ts, v) }

// Watermark forwards.
func (m *Pass[T]) Watermark(wm int64) {
	if m.Advance(wm) {
		m.Out.Watermark(wm)
	}
}

// Idle forwards.
func (m *Pass[T]) Idle(idle bool) {
	if m.SetIdle(idle) {
		m.Out.Idle(idle)
	}
}

// ProcTime forwards.
func (m *Pass[T]) ProcTime(now int64) { m.Out.ProcTime(now) }

// Finish forwards once.
func (m *Pass[T]) Finish() {
	if m.MarkFinished() {
		m.Out.Finish()
	}
}

// Sink calls a function for every record; an error returned by it fails the pipeline, a panic
// sends the record to the dead-letter route.
type Sink[T any] struct {
	Ctl
	Name    string
	T       *Task
	F       func(ts int64, v T) error
	OnClose func() error
	Err     error
}

// Collect writes v.
func (s *Sink[T]) Collect(ts int64, v T) {
	defer func() {
		if r := recover(); r != nil {
			s.T.Recovered(s.Name, r, ts, v)
		}
	}()
	if s.Err != nil {
		return
	}
	if err := s.F(ts, v); err != nil {
		s.Err = err
		panic(abort{err})
	}
}

// Watermark records wm.
func (s *Sink[T]) Watermark(wm int64) { s.Advance(wm) }

// Idle ignores the status.
func (s *Sink[T]) Idle(bool) {}

// ProcTime does nothing.
func (s *Sink[T]) ProcTime(int64) {}

// Finish closes the sink once.
func (s *Sink[T]) Finish() {
	if s.MarkFinished() && s.OnClose != nil {
		if err := s.OnClose(); err != nil {
			panic(abort{err})
		}
	}
}

// TwoPhaseSink is the transactional part of a sink (see sluice.TwoPhaseCommitSink).
type TwoPhaseSink interface {
	PreCommit(id int64) ([]byte, error)
	Commit(id int64) error
	Recover(state []byte) error
}

// TxSink adds two-phase commit to a Sink operator: it pre-commits at each checkpoint barrier (its
// state is what PreCommit returns), commits when the checkpoint completes, and recovers on restore.
type TxSink[T any] struct {
	*Sink[T]
	UID string
	Tx  TwoPhaseSink
}

// StateUID is the sink's UID.
func (s *TxSink[T]) StateUID() string { return s.UID }

// SnapshotState pre-commits.
func (s *TxSink[T]) SnapshotState(w *StateWriter) error {
	st, err := s.Tx.PreCommit(w.CheckpointID)
	if err != nil {
		return err
	}
	w.Put(OperatorStateGroup, st)
	return nil
}

// RestoreState recovers the sink's pre-committed state (nil on a fresh start).
func (s *TxSink[T]) RestoreState(r *StateReader) error {
	var st []byte
	if err := r.Each(func(_ int, rec []byte) error {
		st = rec
		return nil
	}); err != nil {
		return err
	}
	return s.Tx.Recover(st)
}

// Commit makes checkpoint id's output visible.
func (s *TxSink[T]) Commit(id int64) error { return s.Tx.Commit(id) }
