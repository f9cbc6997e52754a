// Package sluicetest runs pipelines deterministically for tests, the Sluice counterpart of Kafka
// Streams' TopologyTestDriver: one goroutine, a fake processing-time clock, scripted watermarks,
// and captured outputs. Everything the engine does (operators, windows, timers, exchanges with
// watermark alignment, dead letters) runs; only the goroutines and channels are replaced by direct
// calls, so every result appears right after the call that caused it.
//
//	p := sluice.NewPipeline("test")
//	in := sluicetest.NewInput[Click](p, "clicks")
//	counts := sluice.Aggregate(sluice.Window(sluice.KeyBy(in.Stream(), pageOf),
//		window.Tumbling(time.Minute)), agg.Count[Click]()).UID("counts")
//	out := sluicetest.Capture(counts)
//	d, _ := sluicetest.NewDriver(p)
//	in.Push(10_000, Click{Page: "a"})
//	d.AdvanceWatermark(60_000)
//	fmt.Println(out.Values()) // the window [0, 60000) fired
package sluicetest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
	"github.com/sluicehq/sluice/internal/runtime"
)

// Clock is the driver's fake processing-time clock (epoch ms).
type Clock struct{ now atomic.Int64 }

// Now returns the fake time.
func (c *Clock) Now() int64 { return c.now.Load() }

// Driver runs a pipeline in the calling goroutine.
type Driver struct {
	graph  *plan.Graph
	cfg    runtime.Config
	nextID int64
	run    *runtime.SyncRun
	clock  *Clock
	wm     int64
	ended  bool
	inputs []binder
	stats  flow.Counters
}

// Option configures a Driver.
type Option func(*config)

type config struct {
	parallelism int
	start       int64
	failFast    bool
}

// Parallelism sets the number of subtasks of keyed stages. Default 1. With more, keys are
// partitioned exactly as in the engine.
func Parallelism(n int) Option { return func(c *config) { c.parallelism = n } }

// StartTime sets the initial processing time (epoch ms). Default 0.
func StartTime(ms int64) Option { return func(c *config) { c.start = ms } }

// FailFast makes a user panic an error of the call that caused it instead of a dead letter.
func FailFast() Option { return func(c *config) { c.failFast = true } }

type binder interface {
	bind(d *Driver, head any, t *flow.Task)
	name() string
}

// NewDriver validates and builds the pipeline for deterministic execution.
func NewDriver(p *sluice.Pipeline, opts ...Option) (*Driver, error) {
	cfg := config{parallelism: 1}
	for _, o := range opts {
		o(&cfg)
	}
	g, err := p.Plan()
	if err != nil {
		return nil, err
	}
	d := &Driver{graph: g, clock: &Clock{}, wm: flow.MinTime, nextID: 1}
	d.clock.now.Store(cfg.start)
	d.cfg = runtime.Config{Parallelism: cfg.parallelism, Clock: d.clock, FailFast: cfg.failFast, Counters: &d.stats}
	d.run, err = runtime.BuildSync(context.Background(), g, d.cfg)
	if err != nil {
		return nil, err
	}
	d.bindInputs()
	return d, nil
}

func (d *Driver) bindInputs() {
	d.inputs = d.inputs[:0]
	for _, n := range d.graph.Nodes {
		if !n.Driven {
			continue
		}
		head, t, _ := d.run.Source(n)
		b := n.Source.(interface{ Source() any }).Source().(binder)
		b.bind(d, head, t)
		d.inputs = append(d.inputs, b)
	}
}

// SnapshotRestore takes a checkpoint of every operator, discards the running operators, and
// restores new ones from the checkpoint, as a restart would. Outputs keep what they captured;
// processing time and the scripted watermark carry on from where they were.
func (d *Driver) SnapshotRestore() error {
	if d.ended {
		return ErrEnded
	}
	snaps, err := d.run.Checkpoint(d.nextID)
	if err != nil {
		return err
	}
	d.nextID++
	if d.run, err = runtime.RestoreSync(context.Background(), d.graph, d.cfg, snaps); err != nil {
		return err
	}
	d.bindInputs()
	if d.wm == flow.MinTime {
		return nil
	}
	return d.run.Guard(func() {
		for _, in := range d.inputs {
			in.(interface{ watermark(int64) }).watermark(d.wm)
		}
	})
}

// Now is the driver's processing time.
func (d *Driver) Now() int64 { return d.clock.Now() }

// Watermark is the last watermark the driver advanced its inputs to.
func (d *Driver) Watermark() int64 { return d.wm }

// DeadLetters is the number of dead letters so far.
func (d *Driver) DeadLetters() int64 { return d.stats.DeadLetters.Load() }

// Late is the number of elements too late for every window so far.
func (d *Driver) Late() int64 { return d.stats.Late.Load() }

// ErrEnded is returned by calls after End.
var ErrEnded = errors.New("sluicetest: the driver has ended")

// AdvanceWatermark moves every input's watermark to wm (never backwards): due event-time timers
// fire and windows complete.
func (d *Driver) AdvanceWatermark(wm int64) error {
	if d.ended {
		return ErrEnded
	}
	if wm > d.wm {
		d.wm = wm
	}
	return d.run.Guard(func() {
		for _, in := range d.inputs {
			in.(interface{ watermark(int64) }).watermark(wm)
		}
	})
}

// AdvanceProcessingTime moves the fake clock to ms (never backwards) and fires due
// processing-time timers (early panes, process-function timers).
func (d *Driver) AdvanceProcessingTime(ms int64) error {
	if d.ended {
		return ErrEnded
	}
	if ms > d.clock.Now() {
		d.clock.now.Store(ms)
	}
	return d.run.FireProcTime(d.clock.Now())
}

// End ends every input: the watermark becomes +∞, every open window fires, and the pipeline
// finishes.
func (d *Driver) End() error {
	if d.ended {
		return ErrEnded
	}
	d.ended = true
	if err := d.run.Guard(func() {
		for _, in := range d.inputs {
			in.(interface{ end() }).end()
		}
	}); err != nil {
		return err
	}
	return d.run.Finish()
}

// RunSources reads the pipeline's ordinary (non-Input) bounded sources to their end, with their
// own timestamps and watermarks, then ends the driver's inputs.
func (d *Driver) RunSources(ctx context.Context) error {
	if err := d.run.RunSources(ctx); err != nil {
		return err
	}
	return d.End()
}

// Input is a source the test pushes records into.
type Input[T any] struct {
	label  string
	stream sluice.Stream[T]
	d      *Driver
	head   flow.Outlet[T]
}

// NewInput adds a driver-fed source to the pipeline. Records carry the timestamps given to Push;
// the watermark moves only with Driver.AdvanceWatermark.
func NewInput[T any](p *sluice.Pipeline, name string) *Input[T] {
	in := &Input[T]{label: name}
	in.stream = sluice.FromSource[T](p, in).Name(name)
	return in
}

// Stream is the input's stream, to build the pipeline on.
func (in *Input[T]) Stream() sluice.Stream[T] { return in.stream }

// Push delivers one record with event timestamp ts (epoch ms) at the current processing time.
// A panic in user code goes to the dead-letter stream; an error is returned only for fail-fast
// panics and sink failures.
func (in *Input[T]) Push(ts int64, v T) error {
	if in.d == nil {
		return fmt.Errorf("sluicetest: input %q: create the driver before pushing", in.label)
	}
	if in.d.ended {
		return ErrEnded
	}
	return in.d.run.Guard(func() { in.head.Collect(ts, v) })
}

// Driven marks the input as fed by the driver.
func (in *Input[T]) Driven() {}

// Open fails: an Input runs only under a Driver.
func (in *Input[T]) Open(context.Context) ([]sluice.SplitReader[T], error) {
	return nil, fmt.Errorf("sluicetest: input %q runs only under sluicetest.Driver", in.label)
}

func (in *Input[T]) bind(d *Driver, head any, _ *flow.Task) {
	in.d = d
	in.head = head.(flow.Outlet[T])
}

func (in *Input[T]) name() string { return in.label }

func (in *Input[T]) watermark(wm int64) { in.head.Watermark(wm) }

func (in *Input[T]) end() {
	in.head.Watermark(flow.MaxTime)
	in.head.Finish()
}
