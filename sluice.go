// Package sluice is the public DSL of Sluice, an event-time stream processor: build a Pipeline of
// typed streams (sources, Map/Filter/FlatMap/Union, KeyBy, windows and aggregates, keyed process
// functions, side outputs, sinks), then run it with package engine.
//
//	p := sluice.NewPipeline("clickstream")
//	clicks := sluice.FromSource(p, src, sluice.EventTimeMillis(func(c Click) int64 { return c.At },
//		watermark.BoundedOutOfOrderness(5*time.Second)))
//	perPage := sluice.KeyBy(clicks, func(c Click) string { return c.Page })
//	w := sluice.Window(perPage, window.Tumbling(time.Minute), window.AllowedLateness(time.Minute))
//	counts := sluice.Aggregate(w, agg.Count[Click]()).UID("clicks-per-page")
//	sluice.SinkTo(counts, stdout.JSONLines[sluice.Windowed[string, int64]](os.Stdout))
//	sluice.SinkTo(sluice.Late(w), deadLetterSink) // late events are never silent
//	err := engine.Run(ctx, p)
//
// Semantics follow Flink and the Dataflow model: see package window. The DSL only builds a plan
// (package internal/plan); it never imports the runtime.
package sluice

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
)

// DeadLetter is a record that user code could not process (a panic, or an error it returned),
// with the operator, the reason and the record. See Pipeline.DeadLetters.
type DeadLetter = flow.DeadLetter

// Pipeline is a dataflow under construction. Build it from one goroutine, then run it.
type Pipeline struct {
	name string
	g    *plan.Graph
	errs []error
	dlq  *plan.Node
}

// NewPipeline starts an empty pipeline.
func NewPipeline(name string) *Pipeline {
	return &Pipeline{name: name, g: &plan.Graph{Name: name}}
}

// Name returns the pipeline's name.
func (p *Pipeline) Name() string { return p.name }

// SetParallelism sets the default number of subtasks of keyed stages. Default: GOMAXPROCS
// (Flink: parallelism.default).
func (p *Pipeline) SetParallelism(n int) *Pipeline {
	if n < 1 {
		p.fail(fmt.Errorf("pipeline %q: parallelism must be >= 1, got %d", p.name, n))
	}
	p.g.Parallelism = n
	return p
}

// Plan validates the pipeline and returns its plan, for the engine. Errors recorded while building
// (invalid windows, missing UIDs, a stream used in another pipeline) and structural errors (a
// dangling stream, a cycle) are returned together, each naming its operator.
func (p *Pipeline) Plan() (*plan.Graph, error) {
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	if err := p.g.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline %q: %w", p.name, err)
	}
	return p.g, nil
}

func (p *Pipeline) fail(err error) { p.errs = append(p.errs, err) }

// DeadLetters returns the pipeline's dead-letter stream: every record that user code could not
// process, from any operator, with the reason. Without a consumer, dead letters are counted and
// logged.
func (p *Pipeline) DeadLetters() Stream[DeadLetter] {
	if p.dlq == nil {
		p.dlq = p.g.Add(&plan.Node{Kind: plan.KindExchange, Name: "dead-letters", DeadLetters: true,
			Parallelism: 1, MakeOutlet: outletOf[DeadLetter],
			Exchange: func(cfg plan.ExchangeConfig) plan.Exchange {
				return flow.NewExchange("dead-letters", func(d DeadLetter) (DeadLetter, int) { return d, 0 }, cfg)
			}})
	}
	return Stream[DeadLetter]{p: p, n: p.dlq}
}

// outletOf combines consumer outlets of type T.
func outletOf[T any](_ int, consumers []any) any {
	outs := make([]flow.Outlet[T], len(consumers))
	for i, c := range consumers {
		outs[i] = c.(flow.Outlet[T])
	}
	return flow.NewOutlet(outs)
}
