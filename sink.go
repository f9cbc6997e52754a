package sluice

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
)

// Sink consumes a stream's records. Write is called from one goroutine (the sink's subtask);
// an error from Write or Close fails the pipeline, a panic sends the record to the dead-letter
// stream. A Sink that also implements Flusher is flushed after every input batch.
type Sink[T any] interface {
	Write(v T) error
	Close() error
}

// Flusher is implemented by sinks that buffer: Flush is called after every batch of records.
type Flusher interface{ Flush() error }

// SinkFunc adapts a function to a Sink.
type SinkFunc[T any] func(v T) error

// Write calls f.
func (f SinkFunc[T]) Write(v T) error { return f(v) }

// Close does nothing.
func (f SinkFunc[T]) Close() error { return nil }

// SinkTo writes the stream to sink. The sink runs as a stage with one subtask, fed by every
// upstream subtask.
func SinkTo[T any](s Stream[T], sink Sink[T]) Stream[T] {
	gather := s.p.g.Add(&plan.Node{Kind: plan.KindExchange, Inputs: []plan.Edge{{From: s.n, Port: s.port}},
		Parallelism: 1, MakeOutlet: outletOf[T]})
	gather.Name = "to-sink-" + itoa(gather.ID)
	gather.Exchange = func(cfg plan.ExchangeConfig) plan.Exchange {
		return flow.NewExchange(gather.Name, func(v T) (T, int) { return v, 0 }, cfg)
	}
	n := s.p.g.Add(&plan.Node{Kind: plan.KindSink, Inputs: []plan.Edge{{From: gather}}})
	n.Name = "sink-" + itoa(n.ID)
	n.Build = func(t *flow.Task, _ []any) any {
		op := &flow.Sink[T]{Ctl: flow.NewCtl(), Name: n.Name, T: t,
			F: func(_ int64, v T) error { return sink.Write(v) }, OnClose: sink.Close}
		if f, ok := sink.(Flusher); ok {
			t.AddFlusher(func() {
				if err := f.Flush(); err != nil {
					flow.Fail(fmt.Errorf("sink %s: %w", n.Name, err))
				}
			})
		}
		return flow.Outlet[T](op)
	}
	return Stream[T]{p: s.p, n: n}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for ; i > 0; i /= 10 {
		n--
		b[n] = byte('0' + i%10)
	}
	return string(b[n:])
}
