package flow

// TimerQueue orders timers by time. Timers with the same time share one bucket of keys, so a
// tumbling window that ends at the same instant for 100k keys costs one heap entry, and the
// buckets' backing arrays are reused: a steady-state timer costs no allocation.
//
// A key may appear in a bucket more than once; callers treat a timer as "look at this key at this
// time" and check their own state, so duplicates are harmless. K need not be comparable: the
// queue never compares keys, so a bucket may hold whole records (the rolling operator buffers its
// pending elements this way).
type TimerQueue[K any] struct {
	heap  []int32         // bucket indices, a min-heap on their times
	at    map[int64]int32 // time → bucket index
	bkts  []timerBucket[K]
	idle  []int32 // bucket indices not in use
	free  [][]K   // recycled backing arrays
	n     int
	lastT int64 // the time of the last Add, valid while lastB >= 0: most Adds repeat it
	lastB int32
}

type timerBucket[K any] struct {
	t    int64
	keys []K
}

// Add schedules key k at time t.
func (q *TimerQueue[K]) Add(t int64, k K) {
	q.n++
	if q.at != nil && q.lastB >= 0 && q.lastT == t {
		b := &q.bkts[q.lastB]
		b.keys = append(b.keys, k)
		return
	}
	if q.at == nil {
		q.at = make(map[int64]int32)
	}
	i, ok := q.at[t]
	if !ok {
		i = q.newBucket(t)
	}
	q.lastT, q.lastB = t, i
	b := &q.bkts[i]
	b.keys = append(b.keys, k)
}

// AddAll schedules every key of ks at time t: Add for each, with one bucket lookup.
func (q *TimerQueue[K]) AddAll(t int64, ks []K) {
	if len(ks) == 0 {
		return
	}
	q.Add(t, ks[0])
	b := &q.bkts[q.lastB] // Add made the bucket of t the last one
	b.keys = append(b.keys, ks[1:]...)
	q.n += len(ks) - 1
}

func (q *TimerQueue[K]) newBucket(t int64) int32 {
	var i int32
	if n := len(q.idle); n > 0 {
		i = q.idle[n-1]
		q.idle = q.idle[:n-1]
	} else {
		i = int32(len(q.bkts))
		q.bkts = append(q.bkts, timerBucket[K]{})
	}
	b := &q.bkts[i]
	b.t = t
	if n := len(q.free); n > 0 {
		b.keys = q.free[n-1]
		q.free = q.free[:n-1]
	}
	q.at[t] = i
	q.heap = append(q.heap, i)
	q.up(len(q.heap) - 1)
	return i
}

// Len is the number of scheduled (key, time) entries.
func (q *TimerQueue[K]) Len() int { return q.n }

// Next returns the earliest time, or MaxTime when empty.
func (q *TimerQueue[K]) Next() int64 {
	if len(q.heap) == 0 {
		return MaxTime
	}
	return q.bkts[q.heap[0]].t
}

// Pop removes the earliest bucket and returns its time and keys. The caller must hand the keys
// back with Recycle once done with them; Adds made meanwhile go to other buckets, even at the
// same time.
func (q *TimerQueue[K]) Pop() (int64, []K) {
	i := q.heap[0]
	last := len(q.heap) - 1
	q.heap[0] = q.heap[last]
	q.heap = q.heap[:last]
	if last > 0 {
		q.down(0)
	}
	b := &q.bkts[i]
	t, keys := b.t, b.keys
	b.keys = nil
	delete(q.at, t)
	q.idle = append(q.idle, i)
	if q.lastB == i {
		q.lastB = -1
	}
	q.n -= len(keys)
	return t, keys
}

// Recycle returns a bucket's backing array for reuse. The largest array stays on top of the
// pool: the next new bucket takes it, so that a bucket shared by many keys (a window end) does
// not regrow from a small array every time.
func (q *TimerQueue[K]) Recycle(b []K) {
	if cap(b) == 0 {
		return
	}
	clear(b)
	q.free = append(q.free, b[:0])
	if n := len(q.free); n > 1 && cap(q.free[n-1]) < cap(q.free[n-2]) {
		q.free[n-1], q.free[n-2] = q.free[n-2], q.free[n-1]
	}
}

// Each calls f for every scheduled (time, key), in no particular order (for snapshots and tests).
func (q *TimerQueue[K]) Each(f func(t int64, k K)) {
	for _, i := range q.heap {
		b := &q.bkts[i]
		for _, k := range b.keys {
			f(b.t, k)
		}
	}
}

func (q *TimerQueue[K]) less(a, b int) bool { return q.bkts[q.heap[a]].t < q.bkts[q.heap[b]].t }

func (q *TimerQueue[K]) up(j int) {
	for j > 0 {
		p := (j - 1) / 2
		if !q.less(j, p) {
			return
		}
		q.heap[j], q.heap[p] = q.heap[p], q.heap[j]
		j = p
	}
}

func (q *TimerQueue[K]) down(j int) {
	n := len(q.heap)
	for {
		l := 2*j + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && q.less(r, l) {
			c = r
		}
		if !q.less(c, j) {
			return
		}
		q.heap[j], q.heap[c] = q.heap[c], q.heap[j]
		j = c
	}
}
