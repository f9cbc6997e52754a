package sluice

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
	"github.com/sluicehq/sluice/state/codec"
)

// Global gathers the stream into one subtask (Flink: global()). The watermark of the result is
// the minimum over every upstream subtask.
func Global[T any](s Stream[T]) Stream[T] {
	n := s.p.g.Add(&plan.Node{Kind: plan.KindExchange, Inputs: []plan.Edge{{From: s.n, Port: s.port}},
		Parallelism: 1, MakeOutlet: outletOf[T]})
	n.Name = "global-" + itoa(n.ID)
	n.Exchange = func(cfg plan.ExchangeConfig) plan.Exchange {
		return flow.NewExchange(n.Name, func(v T) (T, int) { return v, 0 }, cfg)
	}
	return Stream[T]{p: s.p, n: n}
}

// SortByTime gathers the stream into one subtask and emits its records in event-time order once
// the watermark passes them, ties ordered by cmp (negative when a sorts first). The output order
// is then deterministic whatever the interleaving of parallel subtasks, which exactly-once file
// output and golden tests rely on. It holds records until the watermark passes them, so it adds
// the watermark's delay to latency. It is stateful and needs a UID.
func SortByTime[T any](s Stream[T], cmp func(a, b T) int) Stream[T] {
	var node *plan.Node
	out := addOp[T, T](Global(s), "sort-by-time", func(t *flow.Task, name string, out flow.Outlet[T]) flow.Outlet[T] {
		vc, err := codec.For[T]()
		if err != nil {
			err = fmt.Errorf("operator %q cannot checkpoint its state: %w", node.UID, err)
		}
		op := &flow.SortByTime[T]{Ctl: flow.NewCtl(), Name: name, T: t, Less: cmp, Out: out,
			State: flow.SortState[T]{UID: node.UID, Value: vc, Err: err}}
		t.AddSnapshotter(op)
		return op
	})
	node = out.n
	node.Stateful = true
	return out
}
