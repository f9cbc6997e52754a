package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/checkpoint"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
)

// CheckpointConfig turns on checkpoints.
type CheckpointConfig struct {
	// Store keeps the checkpoints. Required.
	Store *checkpoint.Store
	// Interval between checkpoints. Default 1 s (Flink: execution.checkpointing.interval).
	Interval time.Duration
	// From restores this checkpoint or savepoint instead of the store's latest.
	From *checkpoint.Checkpoint
	// AllowNonRestoredState lets a restore skip state whose operator UID is not in the pipeline
	// (Flink: --allowNonRestoredState). Default false: such a restore is rejected.
	AllowNonRestoredState bool
	// OnComplete, when set, is called with every completed checkpoint id (tests, metrics).
	OnComplete func(id int64)
}

// ErrFinished is returned by Run when the checkpoint to restore says the pipeline already ran to
// the end of its bounded input: its results are complete and there is nothing to do.
var ErrFinished = errors.New("the pipeline already finished")

// coordinator triggers checkpoints, collects the tasks' snapshots, writes them to the store, and
// tells two-phase-commit participants when a checkpoint is complete. One checkpoint is in flight
// at a time; none is triggered once any task has finished.
type coordinator struct {
	cfg      CheckpointConfig
	r        *run
	tasks    int
	sources  []*flow.Task
	commit   []*flow.Task
	acks     chan flow.TaskSnapshot
	finished chan struct{}
	nextID   int64

	pending     int64 // id in flight, 0 when none
	pendingKind checkpoint.Kind
	got         []flow.TaskSnapshot
	// requests asks for savepoints; waiting holds them until one can be triggered, and
	// replying those of the savepoint in flight.
	requests chan savepointRequest
	waiting  []savepointRequest
	replying []savepointRequest
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
	// prev is the last complete checkpoint, from which spill stores link unchanged tables.
	prev *checkpoint.Checkpoint
}

func newCoordinator(r *run, cfg CheckpointConfig, firstID int64) *coordinator {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	return &coordinator{cfg: cfg, r: r, nextID: firstID, finished: make(chan struct{}, 1<<16),
		stop: make(chan struct{}), done: make(chan struct{}), requests: make(chan savepointRequest)}
}

// savepointRequest asks for a savepoint; the reply carries its folder or why it failed.
type savepointRequest struct {
	reply chan savepointResult
}

type savepointResult struct {
	Path string
	Err  error
}

// ErrNoSavepoint is returned for a savepoint requested when the pipeline cannot take one (it is
// finishing, or not running with checkpoints).
var ErrNoSavepoint = errors.New("cannot take a savepoint now")

// attach wires a subtask into the protocol.
func (c *coordinator) attach(t *flow.Task, source bool) {
	c.tasks++
	if source {
		t.Trigger = make(chan int64, 1)
		c.sources = append(c.sources, t)
	}
	t.OnSnapshot = func(s flow.TaskSnapshot) {
		select {
		case c.acks <- s:
		case <-c.r.abort:
		}
	}
	if t.HasCommitters() {
		t.Completed = make(chan int64, 16)
		c.commit = append(c.commit, t)
	}
}

func (c *coordinator) run(ctx context.Context) {
	defer close(c.done)
	defer func() { releaseCaptures(c.got...); c.got = nil }()
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	anyFinished := false
	defer c.failRequests(ErrNoSavepoint)
	for {
		select {
		case <-tick.C:
			c.pollRequestFiles()
			if c.pending == 0 && !anyFinished && ctx.Err() == nil {
				c.trigger()
			}
		case req := <-c.requests:
			if anyFinished || ctx.Err() != nil {
				req.reply <- savepointResult{Err: fmt.Errorf("%w: the pipeline is finishing", ErrNoSavepoint)}
				continue
			}
			c.waiting = append(c.waiting, req)
			if c.pending == 0 {
				c.trigger()
			}
		case s := <-c.acks:
			c.ack(s)
			if c.pending == 0 && len(c.waiting) > 0 && !anyFinished {
				c.trigger()
			}
		case <-c.finished:
			anyFinished = true
			releaseCaptures(c.got...)
			c.pending, c.got = 0, nil // a finished task will not ack: abandon the checkpoint
			c.failRequests(fmt.Errorf("%w: the pipeline is finishing", ErrNoSavepoint))
		case <-c.stop:
			return
		case <-c.r.abort:
			return
		}
	}
}

func (c *coordinator) failRequests(err error) {
	for _, q := range append(c.replying, c.waiting...) {
		q.reply <- savepointResult{Err: err}
	}
	c.replying, c.waiting = nil, nil
}

// savepoint asks the coordinator for a savepoint and waits for it.
func (c *coordinator) savepoint(ctx context.Context) (string, error) {
	req := savepointRequest{reply: make(chan savepointResult, 1)}
	select {
	case c.requests <- req:
	case <-c.done:
		return "", fmt.Errorf("%w: the pipeline has stopped", ErrNoSavepoint)
	case <-ctx.Done():
		return "", ctx.Err()
	}
	select {
	case res := <-req.reply:
		return res.Path, res.Err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (c *coordinator) trigger() {
	c.pending = c.nextID
	c.nextID++
	c.got = c.got[:0]
	c.pendingKind = checkpoint.KindCheckpoint
	if len(c.waiting) > 0 {
		c.pendingKind = checkpoint.KindSavepoint
		c.replying, c.waiting = c.waiting, nil
	}
	for _, t := range c.sources {
		select {
		case t.Trigger <- c.pending:
		default:
		}
	}
}

// drain releases the spill captures of snapshots that arrived after the coordinator stopped.
func (c *coordinator) drain() {
	for {
		select {
		case s := <-c.acks:
			releaseCaptures(s)
		default:
			return
		}
	}
}

func (c *coordinator) ack(s flow.TaskSnapshot) {
	if s.ID != c.pending {
		releaseCaptures(s)
		return // from an abandoned checkpoint
	}
	if s.Err != nil {
		c.r.cfg.Logger.Warn("checkpoint failed", "id", s.ID, "task", fmt.Sprintf("%s#%d", s.Stage, s.Subtask), "err", s.Err)
		releaseCaptures(s)
		releaseCaptures(c.got...)
		c.pending, c.got = 0, nil
		c.failRequests(s.Err)
		return
	}
	c.got = append(c.got, s)
	if len(c.got) < c.tasks {
		return
	}
	id, kind := c.pending, c.pendingKind
	c.pending = 0
	err := c.write(id, kind, c.got, false)
	releaseCaptures(c.got...)
	c.got = c.got[:0]
	if kind == checkpoint.KindSavepoint {
		path := filepath.Join(c.cfg.Store.Dir(), checkpoint.DirName(id, kind))
		for _, q := range c.replying {
			q.reply <- savepointResult{Path: path, Err: err}
		}
		c.replying = nil
	}
	if err != nil {
		c.r.cfg.Logger.Warn("checkpoint failed", "id", id, "kind", kind, "err", err)
		return
	}
	if kind == checkpoint.KindSavepoint {
		return // as in Flink 1.15+, savepoints commit no side effects: recovery uses checkpoints
	}
	for _, t := range c.commit {
		select {
		case t.Completed <- id:
		case <-c.r.abort:
			return
		}
	}
	if c.cfg.OnComplete != nil {
		c.cfg.OnComplete(id)
	}
}

// write stores the snapshots of checkpoint id and commits its manifest. Spill captures are
// uploaded here, off the tasks' goroutines; the caller releases them.
func (c *coordinator) write(id int64, kind checkpoint.Kind, snaps []flow.TaskSnapshot, finished bool) error {
	w, err := c.cfg.Store.Begin(id, kind)
	if err != nil {
		return err
	}
	m := &checkpoint.Manifest{Pipeline: c.r.g.Name, MaxParallelism: flow.DefaultMaxParallelism, Finished: finished}
	ops := map[string]*checkpoint.OperatorState{}
	srcs := map[string]*checkpoint.SourceState{}
	for _, s := range snaps {
		st := c.r.stageByName(s.Stage)
		if st != nil && st.entry.Kind == plan.KindSource && s.Position != nil {
			uid := sourceUID(st.entry)
			if srcs[uid] == nil {
				srcs[uid] = &checkpoint.SourceState{UID: uid}
			}
			srcs[uid].Splits = append(srcs[uid].Splits, checkpoint.SplitOffset{Split: s.Subtask, Offset: s.Position})
		}
		for _, o := range s.States {
			op := ops[o.UID]
			if op == nil {
				op = &checkpoint.OperatorState{UID: o.UID, Name: o.UID, Parallelism: st.n}
				ops[o.UID] = op
			}
			kgStart, kgEnd := flow.KeyGroupRange(flow.DefaultMaxParallelism, st.n, s.Subtask)
			part := checkpoint.Part{Subtask: s.Subtask, KeyGroupStart: kgStart, KeyGroupEnd: kgEnd - 1}
			if len(o.Data) > 0 {
				part.File = fmt.Sprintf("%s-%d.state", fileSafe(o.UID), s.Subtask)
				if err := writeFile(w, part.File, o.Data); err != nil {
					_ = w.Abort()
					return err
				}
			}
			if o.Spill != nil {
				if part.Files, err = uploadSpill(w, c.prev, o); err != nil {
					_ = w.Abort()
					return err
				}
			}
			op.Parts = append(op.Parts, part)
		}
	}
	for _, op := range ops {
		m.Operators = append(m.Operators, *op)
	}
	for _, s := range srcs {
		m.Sources = append(m.Sources, *s)
	}
	if err := w.Commit(m); err != nil {
		_ = w.Abort()
		return err
	}
	// The next checkpoint links the spill stores' unchanged tables from this one. (Commit
	// filled m.Files; the checkpoint was just written, so it is not verified again.)
	c.prev = &checkpoint.Checkpoint{Dir: w.Dir(), Manifest: m}
	return nil
}

func writeFile(w *checkpoint.Writer, name string, data []byte) error {
	f, err := w.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// sourceUID is a node's UID, or its name when it has none (sources, sinks).
func sourceUID(n *plan.Node) string {
	if n.UID != "" {
		return n.UID
	}
	return n.Name
}

func (r *run) stageByName(name string) *stage {
	for _, s := range r.stages {
		if s.entry.Name == name {
			return s
		}
	}
	return nil
}

// restorer holds the checkpoint being restored and hands each subtask its state.
type restorer struct {
	c *checkpoint.Checkpoint
	r *run
}

// validate checks that the checkpoint fits the pipeline: every operator state has an operator
// with its UID (unless allowed), and every source split count matches.
func (r *run) validateRestore(c *checkpoint.Checkpoint, allowNonRestored bool) error {
	uids := map[string]bool{}
	for _, n := range r.g.Nodes {
		uids[sourceUID(n)] = true // state is keyed by UID, or by name for nodes without one (sinks)
	}
	var missing []string
	for _, op := range c.Manifest.Operators {
		if !uids[op.UID] {
			missing = append(missing, op.UID)
		}
	}
	if len(missing) > 0 && !allowNonRestored {
		return fmt.Errorf("restoring %s: the checkpoint holds state for operator UIDs %q that the pipeline does not have (allow non-restored state to drop it)", c.Dir, missing)
	}
	for _, s := range r.stages {
		if s.entry.Kind != plan.KindSource {
			continue
		}
		if ss := c.Manifest.Source(sourceUID(s.entry)); ss != nil && len(ss.Splits) != s.n {
			return fmt.Errorf("restoring %s: source %s had %d splits, now %d", c.Dir, s.entry.Label(), len(ss.Splits), s.n)
		}
	}
	return nil
}

// restoreSubtask seeks a source split and restores the task's operators.
func (rs *restorer) restoreSubtask(s *stage, i int, t *flow.Task) error {
	kgStart, kgEnd := flow.KeyGroupRange(flow.DefaultMaxParallelism, s.n, i)
	if rs.c == nil { // a fresh start: operators (two-phase-commit sinks) discard leftovers
		for _, sn := range t.Snapshotters() {
			if err := rs.r.attachSpill(s, i, sn, nil); err != nil {
				return err
			}
			if err := sn.RestoreState(flow.NewStateReader(nil, kgStart, kgEnd)); err != nil {
				return fmt.Errorf("starting operator %q: %w", sn.StateUID(), err)
			}
		}
		return nil
	}
	m := rs.c.Manifest
	if s.entry.Kind == plan.KindSource && s.splits != nil {
		if ss := m.Source(sourceUID(s.entry)); ss != nil {
			for _, sp := range ss.Splits {
				if sp.Split != i {
					continue
				}
				rp, ok := s.splits[i].(plan.Replayable)
				if !ok {
					return fmt.Errorf("source %s cannot resume from a checkpoint", s.entry.Label())
				}
				if err := rp.Seek(sp.Offset); err != nil {
					return fmt.Errorf("resuming source %s split %d: %w", s.entry.Label(), i, err)
				}
			}
		}
	}
	for _, sn := range t.Snapshotters() {
		if err := rs.r.attachSpill(s, i, sn, rs.c); err != nil {
			return err
		}
		op := m.Operator(sn.StateUID())
		var parts []flow.StatePart
		if op != nil {
			for _, p := range op.Parts {
				ownsOpState := p.Subtask%s.n == i
				overlaps := p.KeyGroupStart < kgEnd && p.KeyGroupEnd >= kgStart
				if p.File == "" || !(ownsOpState || overlaps) {
					continue
				}
				data, err := rs.read(p.File)
				if err != nil {
					return err
				}
				parts = append(parts, flow.StatePart{Data: data, OperatorState: ownsOpState})
			}
		}
		if err := sn.RestoreState(flow.NewStateReader(parts, kgStart, kgEnd)); err != nil {
			return fmt.Errorf("restoring operator %q: %w", sn.StateUID(), err)
		}
	}
	return nil
}

func (rs *restorer) read(name string) ([]byte, error) {
	f, err := rs.c.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
