package sluice

import (
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
	"github.com/sluicehq/sluice/state/codec"
)

// Rolled is one result of a rolling aggregate: for one element of a key, the aggregate (Value)
// of that key's elements with timestamps in (Timestamp-range, Timestamp], the element included.
// Its event timestamp is the element's.
type Rolled[K comparable, T, V any] = flow.Rolled[K, T, V]

// RollingFunc is an aggregate over the moving range of a key's recent elements, updated
// incrementally as elements enter and leave the range: a sum subtracts what leaves, a minimum or
// maximum keeps a monotonic deque, a distinct count keeps a count per value. Build one with
// RollingSum, RollingCount, RollingMin, RollingMax, RollingAvg or RollingDistinctCount; the zero
// RollingFunc is invalid.
type RollingFunc[T, V any] struct {
	kind     string
	newStore func() flow.RollingStore[T, V]
	err      error // why its state cannot be checkpointed, reported when a checkpoint is taken
}

// RollingSum sums f(element) over the range (Flink SQL: SUM(x) OVER …). Floating-point sums are
// recomputed from the values in range from time to time, so rounding errors do not accumulate.
func RollingSum[T any, N agg.Number](f func(T) N) RollingFunc[T, N] {
	return RollingFunc[T, N]{kind: "sum", newStore: flow.RollingSum(f)}
}

// RollingCount counts the elements in the range (Flink SQL: COUNT(*) OVER …).
func RollingCount[T any]() RollingFunc[T, int64] {
	return RollingFunc[T, int64]{kind: "count", newStore: flow.RollingCount[T]()}
}

// RollingMin keeps the smallest f(element) in the range (Flink SQL: MIN(x) OVER …).
func RollingMin[T any, N agg.Number](f func(T) N) RollingFunc[T, N] {
	return RollingFunc[T, N]{kind: "min", newStore: flow.RollingMin(f)}
}

// RollingMax keeps the largest f(element) in the range (Flink SQL: MAX(x) OVER …).
func RollingMax[T any, N agg.Number](f func(T) N) RollingFunc[T, N] {
	return RollingFunc[T, N]{kind: "max", newStore: flow.RollingMax(f)}
}

// RollingAvg averages f(element) over the range as a float64 (Flink SQL: AVG(x) OVER …).
func RollingAvg[T any, N agg.Number](f func(T) N) RollingFunc[T, float64] {
	return RollingFunc[T, float64]{kind: "avg", newStore: flow.RollingAvg(f)}
}

// RollingDistinctCount counts the distinct values of f(element) in the range (Flink SQL:
// COUNT(DISTINCT x) OVER …). It keeps a count per value present, so its state grows with the
// number of distinct values in a range.
func RollingDistinctCount[T any, D comparable](f func(T) D) RollingFunc[T, int64] {
	c, err := codec.For[D]()
	if err != nil {
		return RollingFunc[T, int64]{kind: "distinct", newStore: flow.RollingDistinctCount[T, D](f, nil), err: err}
	}
	return RollingFunc[T, int64]{kind: "distinct", newStore: flow.RollingDistinctCount[T, D](f, c)}
}

// rollingDecl marks a Rolling node (in plan.Node.Ext), for RollingLate.
type rollingDecl struct{}

// Rolling computes a rolling (OVER) aggregate: for every element of the keyed stream, one Rolled
// result with f over the elements of its key whose timestamps lie in (ts-rng, ts] (Flink SQL:
// OVER (PARTITION BY key ORDER BY rowtime RANGE BETWEEN rng PRECEDING AND CURRENT ROW), here
// with an exclusive lower bound) — "the sum of a user's transactions in the last 30 minutes":
//
//	spend := sluice.Rolling(byUser, 30*time.Minute, sluice.RollingSum(func(t Txn) float64 { return t.Amount })).UID("spend-30m")
//
// Elements are processed in timestamp order once the watermark passes them, so results do not
// depend on arrival order, and elements of a key with equal timestamps see each other. An element
// that arrives at or behind the watermark is too late: it goes to RollingLate's stream with the
// reason and is counted. A key's state is dropped once the watermark is rng past its newest
// element. The operator is stateful and needs a UID. rng must be at least a millisecond; an
// invalid rng or f is reported when the pipeline is built, naming the operator.
func Rolling[K comparable, T, V any](k KeyedStream[K, T], rng time.Duration, f RollingFunc[T, V]) Stream[Rolled[K, T, V]] {
	p := k.p
	n := p.g.Add(&plan.Node{Kind: plan.KindOp, Stateful: true, Ports: 2, PortNames: []string{"", "late"},
		Inputs: []plan.Edge{{From: k.n}}, Ext: rollingDecl{}})
	n.Name = fmt.Sprintf("rolling-%s-%d", f.kind, n.ID)
	ms := rng.Milliseconds()
	switch {
	case f.newStore == nil:
		p.fail(fmt.Errorf("operator %s: no rolling function (use sluice.RollingSum, RollingCount …)", n.Label()))
	case ms < 1:
		p.fail(fmt.Errorf("operator %s: the rolling range must be at least 1ms, got %v", n.Label(), rng))
	}
	n.MakeOutlet = func(port int, consumers []any) any {
		if port == 1 {
			return outletOf[LateElement[K, T]](port, consumers)
		}
		return outletOf[Rolled[K, T, V]](port, consumers)
	}
	n.Build = func(t *flow.Task, outs []any) any {
		st := stateCodecs[K, T](n.UID)
		if f.err != nil {
			st.Err = errors.Join(st.Err, fmt.Errorf("operator %q cannot checkpoint its state: %w", n.UID, f.err))
		}
		op := &flow.RollingOp[K, T, V]{Name: n.Name, T: t, Range: ms, Store: f.newStore(),
			Out: outs[0].(flow.Outlet[Rolled[K, T, V]]), Late: outs[1].(flow.Outlet[LateElement[K, T]]), State: st}
		op.Init()
		t.AddSnapshotter(op)
		return flow.Outlet[flow.Keyed[K, T]](op)
	}
	return Stream[Rolled[K, T, V]]{p: p, n: n}
}

// RollingLate returns the late side output of the Rolling operator that produced s: the
// elements that arrived at or behind the watermark, after the results of their timestamp were
// out, each with the watermark and the reason (Flink: sideOutputLateData); its Window is the
// element's range (ts-rng, ts], as [ts-rng+1, ts+1). Without a consumer,
// late elements are still counted. If s is not the stream returned by Rolling (after Name, UID
// or Parallelism, which return it unchanged), the pipeline records an error.
func RollingLate[K comparable, T, V any](s Stream[Rolled[K, T, V]]) Stream[LateElement[K, T]] {
	if _, ok := s.n.Ext.(rollingDecl); !ok || s.port != 0 {
		s.p.fail(fmt.Errorf("rolling late output: operator %s is not a rolling aggregate (sluice.Rolling)", s.n.Label()))
		n := s.p.g.Add(&plan.Node{Kind: plan.KindOp, Name: "invalid-rolling-late", Optional: true,
			MakeOutlet: outletOf[LateElement[K, T]]})
		return Stream[LateElement[K, T]]{p: s.p, n: n}
	}
	n := s.p.g.Add(&plan.Node{Kind: plan.KindOp, Inputs: []plan.Edge{{From: s.n, Port: 1}},
		MakeOutlet: outletOf[LateElement[K, T]],
		Build: func(_ *flow.Task, outs []any) any {
			out := outs[0].(flow.Outlet[LateElement[K, T]])
			return flow.Outlet[LateElement[K, T]](&flow.Pass[LateElement[K, T]]{Ctl: flow.NewCtl(), Out: out})
		}})
	n.Name = "rolling-late-" + itoa(n.ID)
	return Stream[LateElement[K, T]]{p: s.p, n: n}
}
