package flow

import "container/heap"

// TimerQueue orders timers by time. Timers with the same time share one bucket of keys, so a
// tumbling window that ends at the same instant for 100k keys costs one heap entry, and the
// buckets' backing arrays are reused: a steady-state timer costs no allocation.
//
// A key may appear in a bucket more than once; callers treat a timer as "look at this key at this
// time" and check their own state, so duplicates are harmless.
type TimerQueue[K comparable] struct {
	times   int64Heap
	buckets map[int64][]K
	free    [][]K
	n       int
}

// Add schedules key k at time t.
func (q *TimerQueue[K]) Add(t int64, k K) {
	if q.buckets == nil {
		q.buckets = make(map[int64][]K)
	}
	b, ok := q.buckets[t]
	if !ok {
		heap.Push(&q.times, t)
		if n := len(q.free); n > 0 {
			b = q.free[n-1]
			q.free = q.free[:n-1]
		}
	}
	q.buckets[t] = append(b, k)
	q.n++
}

// Len is the number of scheduled (key, time) entries.
func (q *TimerQueue[K]) Len() int { return q.n }

// Next returns the earliest time, or MaxTime when empty.
func (q *TimerQueue[K]) Next() int64 {
	if len(q.times) == 0 {
		return MaxTime
	}
	return q.times[0]
}

// Pop removes the earliest bucket and returns its time and keys. The caller must hand the keys
// back with Recycle once done with them.
func (q *TimerQueue[K]) Pop() (int64, []K) {
	t := heap.Pop(&q.times).(int64)
	b := q.buckets[t]
	delete(q.buckets, t)
	q.n -= len(b)
	return t, b
}

// Recycle returns a bucket's backing array for reuse.
func (q *TimerQueue[K]) Recycle(b []K) {
	clear(b)
	q.free = append(q.free, b[:0])
}

// Each calls f for every scheduled (time, key), in no particular order (for snapshots and tests).
func (q *TimerQueue[K]) Each(f func(t int64, k K)) {
	for t, b := range q.buckets {
		for _, k := range b {
			f(t, k)
		}
	}
}

type int64Heap []int64

func (h int64Heap) Len() int           { return len(h) }
func (h int64Heap) Less(i, j int) bool { return h[i] < h[j] }
func (h int64Heap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *int64Heap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *int64Heap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
