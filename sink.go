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

// TwoPhaseCommitSink is a sink whose output becomes visible only when a checkpoint completes,
// which makes results exactly-once with replayable sources (Flink: TwoPhaseCommitSinkFunction).
// Without checkpoints it behaves as a plain sink: Close must make everything visible.
type TwoPhaseCommitSink[T any] interface {
	Sink[T]
	// PreCommit makes everything written since the previous PreCommit durable but not yet
	// visible, as part of checkpoint id, and returns the state needed to commit or recover it.
	PreCommit(id int64) ([]byte, error)
	// Commit makes every pre-committed checkpoint up to id visible. It must be idempotent.
	Commit(id int64) error
	// Recover runs before the first record of a checkpointed run, with the state PreCommit
	// returned for the checkpoint being restored (nil on a fresh start): it finishes that
	// checkpoint's commit if needed and discards anything written after it.
	Recover(state []byte) error
}

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
	// Ext holds the user's sink, so that a runtime can recognise its own sinks (the Kafka runner).
	n := s.p.g.Add(&plan.Node{Kind: plan.KindSink, Inputs: []plan.Edge{{From: gather}}, Ext: sink})
	n.Name = "sink-" + itoa(n.ID)
	n.Build = func(t *flow.Task, _ []any) any {
		op := &flow.Sink[T]{Ctl: flow.NewCtl(), Name: n.Name, T: t,
			F: func(_ int64, v T) error { return sink.Write(v) }, OnClose: sink.Close}
		var in flow.Outlet[T] = op
		if tx, ok := sink.(TwoPhaseCommitSink[T]); ok {
			txs := &flow.TxSink[T]{Sink: op, UID: n.UID, Tx: tx}
			if txs.UID == "" {
				txs.UID = n.Name
			}
			t.AddSnapshotter(txs)
			t.AddCommitter(txs)
			in = txs
		}
		if f, ok := sink.(Flusher); ok {
			t.AddFlusher(func() {
				if err := f.Flush(); err != nil {
					flow.Fail(fmt.Errorf("sink %s: %w", n.Name, err))
				}
			})
		}
		return in
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
