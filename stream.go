package sluice

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
)

// Stream is a typed stream of records of type T, the output of one operator.
type Stream[T any] struct {
	p    *Pipeline
	n    *plan.Node
	port int
}

// Pipeline returns the stream's pipeline.
func (s Stream[T]) Pipeline() *Pipeline { return s.p }

// Name names the operator that produces this stream (Flink: name()). Names appear in errors,
// dead letters, metrics and explain.
func (s Stream[T]) Name(name string) Stream[T] {
	s.n.Name = name
	return s
}

// UID sets the operator's stable id (Flink: uid()). Stateful operators require one: checkpoints
// and savepoints are keyed by it.
func (s Stream[T]) UID(uid string) Stream[T] {
	s.n.UID = uid
	return s
}

// Parallelism sets the number of subtasks of the operator's stage (Flink: setParallelism()). It
// applies to keyed operators and sinks; stateless operators run chained at their input's
// parallelism.
func (s Stream[T]) Parallelism(n int) Stream[T] {
	if n < 1 {
		s.p.fail(fmt.Errorf("operator %s: parallelism must be >= 1, got %d", s.n.Label(), n))
	}
	s.n.Parallelism = n
	return s
}

// Filter keeps the records for which keep returns true.
func (s Stream[T]) Filter(keep func(T) bool) Stream[T] {
	return addOp[T, T](s, "filter", func(t *flow.Task, name string, out flow.Outlet[T]) flow.Outlet[T] {
		return &flow.Filter[T]{Ctl: flow.NewCtl(), Name: name, T: t, F: keep, Out: out}
	})
}

// Map applies f to every record.
func Map[T, U any](s Stream[T], f func(T) U) Stream[U] {
	return addOp[T, U](s, "map", func(t *flow.Task, name string, out flow.Outlet[U]) flow.Outlet[T] {
		return &flow.Map[T, U]{Ctl: flow.NewCtl(), Name: name, T: t, F: f, Out: out}
	})
}

// FlatMap calls f for every record; f emits any number of results.
func FlatMap[T, U any](s Stream[T], f func(v T, emit func(U))) Stream[U] {
	return addOp[T, U](s, "flatmap", func(t *flow.Task, name string, out flow.Outlet[U]) flow.Outlet[T] {
		return &flow.FlatMap[T, U]{Ctl: flow.NewCtl(), Name: name, T: t, F: f, Out: out}
	})
}

// Union merges streams of the same type. The watermark of the union is the minimum of its inputs'.
func Union[T any](first Stream[T], more ...Stream[T]) Stream[T] {
	n := &plan.Node{Kind: plan.KindOp, Name: "union", MakeOutlet: outletOf[T],
		Build: func(t *flow.Task, outs []any) any {
			return flow.Outlet[T](&flow.Pass[T]{Ctl: flow.NewCtl(), Out: outs[0].(flow.Outlet[T])})
		}}
	for _, s := range append([]Stream[T]{first}, more...) {
		if s.p != first.p {
			first.p.fail(fmt.Errorf("union: streams from pipelines %q and %q cannot be mixed", first.p.name, s.p.name))
			continue
		}
		n.Inputs = append(n.Inputs, plan.Edge{From: s.n, Port: s.port})
	}
	first.p.g.Add(n)
	return Stream[T]{p: first.p, n: n}
}

// addOp appends a single-input, single-output operator node.
func addOp[T, U any](s Stream[T], kind string, build func(t *flow.Task, name string, out flow.Outlet[U]) flow.Outlet[T]) Stream[U] {
	n := s.p.g.Add(&plan.Node{Kind: plan.KindOp, Inputs: []plan.Edge{{From: s.n, Port: s.port}}, MakeOutlet: outletOf[U]})
	n.Name = fmt.Sprintf("%s-%d", kind, n.ID)
	n.Build = func(t *flow.Task, outs []any) any {
		return build(t, n.Name, outs[0].(flow.Outlet[U]))
	}
	return Stream[U]{p: s.p, n: n}
}
