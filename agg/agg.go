// Package agg holds incremental aggregate functions for windows and rolling aggregates: the
// AggregateFunction contract (Flink's add/merge/getResult) and the common ones (count, sum, min,
// max, average).
//
// An aggregate keeps a small accumulator per key and window, so a window costs one update per
// element instead of buffering its elements. The package imports only the standard library.
package agg

// Number is the set of numeric types the built-in aggregates accept.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// AggregateFunction folds elements of type In into an accumulator Acc and produces an Out.
// Implementations must be pure: the runtime may call Merge on accumulators of merged session
// windows or pre-aggregated slices, and may call Result more than once on one accumulator.
// (Flink: AggregateFunction with createAccumulator, add, merge, getResult.)
type AggregateFunction[In, Acc, Out any] interface {
	// CreateAccumulator returns the empty accumulator.
	CreateAccumulator() Acc
	// Add folds v into acc and returns the new accumulator.
	Add(v In, acc Acc) Acc
	// Merge combines two accumulators.
	Merge(a, b Acc) Acc
	// Result derives the output from an accumulator without changing it.
	Result(acc Acc) Out
}

// Funcs adapts plain functions to AggregateFunction. Merge may be nil for aggregates that are
// never merged (tumbling windows); session and sliding windows need it.
type Funcs[In, Acc, Out any] struct {
	Create  func() Acc
	AddFn   func(v In, acc Acc) Acc
	MergeFn func(a, b Acc) Acc
	Get     func(acc Acc) Out
}

// CreateAccumulator calls Create, or returns the zero Acc when Create is nil.
func (f Funcs[In, Acc, Out]) CreateAccumulator() Acc {
	if f.Create == nil {
		var z Acc
		return z
	}
	return f.Create()
}

// Add calls AddFn.
func (f Funcs[In, Acc, Out]) Add(v In, acc Acc) Acc { return f.AddFn(v, acc) }

// Merge calls MergeFn; it panics with a clear message when MergeFn is nil.
func (f Funcs[In, Acc, Out]) Merge(a, b Acc) Acc {
	if f.MergeFn == nil {
		panic("agg.Funcs: Merge is needed (session or sliding window) but MergeFn is nil")
	}
	return f.MergeFn(a, b)
}

// Result calls Get.
func (f Funcs[In, Acc, Out]) Result(acc Acc) Out { return f.Get(acc) }

type count[T any] struct{}

// Count counts elements.
func Count[T any]() AggregateFunction[T, int64, int64] { return count[T]{} }

func (count[T]) CreateAccumulator() int64 { return 0 }
func (count[T]) Add(_ T, acc int64) int64 { return acc + 1 }
func (count[T]) Merge(a, b int64) int64   { return a + b }
func (count[T]) Result(acc int64) int64   { return acc }

type sum[T any, N Number] struct{ f func(T) N }

// Sum adds up f(element).
func Sum[T any, N Number](f func(T) N) AggregateFunction[T, N, N] { return sum[T, N]{f} }

func (s sum[T, N]) CreateAccumulator() N { return 0 }
func (s sum[T, N]) Add(v T, acc N) N     { return acc + s.f(v) }
func (s sum[T, N]) Merge(a, b N) N       { return a + b }
func (s sum[T, N]) Result(acc N) N       { return acc }

// MinMaxAcc is the accumulator of Min and Max: the extreme value and whether one was seen.
type MinMaxAcc[N Number] struct {
	V   N
	Set bool
}

type extreme[T any, N Number] struct {
	f    func(T) N
	less bool
}

// Min keeps the smallest f(element).
func Min[T any, N Number](f func(T) N) AggregateFunction[T, MinMaxAcc[N], N] {
	return extreme[T, N]{f: f, less: true}
}

// Max keeps the largest f(element).
func Max[T any, N Number](f func(T) N) AggregateFunction[T, MinMaxAcc[N], N] {
	return extreme[T, N]{f: f}
}

func (e extreme[T, N]) CreateAccumulator() MinMaxAcc[N] { return MinMaxAcc[N]{} }
func (e extreme[T, N]) Add(v T, acc MinMaxAcc[N]) MinMaxAcc[N] {
	return e.Merge(acc, MinMaxAcc[N]{V: e.f(v), Set: true})
}
func (e extreme[T, N]) Merge(a, b MinMaxAcc[N]) MinMaxAcc[N] {
	switch {
	case !a.Set:
		return b
	case !b.Set:
		return a
	case e.less == (b.V < a.V):
		return b
	}
	return a
}
func (e extreme[T, N]) Result(acc MinMaxAcc[N]) N { return acc.V }

// AvgAcc is the accumulator of Avg.
type AvgAcc struct {
	Sum   float64
	Count int64
}

type avg[T any, N Number] struct{ f func(T) N }

// Avg averages f(element) as a float64; the average of nothing is 0.
func Avg[T any, N Number](f func(T) N) AggregateFunction[T, AvgAcc, float64] { return avg[T, N]{f} }

func (a avg[T, N]) CreateAccumulator() AvgAcc { return AvgAcc{} }
func (a avg[T, N]) Add(v T, acc AvgAcc) AvgAcc {
	return AvgAcc{Sum: acc.Sum + float64(a.f(v)), Count: acc.Count + 1}
}
func (a avg[T, N]) Merge(x, y AvgAcc) AvgAcc {
	return AvgAcc{Sum: x.Sum + y.Sum, Count: x.Count + y.Count}
}
func (a avg[T, N]) Result(acc AvgAcc) float64 {
	if acc.Count == 0 {
		return 0
	}
	return acc.Sum / float64(acc.Count)
}

// ReduceAcc is the accumulator of Reduce: the running value and whether one was seen.
type ReduceAcc[T any] struct {
	V   T
	Set bool
}

type reduce[T any] struct{ f func(a, b T) T }

// Reduce combines elements pairwise with f (Flink: ReduceFunction). f must be associative.
func Reduce[T any](f func(a, b T) T) AggregateFunction[T, ReduceAcc[T], T] { return reduce[T]{f} }

func (r reduce[T]) CreateAccumulator() ReduceAcc[T] { return ReduceAcc[T]{} }
func (r reduce[T]) Add(v T, acc ReduceAcc[T]) ReduceAcc[T] {
	return r.Merge(acc, ReduceAcc[T]{V: v, Set: true})
}
func (r reduce[T]) Merge(a, b ReduceAcc[T]) ReduceAcc[T] {
	switch {
	case !a.Set:
		return b
	case !b.Set:
		return a
	}
	return ReduceAcc[T]{V: r.f(a.V, b.V), Set: true}
}
func (r reduce[T]) Result(acc ReduceAcc[T]) T { return acc.V }
