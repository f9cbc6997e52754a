// Package runtime executes a plan in one process: it opens the sources' splits, groups operators
// into stages (a source split, or the receiving side of an exchange), builds every subtask's chain
// of operators, and runs each subtask in its own goroutine.
//
// Stages are cut only at exchanges (KeyBy, the gather before a sink, the dead-letter stream);
// stateless operators chain into the stage of their input, so records move between operators by
// method calls, and between stages in batches over bounded channels. The pipeline ends when every
// source has ended and every stage has drained; a cancelled context stops the sources and drains
// the rest; the first error aborts every subtask.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"github.com/sluicehq/sluice/internal/hugepage"
	"log/slog"
	"os"
	goruntime "runtime"
	"sync"

	"github.com/sluicehq/sluice/checkpoint"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
)

// Config tunes a run.
type Config struct {
	// Parallelism is the default number of subtasks of keyed stages. Default: the graph's, else
	// GOMAXPROCS.
	Parallelism int
	// BatchSize is the number of records per exchange batch. Default 512.
	BatchSize int
	// ChannelDepth is the number of batches an exchange channel buffers. Default 16.
	ChannelDepth int
	// FailFast makes a panic in user code fail the pipeline instead of producing a dead letter.
	FailFast bool
	// Clock gives processing time. Default: the wall clock.
	Clock flow.Clock
	// Logger receives the runtime's logs. Default: slog.Default().
	Logger *slog.Logger
	// Counters, when set, receives the counts of every task (dead letters, late elements).
	Counters *flow.Counters
	// Checkpoint, when set, turns on checkpoints and restores from the latest one.
	Checkpoint *CheckpointConfig
	// Spill, when set, selects the Pebble state backend for the keyed operators that support
	// it. Default nil: the memory backend.
	Spill *SpillConfig
	// CheckpointDir, RestorePath, AllowNonRestoredState and OnCheckpoint carry the engine's
	// options until it opens the store.
	CheckpointDir         string
	RestorePath           string
	AllowNonRestoredState bool
	OnCheckpoint          func(id int64)
	CheckpointFS          any // a checkpoint.FS
	// NoHugePages leaves the heap on the kernel's default pages. Default: the runtime asks for
	// transparent huge pages (package hugepage), which speeds up large keyed state.
	NoHugePages bool
}

func (c *Config) ensureDefaults(g *plan.Graph) {
	if c.Parallelism <= 0 {
		c.Parallelism = g.Parallelism
	}
	if c.Parallelism <= 0 {
		c.Parallelism = goruntime.GOMAXPROCS(0)
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 512
	}
	if c.ChannelDepth <= 0 {
		c.ChannelDepth = 16
	}
	if c.Clock == nil {
		c.Clock = flow.WallClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Counters == nil {
		c.Counters = &flow.Counters{}
	}
}

// stage is a group of subtasks running the same chain: a source's splits, or an exchange's
// receivers.
type stage struct {
	entry   *plan.Node
	splits  []plan.SplitRunner
	n       int
	members map[*plan.Node]bool // nodes chained into this stage
	// senderBase is this stage's first sender index, per exchange it writes to.
	senderBase map[*plan.Node]int
	dlqFree    bool // the stage is downstream of the dead-letter stream: it writes no dead letters
}

// Run executes the graph until its sources end or ctx is done.
func Run(ctx context.Context, g *plan.Graph, cfg Config) error {
	h, err := Start(ctx, g, cfg)
	if err != nil {
		return err
	}
	return h.Wait()
}

// Handle is a running pipeline.
type Handle struct {
	done  chan struct{}
	err   error
	coord *coordinator
}

// Start plans and restores the graph and starts executing it in the background.
func Start(ctx context.Context, g *plan.Graph, cfg Config) (*Handle, error) {
	cfg.ensureDefaults(g)
	if !cfg.NoHugePages {
		hugepage.Enable()
	}
	if cfg.Spill != nil {
		if err := cfg.Spill.validate(); err != nil {
			return nil, err
		}
	}
	r := &run{g: g, cfg: cfg, abort: make(chan struct{}), exchanges: map[*plan.Node]plan.Exchange{}}
	if err := r.plan(ctx); err != nil {
		return nil, err
	}
	subs := r.buildAll()
	r.spill = newSpills(cfg.Spill)
	coord, err := r.prepareCheckpoints(subs)
	if err == nil && coord == nil {
		err = r.openSpills(subs)
	}
	if err != nil {
		r.spill.close(r)
		return nil, err
	}
	h := &Handle{done: make(chan struct{}), coord: coord}
	go func() {
		h.err = r.execute(ctx, subs, coord)
		close(h.done)
	}()
	return h, nil
}

// Wait blocks until the pipeline has stopped and returns its error (see Run).
func (h *Handle) Wait() error {
	<-h.done
	return h.err
}

// Done is closed when the pipeline has stopped.
func (h *Handle) Done() <-chan struct{} { return h.done }

// Savepoint takes a savepoint (a checkpoint that is kept until deleted) and returns its folder.
func (h *Handle) Savepoint(ctx context.Context) (string, error) {
	if h.coord == nil {
		return "", fmt.Errorf("%w: checkpoints are off", ErrNoSavepoint)
	}
	return h.coord.savepoint(ctx)
}

type run struct {
	sync      bool
	g         *plan.Graph
	cfg       Config
	stages    []*stage
	exchanges map[*plan.Node]plan.Exchange
	abort     chan struct{}
	abortOnce sync.Once
	errMu     sync.Mutex
	err       error
	spill     *spills // the Pebble state backend's stores; nil with the memory backend
}

func (r *run) plan(ctx context.Context) error {
	for _, n := range r.g.Nodes {
		switch n.Kind {
		case plan.KindSource:
			if n.Driven && r.sync {
				r.stages = append(r.stages, &stage{entry: n, n: 1})
				continue
			}
			if n.Driven {
				return fmt.Errorf("source %s is fed by sluicetest.Driver and cannot run on the engine", n.Label())
			}
			splits, err := n.Source.OpenSplits(ctx)
			if err != nil {
				return fmt.Errorf("opening source %s: %w", n.Label(), err)
			}
			r.stages = append(r.stages, &stage{entry: n, splits: splits, n: len(splits)})
		case plan.KindExchange:
			r.stages = append(r.stages, &stage{entry: n})
		}
	}
	for _, s := range r.stages {
		s.members = map[*plan.Node]bool{}
		r.collect(s, s.entry, true)
		if s.entry.Kind == plan.KindExchange {
			s.n = r.stageParallelism(s)
		}
	}
	r.markDLQFree()
	senders := map[*plan.Node]int{}
	for _, s := range r.stages {
		s.senderBase = map[*plan.Node]int{}
		for _, x := range r.targets(s) {
			s.senderBase[x] = senders[x]
			senders[x] += s.n
		}
	}
	for _, s := range r.stages {
		if s.entry.Kind != plan.KindExchange {
			continue
		}
		r.exchanges[s.entry] = s.entry.Exchange(plan.ExchangeConfig{Senders: senders[s.entry], Receivers: s.n,
			BatchSize: r.cfg.BatchSize, Depth: r.cfg.ChannelDepth, Abort: r.abort, Direct: r.sync})
	}
	return nil
}

// stageParallelism is the parallelism set on the stage's exchange, else the first one set on an
// operator chained into it (Aggregate(…).Parallelism(4) sizes its keyed stage), else the default.
func (r *run) stageParallelism(s *stage) int {
	if s.entry.Parallelism > 0 {
		return s.entry.Parallelism
	}
	for _, n := range r.g.Nodes {
		if s.members[n] && n.Kind != plan.KindSink && n.Parallelism > 0 {
			return n.Parallelism
		}
	}
	return r.cfg.Parallelism
}

// collect adds the nodes chained after n (not crossing exchanges) to the stage.
func (r *run) collect(s *stage, n *plan.Node, entry bool) {
	if !entry && n.Kind == plan.KindExchange {
		return
	}
	if s.members[n] {
		return
	}
	s.members[n] = true
	for p := 0; p < n.Ports; p++ {
		for _, c := range r.g.Consumers(n, p) {
			r.collect(s, c, false)
		}
	}
}

// targets lists the exchanges a stage writes to: those its members feed, and the dead-letter
// stream unless the stage is downstream of it.
func (r *run) targets(s *stage) []*plan.Node {
	var out []*plan.Node
	seen := map[*plan.Node]bool{}
	for _, n := range r.g.Nodes {
		if !s.members[n] {
			continue
		}
		for p := 0; p < n.Ports; p++ {
			for _, c := range r.g.Consumers(n, p) {
				if c.Kind == plan.KindExchange && !seen[c] {
					seen[c] = true
					out = append(out, c)
				}
			}
		}
	}
	if dlq := r.dlqNode(); dlq != nil && !s.dlqFree && !seen[dlq] {
		out = append(out, dlq)
	}
	return out
}

func (r *run) dlqNode() *plan.Node {
	for _, n := range r.g.Nodes {
		if n.DeadLetters {
			return n
		}
	}
	return nil
}

// markDLQFree marks the stages reachable from the dead-letter stream: they log their own dead
// letters instead of writing them back into the stream (no cycle).
func (r *run) markDLQFree() {
	dlq := r.dlqNode()
	if dlq == nil {
		return
	}
	byEntry := map[*plan.Node]*stage{}
	for _, s := range r.stages {
		byEntry[s.entry] = s
	}
	var mark func(s *stage)
	mark = func(s *stage) {
		if s.dlqFree {
			return
		}
		s.dlqFree = true
		for n := range s.members {
			for p := 0; p < n.Ports; p++ {
				for _, c := range r.g.Consumers(n, p) {
					if c.Kind == plan.KindExchange && c != s.entry {
						mark(byEntry[c])
					}
				}
			}
		}
	}
	mark(byEntry[dlq])
}

func (r *run) fail(err error) {
	r.errMu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.errMu.Unlock()
	r.abortOnce.Do(func() { close(r.abort) })
}

type subtask struct {
	s    *stage
	i    int
	t    *flow.Task
	head any
}

func (r *run) buildAll() []subtask {
	var subs []subtask
	for _, s := range r.stages {
		for i := 0; i < s.n; i++ {
			t, head := r.buildSubtask(s, i)
			subs = append(subs, subtask{s, i, t, head})
		}
	}
	return subs
}

func (r *run) execute(ctx context.Context, subs []subtask, coord *coordinator) error {
	defer r.spill.close(r)
	var wg sync.WaitGroup
	for _, st := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := r.runSubtask(ctx, st)
			if coord != nil {
				coord.finished <- struct{}{}
			}
			if err != nil {
				r.fail(fmt.Errorf("task %s: %w", st.t.Name(), err))
			}
		}()
	}
	if coord != nil {
		go coord.run(ctx)
	}
	wg.Wait()
	if coord != nil {
		coord.stopOnce.Do(func() { close(coord.stop) })
		<-coord.done
		coord.drain()
	}
	if r.err != nil {
		if errors.Is(r.err, context.Canceled) && ctx.Err() != nil {
			return ctx.Err()
		}
		return r.err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if coord != nil {
		// The input ended and every sink committed: record that the run is complete, so a
		// restart with the same state has nothing left to do.
		if err := coord.write(coord.nextID, checkpoint.KindCheckpoint, nil, true); err != nil {
			return fmt.Errorf("writing the final checkpoint: %w", err)
		}
	}
	return nil
}

func (r *run) runSubtask(ctx context.Context, st subtask) error {
	var err error
	if st.s.entry.Kind == plan.KindSource {
		err = st.s.splits[st.i].Run(ctx, st.t, st.head)
	} else {
		err = r.exchanges[st.s.entry].Run(ctx, st.i, st.t, st.head)
	}
	if err == nil {
		err = flow.RunGuarded(func() { finishDLQ(st.t) })
	}
	return err
}

// prepareCheckpoints attaches every subtask to a coordinator and restores the latest checkpoint
// (or the configured one). It returns nil when checkpoints are off.
func (r *run) prepareCheckpoints(subs []subtask) (*coordinator, error) {
	cc := r.cfg.Checkpoint
	if cc == nil {
		return nil, nil
	}
	for _, s := range r.stages {
		for _, sp := range s.splits {
			if rp, ok := sp.(plan.Replayable); !ok || !rp.Replayable() {
				return nil, fmt.Errorf("source %s is not replayable: checkpoints need sources that can resume from a position", s.entry.Label())
			}
		}
	}
	from := cc.From
	if from == nil {
		var err error
		if from, err = cc.Store.Latest(); err != nil {
			return nil, fmt.Errorf("finding the latest checkpoint: %w", err)
		}
	}
	firstID := int64(1)
	if infos, err := cc.Store.List(); err == nil {
		for _, in := range infos {
			firstID = max(firstID, in.ID+1)
		}
	}
	coord := newCoordinator(r, *cc, firstID)
	coord.acks = make(chan flow.TaskSnapshot, len(subs))
	for _, st := range subs {
		coord.attach(st.t, st.s.entry.Kind == plan.KindSource)
	}
	if from != nil && from.Manifest.Finished {
		return nil, fmt.Errorf("%w (checkpoint %s)", ErrFinished, from.Dir)
	}
	if from != nil {
		if err := r.validateRestore(from, cc.AllowNonRestoredState); err != nil {
			return nil, err
		}
	}
	if r.spill != nil {
		if err := os.MkdirAll(r.spill.cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating the state directory: %w", err)
		}
		coord.prev = from
	}
	rs := &restorer{c: from, r: r}
	for _, st := range subs {
		if err := rs.restoreSubtask(st.s, st.i, st.t); err != nil {
			return nil, fmt.Errorf("restoring task %s: %w", st.t.Name(), err)
		}
	}
	if from != nil {
		r.cfg.Logger.Info("restored checkpoint", "path", from.Dir, "id", from.Manifest.ID)
	}
	return coord, nil
}

func finishDLQ(t *flow.Task) {
	if t.DLQ != nil {
		t.DLQ.Watermark(flow.MaxTime)
		t.DLQ.Finish()
		t.Flush()
	}
}

// buildSubtask creates subtask i of stage s: its task context and its chain of operators, and
// returns the chain's head outlet.
func (r *run) buildSubtask(s *stage, i int) (*flow.Task, any) {
	t := flow.NewTask(s.entry.Name, i, s.n)
	t.Clock, t.Logger, t.FailFast, t.Counters = r.cfg.Clock, r.cfg.Logger, r.cfg.FailFast, r.cfg.Counters
	t.SyncSnapshots = r.sync
	if dlq := r.dlqNode(); dlq != nil && !s.dlqFree {
		t.DLQ = r.exchanges[dlq].Writer(s.senderBase[dlq]+i, t).(flow.Outlet[flow.DeadLetter])
	}
	b := &builder{r: r, s: s, i: i, t: t, inputs: map[*plan.Node]any{}}
	return t, b.outlet(s.entry)
}

type builder struct {
	r      *run
	s      *stage
	i      int
	t      *flow.Task
	inputs map[*plan.Node]any // the input outlet of each node built in this subtask
}

// outlet builds the consumers of every port of n and returns n's output outlet for port 0 (the
// head of the chain for a stage entry); for operators it builds n itself and returns its input.
func (b *builder) outlet(n *plan.Node) any {
	outs := make([]any, n.Ports)
	for p := range outs {
		var consumers []any
		for _, c := range b.r.g.Consumers(n, p) {
			consumers = append(consumers, b.input(c))
		}
		if n.MakeOutlet != nil {
			outs[p] = n.MakeOutlet(p, consumers)
		}
	}
	if n == b.s.entry {
		return outs[0]
	}
	return n.Build(b.t, outs)
}

// input returns the input outlet of consumer c in this subtask: an exchange writer, or the
// operator built once per subtask.
func (b *builder) input(c *plan.Node) any {
	if in, ok := b.inputs[c]; ok {
		return in
	}
	var in any
	if c.Kind == plan.KindExchange {
		in = b.r.exchanges[c].Writer(b.s.senderBase[c]+b.i, b.t)
	} else {
		in = b.outlet(c)
	}
	b.inputs[c] = in
	return in
}
