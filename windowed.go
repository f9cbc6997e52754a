package sluice

import (
	"fmt"

	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
	"github.com/sluicehq/sluice/window"
)

// Windowed is one pane of a window for a key: the key, the window [Start, End), the pane (EARLY,
// ON_TIME or LATE, and its index) and the aggregated value. Its event timestamp is End-1.
type Windowed[K comparable, V any] = flow.Windowed[K, V]

// LateElement is an element that arrived too late for every window it belongs to, with the
// watermark and the reason. See Late.
type LateElement[K comparable, T any] = flow.LateElement[K, T]

// WindowedStream is a keyed stream with a window definition, ready for Aggregate, Reduce or
// ProcessWindow.
type WindowedStream[K comparable, T any] struct {
	*windowDecl[K, T]
}

type windowDecl[K comparable, T any] struct {
	keyed KeyedStream[K, T]
	spec  window.Spec
	ops   []*plan.Node
	late  *plan.Node
}

// Window groups a keyed stream into windows (Flink: window(); Kafka Streams: windowedBy()).
// Options set allowed lateness, early and late firings, count triggers and discarding panes; see
// package window. Invalid parameters are reported when the pipeline is built, naming the operator.
func Window[K comparable, T any](k KeyedStream[K, T], a window.Assigner, opts ...window.Option) WindowedStream[K, T] {
	return WindowedStream[K, T]{&windowDecl[K, T]{keyed: k, spec: window.NewSpec(a, opts...)}}
}

// Late returns the late side output of the windowed stream's operators: elements too late for
// every window they belong to (Flink: sideOutputLateData). Without a consumer, late elements are
// still counted.
func Late[K comparable, T any](w WindowedStream[K, T]) Stream[LateElement[K, T]] {
	if w.late == nil {
		w.late = w.keyed.p.g.Add(&plan.Node{Kind: plan.KindOp, Name: "late", MakeOutlet: outletOf[LateElement[K, T]],
			Build: func(t *flow.Task, outs []any) any {
				return flow.Outlet[LateElement[K, T]](&flow.Pass[LateElement[K, T]]{Ctl: flow.NewCtl(), Out: outs[0].(flow.Outlet[LateElement[K, T]])})
			}})
		for _, op := range w.ops {
			w.late.Inputs = append(w.late.Inputs, plan.Edge{From: op, Port: 1})
		}
	}
	return Stream[LateElement[K, T]]{p: w.keyed.p, n: w.late}
}

// Aggregate folds each window's elements incrementally with f and emits one Windowed result per
// pane (Flink: aggregate(AggregateFunction)). State per key and window is one accumulator.
func Aggregate[K comparable, T, Acc, Out any](w WindowedStream[K, T], f agg.AggregateFunction[T, Acc, Out]) Stream[Windowed[K, Out]] {
	return windowOp(w, "aggregate", f, func(out flow.Outlet[Windowed[K, Out]]) func(K, window.Window, window.Pane, Acc) {
		return func(k K, win window.Window, p window.Pane, acc Acc) {
			out.Collect(win.MaxTimestamp(), Windowed[K, Out]{Key: k, Window: win, Pane: p, Value: f.Result(acc)})
		}
	})
}

// Reduce combines each window's elements pairwise with f, which must be associative (Flink:
// reduce()).
func Reduce[K comparable, T any](w WindowedStream[K, T], f func(a, b T) T) Stream[Windowed[K, T]] {
	return Aggregate(w, agg.Reduce(f))
}

// WindowContext describes the pane a ProcessWindow function is called for.
type WindowContext[K comparable] struct {
	Key    K
	Window window.Window
	Pane   window.Pane
}

// ProcessWindow calls f with all elements of each pane and the window's metadata (Flink:
// ProcessWindowFunction). It buffers elements, so prefer Aggregate where an incremental function
// exists. Results carry the window's timestamp End-1.
func ProcessWindow[K comparable, T, Out any](w WindowedStream[K, T], f func(ctx WindowContext[K], elems []T, emit func(Out))) Stream[Out] {
	list := agg.Funcs[T, []T, []T]{
		AddFn:   func(v T, acc []T) []T { return append(acc, v) },
		MergeFn: func(a, b []T) []T { return append(append([]T(nil), a...), b...) },
		Get:     func(acc []T) []T { return acc },
	}
	return windowOp(w, "process-window", agg.AggregateFunction[T, []T, []T](list), func(out flow.Outlet[Out]) func(K, window.Window, window.Pane, []T) {
		return func(k K, win window.Window, p window.Pane, acc []T) {
			ts := win.MaxTimestamp()
			f(WindowContext[K]{Key: k, Window: win, Pane: p}, acc, func(o Out) { out.Collect(ts, o) })
		}
	})
}

// windowOp adds a window operator node reading the keyed stream's exchange.
func windowOp[K comparable, T, Acc, Out, R any](w WindowedStream[K, T], kind string, f agg.AggregateFunction[T, Acc, Out],
	fire func(out flow.Outlet[R]) func(K, window.Window, window.Pane, Acc)) Stream[R] {
	p := w.keyed.p
	n := p.g.Add(&plan.Node{Kind: plan.KindOp, Stateful: true, Ports: 2, PortNames: []string{"", "late"},
		Inputs: []plan.Edge{{From: w.keyed.n}}})
	n.Name = fmt.Sprintf("window-%s-%d", kind, n.ID)
	if err := w.spec.Validate(); err != nil {
		p.fail(fmt.Errorf("operator %s: %w", n.Label(), err))
	}
	n.MakeOutlet = func(port int, consumers []any) any {
		if port == 1 {
			return outletOf[LateElement[K, T]](port, consumers)
		}
		return outletOf[R](port, consumers)
	}
	spec := w.spec
	n.Build = func(t *flow.Task, outs []any) any {
		out := outs[0].(flow.Outlet[R])
		late := outs[1].(flow.Outlet[LateElement[K, T]])
		// Tumbling and sliding windows under the plain event-time trigger share pre-aggregated
		// slices: one state update per element whatever size/slide is. Everything else (sessions,
		// early, count or discarding panes) runs on the general operator, and so do sliding
		// windows whose agg.Funcs has no MergeFn: the slices of a window could not be merged.
		noMerge := false
		switch fn := any(f).(type) {
		case agg.Funcs[T, Acc, Out]:
			noMerge = fn.MergeFn == nil
		case *agg.Funcs[T, Acc, Out]:
			noMerge = fn.MergeFn == nil
		}
		needsMerge := spec.Assigner.SliceLen() != spec.Assigner.Size()
		if spec.Assigner.Kind() != window.KindSession && spec.EarlyAfter == 0 && spec.Count == 0 && !spec.Discarding &&
			!(noMerge && needsMerge) {
			op := &flow.SliceWindowOp[K, T, Acc]{Name: n.Name, T: t, Spec: spec, Agg: f, Fire: fire(out), Out: out, Late: late,
				State: stateCodecs[K, Acc](n.UID)}
			op.Init()
			t.AddSnapshotter(op)
			return flow.Outlet[flow.Keyed[K, T]](op)
		}
		op := &flow.WindowOp[K, T, Acc]{Name: n.Name, T: t, Spec: spec, Agg: f, Fire: fire(out), Out: out, Late: late,
			State: stateCodecs[K, Acc](n.UID)}
		op.Init()
		t.AddSnapshotter(op)
		return flow.Outlet[flow.Keyed[K, T]](op)
	}
	w.ops = append(w.ops, n)
	if w.late != nil {
		w.late.Inputs = append(w.late.Inputs, plan.Edge{From: n, Port: 1})
	}
	return Stream[R]{p: p, n: n}
}
