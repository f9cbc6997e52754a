package flow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Snapshotter is implemented by operators with state. At a checkpoint barrier (when every record
// before it has gone through the whole task), the runtime calls SnapshotState; after a restart, it
// calls RestoreState before the first record. Keyed state is written per key group so that a
// restore with another parallelism can redistribute it.
type Snapshotter interface {
	// StateUID is the operator's UID: checkpoints are keyed by it.
	StateUID() string
	SnapshotState(w *StateWriter) error
	RestoreState(r *StateReader) error
}

// AsyncSnapshotter is implemented by operators whose state is large: at the barrier,
// SnapshotAsync only captures a consistent view (cheaply, e.g. by marking the state copy-on-write)
// and returns a function that serialises that view in the background while the task goes on
// processing. The function must not touch what the operator mutates afterwards.
type AsyncSnapshotter interface {
	Snapshotter
	SnapshotAsync(id int64) (func(w *StateWriter) error, error)
}

// Committer is implemented by two-phase-commit sinks: SnapshotState pre-commits what was written
// before the barrier, Commit makes it visible once checkpoint id is complete.
type Committer interface {
	Commit(id int64) error
}

// Positioner is implemented by replayable split readers: Position is where the split resumes
// after the last record Read returned; Seek resumes there.
type Positioner interface {
	Position() ([]byte, error)
	Seek(pos []byte) error
}

// OperatorStateGroup tags records of operator (non-keyed) state.
const OperatorStateGroup = -1

// StateWriter collects an operator's snapshot: records tagged with their key group.
type StateWriter struct {
	// CheckpointID is the id of the checkpoint being taken.
	CheckpointID int64
	buf          []byte
}

// Put appends one record for key group kg (OperatorStateGroup for non-keyed state).
func (w *StateWriter) Put(kg int, rec []byte) {
	w.buf = binary.AppendUvarint(w.buf, uint64(kg+1))
	w.buf = binary.AppendUvarint(w.buf, uint64(len(rec)))
	w.buf = append(w.buf, rec...)
}

// Bytes returns the snapshot.
func (w *StateWriter) Bytes() []byte { return w.buf }

// Reset empties the writer for reuse.
func (w *StateWriter) Reset() { w.buf = w.buf[:0] }

// StateReader iterates the records of snapshot parts that belong to a subtask: keyed records whose
// key group lies in [kgStart, kgEnd), and the operator-state records of the parts assigned to it.
type StateReader struct {
	parts   []StatePart
	kgStart int
	kgEnd   int
}

// StatePart is one subtask's snapshot of an operator, as read back for a restore.
type StatePart struct {
	Data []byte
	// OperatorState says whether this part's operator (non-keyed) state goes to the reader.
	OperatorState bool
}

// NewStateReader reads parts for the key groups [kgStart, kgEnd).
func NewStateReader(parts []StatePart, kgStart, kgEnd int) *StateReader {
	return &StateReader{parts: parts, kgStart: kgStart, kgEnd: kgEnd}
}

// ErrCorruptState is wrapped by errors about malformed snapshot data.
var ErrCorruptState = errors.New("corrupt state snapshot")

// Each calls f for every record this subtask owns, in order.
func (r *StateReader) Each(f func(kg int, rec []byte) error) error {
	for _, part := range r.parts {
		p := part.Data
		for len(p) > 0 {
			kg1, n := binary.Uvarint(p)
			if n <= 0 {
				return fmt.Errorf("%w: bad key-group tag", ErrCorruptState)
			}
			p = p[n:]
			l, n := binary.Uvarint(p)
			if n <= 0 || l > uint64(len(p)-n) {
				return fmt.Errorf("%w: bad record length", ErrCorruptState)
			}
			rec := p[n : n+int(l)]
			p = p[n+int(l):]
			kg := int(kg1) - 1
			if (kg == OperatorStateGroup && part.OperatorState) || (kg >= r.kgStart && kg < r.kgEnd) {
				if err := f(kg, rec); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// KeyGroupRange returns the key groups [start, end) owned by subtask i of p (Flink's
// computeKeyGroupRangeForOperatorIndex).
func KeyGroupRange(maxParallelism, p, i int) (int, int) {
	return (i*maxParallelism + p - 1) / p, ((i+1)*maxParallelism + p - 1) / p
}

// OperatorSnapshot is one operator's state in a task's checkpoint.
type OperatorSnapshot struct {
	UID  string
	Data []byte
	// Spill is the capture of the operator's spill store (Spiller), taken with Data; nil when
	// the operator keeps its state in memory. The runtime uploads it, then releases it.
	Spill SpillCapture

	recycle func([]byte) // hands Data back to its task; nil when nobody takes it back
}

// Recycle hands Data back to the task that took the snapshot, to be overwritten by a later one.
// Call it once Data is written and no longer read; calling it again does nothing.
func (o OperatorSnapshot) Recycle() {
	if o.recycle != nil && o.Data != nil {
		o.recycle(o.Data)
	}
}

// TaskSnapshot is what a task reports for one checkpoint.
type TaskSnapshot struct {
	ID       int64
	Stage    string
	Subtask  int
	Position []byte // the source split's position, for source tasks
	States   []OperatorSnapshot
	Err      error
}

// AddSnapshotter registers a stateful operator of this task.
func (t *Task) AddSnapshotter(s Snapshotter) {
	t.snapshotters = append(t.snapshotters, s)
	t.snapshotSizes = append(t.snapshotSizes, 0)
	t.spare = append(t.spare, nil)
}

// stateWriter returns a writer for snapshotter i's part of checkpoint id, with room for 1/8 more
// than its previous snapshot: a large state is then written into one buffer instead of one grown
// by doubling (which copied and allocated about three times the snapshot's size).
//
// The buffer is the one of an earlier snapshot when the runtime has written that one and handed
// it back (OperatorSnapshot.Recycle) and it is large enough: a large state is then snapshotted
// every interval without allocating (and collecting) its size again each time.
func (t *Task) stateWriter(i int, id int64) *StateWriter {
	hint := atomic.LoadInt64(&t.snapshotSizes[i])
	t.spareMu.Lock()
	b := t.spare[i]
	if int64(cap(b)) >= hint+hint/64 { // allocated with an eighth to spare: good while it lasts
		t.spare[i] = nil
	} else {
		b = make([]byte, 0, hint+hint/8)
	}
	t.spareMu.Unlock()
	return &StateWriter{CheckpointID: id, buf: b[:0]}
}

// recycler returns the function that hands snapshotter i's buffer b back for a later snapshot;
// it takes b once, however often it is called.
func (t *Task) recycler(i int) func(b []byte) {
	var once sync.Once
	return func(b []byte) {
		once.Do(func() {
			t.spareMu.Lock()
			if cap(b) > cap(t.spare[i]) {
				t.spare[i] = b[:0]
			}
			t.spareMu.Unlock()
		})
	}
}

// sized records the size of snapshotter i's last snapshot, for the next stateWriter. The
// asynchronous encoder calls it from its own goroutine.
func (t *Task) sized(i int, w *StateWriter) {
	atomic.StoreInt64(&t.snapshotSizes[i], int64(len(w.buf)))
}

// AddBarrierWriter registers a function that forwards a checkpoint barrier downstream.
func (t *Task) AddBarrierWriter(f func(id int64)) { t.barrierWriters = append(t.barrierWriters, f) }

// AddCommitter registers a two-phase-commit participant of this task.
func (t *Task) AddCommitter(c Committer) { t.committers = append(t.committers, c) }

// HasCommitters reports whether the task has two-phase-commit participants.
func (t *Task) HasCommitters() bool { return len(t.committers) > 0 }

// Snapshotters returns the task's stateful operators, for restore.
func (t *Task) Snapshotters() []Snapshotter { return t.snapshotters }

// Checkpoint runs the task's part of checkpoint id: it flushes outgoing buffers, snapshots every
// stateful operator, forwards the barrier downstream, and reports the snapshot with OnSnapshot.
// It is called when the barrier has arrived on every input (aligned).
func (t *Task) Checkpoint(id int64, position []byte) {
	t.Flush()
	snap := TaskSnapshot{ID: id, Stage: t.Stage, Subtask: t.Index, Position: position}
	type later struct {
		i     int
		uid   string
		f     func(w *StateWriter) error
		spill SpillCapture
	}
	var async []later
	for i, s := range t.snapshotters {
		if a, ok := s.(AsyncSnapshotter); ok && !t.SyncSnapshots {
			f, err := a.SnapshotAsync(id)
			if err != nil {
				snap.Err = fmt.Errorf("snapshotting operator %q: %w", s.StateUID(), err)
				break
			}
			c, err := captureSpill(s)
			if err != nil {
				snap.Err = fmt.Errorf("snapshotting operator %q: capturing its spill store: %w", s.StateUID(), err)
				break
			}
			async = append(async, later{i, s.StateUID(), f, c})
			continue
		}
		w := t.stateWriter(i, id)
		if err := s.SnapshotState(w); err != nil {
			snap.Err = fmt.Errorf("snapshotting operator %q: %w", s.StateUID(), err)
			break
		}
		c, err := captureSpill(s)
		if err != nil {
			snap.Err = fmt.Errorf("snapshotting operator %q: capturing its spill store: %w", s.StateUID(), err)
			break
		}
		t.sized(i, w)
		snap.States = append(snap.States, OperatorSnapshot{UID: s.StateUID(), Data: w.Bytes(), Spill: c, recycle: t.recycler(i)})
	}
	for _, f := range t.barrierWriters {
		f(id)
	}
	if t.OnSnapshot == nil {
		return
	}
	if len(async) == 0 || snap.Err != nil {
		for _, a := range async {
			snap.States = append(snap.States, OperatorSnapshot{UID: a.uid, Spill: a.spill}) // released with the failed snapshot
		}
		t.OnSnapshot(snap)
		return
	}
	go func() { // the task goes on; the view is serialised here
		for _, a := range async {
			w := t.stateWriter(a.i, id)
			if snap.Err == nil {
				if err := a.f(w); err != nil {
					snap.Err = fmt.Errorf("snapshotting operator %q: %w", a.uid, err)
				}
				t.sized(a.i, w)
			}
			snap.States = append(snap.States, OperatorSnapshot{UID: a.uid, Data: w.Bytes(), Spill: a.spill, recycle: t.recycler(a.i)})
		}
		t.OnSnapshot(snap)
	}()
}

// captureSpill captures the spill store of s, right after its snapshot and on the task's
// goroutine, so the hot records and the store describe the same instant.
func captureSpill(s Snapshotter) (SpillCapture, error) {
	sp, ok := s.(Spiller)
	if !ok {
		return nil, nil
	}
	c, ok := sp.SpillStore().(SpillCapturer)
	if !ok {
		return nil, nil
	}
	return c.CaptureSpill()
}

// NotifyComplete delivers "checkpoint id is complete" to the task's committers. It runs on the
// task's goroutine.
func (t *Task) NotifyComplete(id int64) {
	for _, c := range t.committers {
		if err := c.Commit(id); err != nil {
			Fail(fmt.Errorf("committing checkpoint %d: %w", id, err))
		}
	}
}
