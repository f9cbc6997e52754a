package flow

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Clock tells processing time. The runtime uses the wall clock; tests drive a fake one.
type Clock interface {
	// Now returns processing time in epoch ms.
	Now() int64
}

// WallClock is the real clock.
type WallClock struct{}

// Now returns the wall-clock time in epoch ms.
func (WallClock) Now() int64 { return time.Now().UnixMilli() }

// DeadLetter is a record that could not be processed: a panic in user code or an error returned
// by it. It is routed to the pipeline's dead-letter stream, never dropped.
type DeadLetter struct {
	// Operator is the name of the operator that failed.
	Operator string `json:"operator"`
	// Task names the subtask, as "stage#index".
	Task string `json:"task"`
	// Reason is the panic value or error text.
	Reason string `json:"reason"`
	// Timestamp is the record's event timestamp (epoch ms).
	Timestamp int64 `json:"ts"`
	// Record is the input record of the failing operator.
	Record any `json:"record"`
	// Stack is the goroutine stack at the panic, when there was one.
	Stack string `json:"-"`
}

// ErrUserPanic is wrapped by the error of a fail-fast pipeline whose user code panicked.
var ErrUserPanic = errors.New("user code panicked")

// abort is the panic value that unwinds a task after a fail-fast error.
type abort struct{ err error }

// Counters are a task's event counts, read by metrics and tests. They are atomic because they are
// read from other goroutines; they change on rare paths only (late, dead letters).
type Counters struct {
	DeadLetters atomic.Int64
	Late        atomic.Int64
	// BlockedNanos is the time senders spent blocked on full exchange channels (backpressure).
	BlockedNanos atomic.Int64
}

// Task is the context of one subtask: its identity, clock, processing-time deadline, and the
// routes for dead letters. Operators keep a pointer to it. A Task is used by one goroutine.
type Task struct {
	Stage       string
	Index       int
	Parallelism int
	Clock       Clock
	// DLQ receives dead letters. Nil means: count and log them.
	DLQ Outlet[DeadLetter]
	// FailFast turns a user panic into a pipeline failure instead of a dead letter.
	FailFast bool
	Counters *Counters
	Logger   *slog.Logger

	// OnSnapshot receives the task's snapshot of each checkpoint (set by the runtime).
	OnSnapshot func(TaskSnapshot)
	// SyncSnapshots makes every snapshot synchronous (the deterministic driver).
	SyncSnapshots bool
	// Trigger asks a source task to start a checkpoint (set by the runtime for source tasks).
	Trigger chan int64
	// Completed delivers ids of completed checkpoints to the task's goroutine (set by the runtime
	// when the task has committers).
	Completed chan int64

	procDeadline   int64
	flushers       []func()
	snapshotters   []Snapshotter
	snapshotSizes  []int64 // per snapshotter, its last snapshot's size (atomic)
	spareMu        sync.Mutex
	spare          [][]byte // per snapshotter, a written snapshot's buffer to reuse
	barrierWriters []func(id int64)
	committers     []Committer
	name           string
}

// NewTask returns a task context with a wall clock and its own counters.
func NewTask(stage string, index, parallelism int) *Task {
	return &Task{Stage: stage, Index: index, Parallelism: parallelism, Clock: WallClock{},
		Counters: &Counters{}, Logger: slog.Default(), procDeadline: MaxTime}
}

// Name is "stage#index".
func (t *Task) Name() string {
	if t.name == "" {
		t.name = fmt.Sprintf("%s#%d", t.Stage, t.Index)
	}
	return t.name
}

// RequestProcTime asks to be called (ProcTime) when processing time reaches at.
func (t *Task) RequestProcTime(at int64) {
	if at < t.procDeadline {
		t.procDeadline = at
	}
}

// TakeProcDeadline returns the earliest requested processing time and forgets it; operators ask
// again for later deadlines when they are called.
func (t *Task) TakeProcDeadline() int64 {
	d := t.procDeadline
	t.procDeadline = MaxTime
	return d
}

// ProcDeadline returns the earliest requested processing time without forgetting it.
func (t *Task) ProcDeadline() int64 { return t.procDeadline }

// AddFlusher registers a function called after each input batch, so outgoing buffers leave the
// task promptly.
func (t *Task) AddFlusher(f func()) { t.flushers = append(t.flushers, f) }

// Flush calls every flusher.
func (t *Task) Flush() {
	for _, f := range t.flushers {
		f()
	}
}

// Recovered handles a value recovered from a panic in operator op while it processed record v:
// an abort is re-raised; otherwise the record goes to the dead-letter route (or, fail-fast, the
// task aborts).
func (t *Task) Recovered(op string, r any, ts int64, v any) {
	if a, ok := r.(abort); ok {
		panic(a)
	}
	reason := fmt.Sprint(r)
	if err, ok := r.(error); ok {
		reason = err.Error()
	}
	t.deadLetter(DeadLetter{Operator: op, Task: t.Name(), Reason: "panic: " + reason, Timestamp: ts,
		Record: v, Stack: string(debug.Stack())})
}

// Failed routes a record whose user code returned err.
func (t *Task) Failed(op string, err error, ts int64, v any) {
	t.deadLetter(DeadLetter{Operator: op, Task: t.Name(), Reason: err.Error(), Timestamp: ts, Record: v})
}

func (t *Task) deadLetter(d DeadLetter) {
	t.Counters.DeadLetters.Add(1)
	if t.FailFast {
		panic(abort{fmt.Errorf("%w: operator %q: %s", ErrUserPanic, d.Operator, d.Reason)})
	}
	if t.DLQ == nil {
		t.Logger.Warn("dead letter", "operator", d.Operator, "task", d.Task, "reason", d.Reason, "ts", d.Timestamp)
		return
	}
	t.DLQ.Collect(d.Timestamp, d)
}

// RunGuarded calls f and converts a fail-fast abort into an error. Other panics propagate: they
// are bugs in Sluice, not user code, and must not be hidden.
func RunGuarded(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			a, ok := r.(abort)
			if !ok {
				panic(r)
			}
			err = a.err
		}
	}()
	f()
	return nil
}

// Fail aborts the current task with err; the pipeline stops and Run returns err. Call it only from
// a task's goroutine (operators, sinks, flushers).
func Fail(err error) { panic(abort{err}) }
