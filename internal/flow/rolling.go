package flow

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"unsafe"

	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/window"
)

// Rolled is one result of a rolling (OVER) aggregate: for one element of a key, the aggregate of
// that key's elements with timestamps in (Timestamp-range, Timestamp]. Its event timestamp is
// the element's.
type Rolled[K comparable, T, V any] struct {
	Key       K     `json:"key"`
	Element   T     `json:"element"`
	Value     V     `json:"value"`
	Timestamp int64 `json:"ts"`
}

// RollingStore holds the rolling-aggregate state of many keys, each in a slot: the elements inside
// the range and whatever the aggregate keeps to answer without rescanning them. States are values
// in one typed array, so that a record touches its key's state and its buffer, nothing more. The
// operator adds a slot's elements in timestamp order and evicts from the oldest, so eviction is
// incremental: a sum subtracts, a minimum pops a monotonic deque, a distinct count decrements a
// map.
type RollingStore[In, V any] interface {
	// Open prepares an empty slot (slots are dense and reused after Reset).
	Open(slot int32)
	// Add appends an element with timestamp ts, not older than any element of the slot.
	Add(slot int32, ts int64, v In)
	// Evict removes the slot's elements with timestamps <= cutoff.
	Evict(slot int32, cutoff int64)
	// Result is the aggregate of the slot's elements; it is called only when there is one.
	Result(slot int32) V
	// Newest is the timestamp of the slot's newest element, or MinTime when it is empty.
	Newest(slot int32) int64
	// Reset empties the slot, keeping its buffers for the next key in it.
	Reset(slot int32)
	// AppendState encodes the slot's state for a checkpoint.
	AppendState(dst []byte, slot int32) []byte
	// DecodeState restores an opened, empty slot from src and returns the bytes it read.
	DecodeState(slot int32, src []byte) (int, error)
}

// RollingOp computes a rolling aggregate per key: for every element, one Rolled result over the
// elements of its key with timestamps in (ts-Range, ts] (Flink SQL: OVER (PARTITION BY key ORDER
// BY rowtime RANGE BETWEEN Range PRECEDING AND CURRENT ROW), with an exclusive lower bound).
//
// Elements wait until the watermark passes them and are then processed in timestamp order, so
// the result does not depend on arrival order. Elements of a key with equal timestamps are
// peers: each one's result includes all of them. An element whose timestamp is at or behind the
// watermark when it arrives is too late: its timestamp's results are already out, so it goes to
// Late with the reason and is counted.
//
// Pending elements wait, with their key, in queues bucketed by event time (see rollShift), so
// Collect touches no per-key state and a watermark takes them in order. A key's state is dropped
// once the watermark is a whole range past its newest element (any later element would evict
// everything), rounded up to 1/64 of the range (expiryTime): each key has one chained expiry
// timer, re-armed at its newest element's expiry when it fires.
type RollingOp[K comparable, In, V any] struct {
	Ctl
	Name string
	T    *Task
	// Range is the length of the range in ms, >= 1.
	Range int64
	// Store holds the per-key states of the aggregate.
	Store RollingStore[In, V]
	// Out receives one result per element, at the element's timestamp.
	Out Outlet[Rolled[K, In, V]]
	// Late receives elements that arrived at or behind the watermark; Discard counts them only.
	Late Outlet[LateElement[K, In]]
	// State holds the UID and the codecs of keys and elements for checkpoints.
	State StateCodecs[K, In]

	tab     keyTable[K, struct{}] // key → slot
	batch   []rollRec[K, In]      // scratch: the elements a watermark passes, sorted
	stage   [rollStages]rollStage[K, In]
	pending TimerQueue[rollRec[K, In]] // elements of buckets the watermark has not reached, by bucket
	near    []rollRec[K, In]           // elements of the watermark's bucket, after it
	expiry  TimerQueue[int32]          // one chained timer per slot
	spill   *rollSpill[K]              // cold keys in a spill store; nil with the memory backend
}

// rollShift sets the granularity of the pending queue: elements wait in buckets of 64 ms of
// event time, each sorted once when the watermark passes it, so that a queue operation is shared
// by the elements of a bucket instead of paid for each distinct timestamp. The bucket holding the
// watermark would be sorted again at every watermark: its elements, and those arriving for it,
// wait instead in near, sorted again at each watermark with those that arrived for it
// meanwhile. The time ranges of pending and near never overlap: a bucket moves to near once,
// when the watermark enters it, and later elements of it go there directly; a bucket holds
// 64 ms of event time, so near holds one bucket at most (elements after the watermark but in
// its bucket).
const rollShift = 6

type rollRec[K comparable, In any] struct {
	ts   int64
	key  K
	slot int32 // set while processing
	ok   bool  // added: the element gets a result
	v    In
}

// Init prepares the operator's state; it panics on a Range < 1 or a nil Store (planning bugs).
func (o *RollingOp[K, In, V]) Init() {
	if o.Range < 1 || o.Store == nil {
		panic(fmt.Sprintf("flow: RollingOp %q needs Range >= 1 and a Store", o.Name))
	}
	o.Ctl = NewCtl()
	o.tab = newKeyTable[K, struct{}]()
}

// Keys is the number of keys holding state in memory (with a spill store, the resident ones;
// ColdKeys counts the evicted ones' timers).
func (o *RollingOp[K, In, V]) Keys() int { return o.tab.len() }

// Pending is the number of elements waiting for the watermark.
func (o *RollingOp[K, In, V]) Pending() int {
	n := o.pending.Len() + len(o.near)
	for i := range o.stage {
		n += len(o.stage[i].recs)
	}
	return n
}

// Collect buffers the element until the watermark passes it, or routes it to Late when it is
// already behind the watermark.
func (o *RollingOp[K, In, V]) Collect(ts int64, r Keyed[K, In]) {
	if ts <= o.WM && o.WM != MinTime {
		o.late(ts, r)
		return
	}
	o.queue(ts, r.Key, r.Value)
}

// queue puts a pending element in its bucket, or in near if the watermark reached its bucket.
// The element is written in place, field by field: a record built on the stack and copied into
// the slice would be read back before its stores settled (a store-forwarding stall).
func (o *RollingOp[K, In, V]) queue(ts int64, k K, v In) {
	var dst *[]rollRec[K, In]
	if b := ts >> rollShift; b > o.WM>>rollShift || o.WM == MinTime {
		st := &o.stage[b&(rollStages-1)]
		if len(st.recs) > 0 && st.b != b {
			o.unstage(st)
		}
		st.b = b
		dst = &st.recs
	} else {
		dst = &o.near
	}
	*dst = append(*dst, rollRec[K, In]{})
	r := &(*dst)[len(*dst)-1]
	r.ts, r.key, r.v = ts, k, v
}

// rollStages is the number of staging areas in front of the pending queue. Elements arrive for
// a handful of buckets at once (as many as the disorder spans): each bucket's elements gather
// in the staging area of its number mod rollStages and enter the pending queue together, so that
// the queue looks a bucket up once per run of elements rather than once per element. Staging is
// invisible: the areas are emptied into the queue, in arrival order, whenever the queue is read.
const rollStages = 16

type rollStage[K comparable, In any] struct {
	b    int64
	recs []rollRec[K, In]
}

// unstage moves a staging area's elements into the pending queue.
func (o *RollingOp[K, In, V]) unstage(st *rollStage[K, In]) {
	o.pending.AddAll(st.b, st.recs)
	clear(st.recs)
	st.recs = st.recs[:0]
}

// unstageAll empties every staging area into the pending queue.
func (o *RollingOp[K, In, V]) unstageAll() {
	for i := range o.stage {
		if len(o.stage[i].recs) > 0 {
			o.unstage(&o.stage[i])
		}
	}
}

func (o *RollingOp[K, In, V]) late(ts int64, r Keyed[K, In]) {
	o.T.Counters.Late.Add(1)
	o.Late.Collect(ts, LateElement[K, In]{Key: r.Key, Value: r.Value, Timestamp: ts, Watermark: o.WM,
		Window: window.Window{Start: ts - o.Range + 1, End: ts + 1}, // the range (ts-Range, ts]
		Reason: fmt.Sprintf("too late: timestamp %d is not after the watermark %d, whose rolling results are out", ts, o.WM)})
}

// slotFor returns the key's slot, opening one (with its expiry timer) for a new key.
func (o *RollingOp[K, In, V]) slotFor(k K, h uint64, t int64) int32 {
	if s, ok := o.tab.find(h, k); ok {
		return s
	}
	s := o.open(k, h)
	o.arm(s, o.expiryTime(t))
	return s
}

// arm sets slot's expiry timer at t.
func (o *RollingOp[K, In, V]) arm(slot int32, t int64) {
	o.expiry.Add(t, slot)
	if o.spill != nil {
		o.spill.armAt(slot, t)
	}
}

func (o *RollingOp[K, In, V]) open(k K, h uint64) int32 {
	s := o.tab.add(h, k)
	o.Store.Open(s)
	return s
}

// resolveDist is the distance, in elements, between the stages of processSorted's pipeline.
const resolveDist = 8

// processSorted processes sorted elements in a software pipeline of five stages, each
// resolveDist elements ahead of the next: touch the key's bytes; hash the key and touch its
// index entry; read the entry and touch the key's table entry and its state in the store; touch
// the state's buffers; find (or open) the slot, and process the elements of a timestamp once the
// last of them has its slot. The cache misses of the elements in flight overlap instead of
// following one another, and each line has arrived when its stage reads it. Keys are opened in
// the order of the elements, as one element at a time would.
func (o *RollingOp[K, In, V]) processSorted(recs []rollRec[K, In]) {
	if o.spill != nil {
		o.resolveSpilled(recs)
		o.processResolved(recs)
		return
	}
	const d, mask = resolveDist, 8*resolveDist - 1
	var hs [8 * resolveDist]uint64
	var cand [8 * resolveDist]int32
	pf, _ := o.Store.(rollToucher)
	n, from := len(recs), 0
	for i := 0; i < n+4*d; i++ {
		if i < n {
			o.tab.touchKey(&recs[i].key)
		}
		if a := i - d; a >= 0 && a < n {
			hs[a&mask] = o.tab.hash(recs[a].key)
			o.tab.touchHome(hs[a&mask])
		}
		if b := i - 2*d; b >= 0 && b < n {
			s := o.tab.candidate(hs[b&mask])
			if cand[b&mask] = s; s >= 0 {
				o.tab.touchEnt(s)
				if pf != nil {
					pf.touchState(s)
				}
			}
		}
		if c := i - 3*d; c >= 0 && c < n && pf != nil {
			if s := cand[c&mask]; s >= 0 {
				pf.touchBuf(s)
			}
		}
		if e := i - 4*d; e >= 0 {
			recs[e].slot = o.slotFor(recs[e].key, hs[e&mask], recs[e].ts)
			if e+1 == n || recs[e+1].ts != recs[e].ts {
				o.process(recs[e].ts, recs[from:e+1])
				from = e + 1
			}
		}
	}
}

// processResolved processes elements whose slots are set, a timestamp at a time.
func (o *RollingOp[K, In, V]) processResolved(recs []rollRec[K, In]) {
	for i := 0; i < len(recs); {
		j := i + 1
		for j < len(recs) && recs[j].ts == recs[i].ts {
			j++
		}
		o.process(recs[i].ts, recs[i:j])
		i = j
	}
}

// Watermark processes the elements it passes in timestamp order, drops expired keys, and
// forwards it. The elements it passes are gathered, sorted, into one batch, processed in a
// pipeline that resolves keys ahead of use (processSorted).
func (o *RollingOp[K, In, V]) Watermark(wm int64) {
	if !o.Advance(wm) {
		return
	}
	o.unstageAll()
	batch := o.takeNear(o.batch[:0], wm)
	batch = o.takeDue(batch, wm)
	o.processSorted(batch)
	clear(batch)
	o.batch = batch[:0]
	for o.expiry.Len() > 0 && o.expiry.Next() <= wm {
		t, slots := o.expiry.Pop()
		o.expireAll(slots, t, wm)
		o.expiry.Recycle(slots)
	}
	if o.spill != nil {
		o.spillWatermark(wm)
	}
	o.Out.Watermark(wm)
	o.Late.Watermark(wm)
}

// takeNear appends the elements of near that wm passes to dst, in timestamp order; the others
// stay. They all come before any pending bucket: near holds a bucket the watermark reached
// earlier.
func (o *RollingOp[K, In, V]) takeNear(dst []rollRec[K, In], wm int64) []rollRec[K, In] {
	if len(o.near) == 0 {
		return dst
	}
	from := len(dst)
	dst = sortBucket(dst, o.near)
	clear(o.near)
	o.near = o.near[:0]
	return o.keepNear(dst, from, wm)
}

// takeDue appends the elements of the pending buckets that wm passes to dst, sorted. The
// bucket holding wm is sorted too: its elements up to wm join dst, the others go to near.
func (o *RollingOp[K, In, V]) takeDue(dst []rollRec[K, In], wm int64) []rollRec[K, In] {
	last := wm >> rollShift // the bucket holding wm
	for o.pending.Len() > 0 && o.pending.Next() <= last {
		b, recs := o.pending.Pop()
		from := len(dst)
		dst = sortBucket(dst, recs)
		o.pending.Recycle(recs)
		if b == last && wm != MaxTime { // partly due
			return o.keepNear(dst, from, wm)
		}
	}
	return dst
}

// keepNear moves the elements after wm of dst[from:], which is sorted, to near, in order.
func (o *RollingOp[K, In, V]) keepNear(dst []rollRec[K, In], from int, wm int64) []rollRec[K, In] {
	i := from
	for i < len(dst) && dst[i].ts <= wm {
		i++
	}
	o.near = append(o.near, dst[i:]...)
	clear(dst[i:])
	return dst[:i]
}

// sortBucket appends the elements of one pending bucket to dst sorted by timestamp, stably
// (elements with equal timestamps stay in arrival order, as in near): a counting sort on the
// timestamp's offset in the bucket.
func sortBucket[K comparable, In any](dst, recs []rollRec[K, In]) []rollRec[K, In] {
	const mask = 1<<rollShift - 1
	var at [1 << rollShift]int32
	for i := range recs {
		at[recs[i].ts&mask]++
	}
	n := int32(0)
	for i, c := range at {
		at[i] = n
		n += c
	}
	from := len(dst)
	dst = slices.Grow(dst, len(recs))[:from+len(recs)]
	out := dst[from:]
	for i := range recs {
		j := &at[recs[i].ts&mask]
		out[*j] = recs[i]
		*j++
	}
	return dst
}

// process handles the elements with timestamp t, of any keys: first every element joins its
// key's range, then each gets its result, so that peers see each other. Buckets are processed in
// order and sorted, so every key sees its elements in timestamp order. processSorted has set the
// elements' slots.
func (o *RollingOp[K, In, V]) process(t int64, recs []rollRec[K, In]) {
	cutoff := t - o.Range
	if cutoff > t {
		cutoff = MinTime // t-Range overflowed
	}
	for i := range recs {
		r := &recs[i]
		r.ok = o.add(t, cutoff, r)
	}
	for i := range recs {
		if r := &recs[i]; r.ok {
			o.Out.Collect(t, Rolled[K, In, V]{Key: r.key, Element: r.v, Value: o.Store.Result(r.slot), Timestamp: t})
		}
	}
}

// add evicts what falls out of the range at t and adds the element; a panic in user code (the
// aggregate's field function) sends the element to the dead-letter route instead.
func (o *RollingOp[K, In, V]) add(t, cutoff int64, r *rollRec[K, In]) (ok bool) {
	defer func() {
		if e := recover(); e != nil {
			o.T.Recovered(o.Name, e, t, r.v)
			ok = false
		}
	}()
	o.Store.Evict(r.slot, cutoff)
	o.Store.Add(r.slot, t, r.v)
	return true
}

// expiryTime is a watermark from which a key whose newest element is at newest has a useless
// state: any later element is past newest+Range-1 and evicts everything. It is that instant
// rounded up to a multiple of expiryGrain, so that the expiry timers of many keys share a time
// and a bucket of the timer queue (a key is dropped at most 1/64 of the range later; results do
// not change, as an element evicts what is out of its range first).
func (o *RollingOp[K, In, V]) expiryTime(newest int64) int64 {
	g := expiryGrain(o.Range)
	e := newest + o.Range - 1
	if e < newest || e > MaxTime-g {
		return MaxTime
	}
	return (e + g - 1) &^ (g - 1)
}

// expiryGrain is the largest power of two not above range/64 (at least 1).
func expiryGrain(rng int64) int64 {
	g := int64(1)
	for g*2 <= rng/64 {
		g *= 2
	}
	return g
}

// expireAll runs the expiry timers of slots, set at t, in a pipeline of three stages
// resolveDist slots apart (as processSorted): touch the slot's state; touch its buffer, whose
// newest element expire reads; expire.
func (o *RollingOp[K, In, V]) expireAll(slots []int32, t, wm int64) {
	pf, _ := o.Store.(rollToucher)
	if pf == nil || o.spill != nil {
		for _, s := range slots {
			if o.spill == nil || o.spill.armed(s, t) {
				o.expire(s, wm)
			}
		}
		return
	}
	pipeline3(slots, resolveDist, pf.touchState, pf.touchBuf, func(s int32) { o.expire(s, wm) })
}

// expire releases the slot if the watermark is a range past its newest element, and otherwise
// re-arms its timer at that element's expiry.
func (o *RollingOp[K, In, V]) expire(slot int32, wm int64) {
	if n := o.Store.Newest(slot); n != MinTime {
		if e := o.expiryTime(n); e > wm {
			o.arm(slot, e)
			return
		}
	}
	if o.spill != nil {
		o.forget(slot)
	}
	o.Store.Reset(slot)
	o.tab.remove(slot)
}

// ProcTime forwards: rolling aggregates run on event time only.
func (o *RollingOp[K, In, V]) ProcTime(now int64) {
	o.Out.ProcTime(now)
	o.Late.ProcTime(now)
}

// Idle forwards the status.
func (o *RollingOp[K, In, V]) Idle(idle bool) {
	if o.SetIdle(idle) {
		o.Out.Idle(idle)
		o.Late.Idle(idle)
	}
}

// Finish forwards end of input once. Elements still pending were never passed by a watermark:
// a bounded input ends with the final watermark, which processes them all first.
func (o *RollingOp[K, In, V]) Finish() {
	if o.MarkFinished() {
		o.Out.Finish()
		o.Late.Finish()
	}
}

// rollRing is a FIFO/deque of timestamped values with a power-of-two capacity that grows by
// doubling and is kept when emptied, so a steady-state key allocates nothing. Its header is 24
// bytes (a pointer to the buffer and its capacity's log, not a slice), with a spare int32 for
// the store: a sum's state is then 32 bytes, two to a cache line, none across two lines.
type rollRing[E any] struct {
	p    *rollEntry[E] // the buffer of 1<<lg entries; nil before the first push
	head int32
	n    int32
	aux  int32 // the store's (sumState: evictions since the sum was recomputed)
	lg   uint8
}

type rollEntry[E any] struct {
	ts int64
	v  E
}

// capacity is the buffer's length.
func (r *rollRing[E]) capacity() int32 {
	if r.p == nil {
		return 0
	}
	return 1 << r.lg
}

// slot returns the buffer's entry i (0 <= i < capacity).
func (r *rollRing[E]) slot(i int32) *rollEntry[E] {
	return (*rollEntry[E])(unsafe.Add(unsafe.Pointer(r.p), uintptr(i)*unsafe.Sizeof(*r.p)))
}

// wrap maps a position past head onto the buffer.
func (r *rollRing[E]) wrap(i int32) int32 { return i & (1<<r.lg - 1) }

func (r *rollRing[E]) push(ts int64, v E) {
	if r.n == r.capacity() {
		r.grow()
	}
	*r.slot(r.wrap(r.head + r.n)) = rollEntry[E]{ts, v}
	r.n++
}

func (r *rollRing[E]) grow() {
	lg := uint8(2) // 4 entries
	if r.p != nil {
		lg = r.lg + 1
	}
	nb := make([]rollEntry[E], 1<<lg)
	for i := range r.n {
		nb[i] = *r.slot(r.wrap(r.head + i))
	}
	r.p, r.lg, r.head = &nb[0], lg, 0
}

func (r *rollRing[E]) front() *rollEntry[E] { return r.slot(r.head) }

func (r *rollRing[E]) back() *rollEntry[E] { return r.slot(r.wrap(r.head + r.n - 1)) }

func (r *rollRing[E]) at(i int32) *rollEntry[E] { return r.slot(r.wrap(r.head + i)) }

func (r *rollRing[E]) popFront() E {
	e := r.slot(r.head)
	v := e.v
	*e = rollEntry[E]{}
	r.head = r.wrap(r.head + 1)
	r.n--
	return v
}

func (r *rollRing[E]) popBack() {
	r.n--
	*r.slot(r.wrap(r.head + r.n)) = rollEntry[E]{}
}

// newest is the timestamp of the last element, or MinTime when empty.
func (r *rollRing[E]) newest() int64 {
	if r.n == 0 {
		return MinTime
	}
	return r.back().ts
}

func (r *rollRing[E]) reset() {
	if r.p != nil {
		clear(unsafe.Slice(r.p, r.capacity()))
	}
	r.head, r.n, r.aux = 0, 0, 0
}

// isFloat reports whether N is a floating-point type, whose running sums drift.
func isFloat[N agg.Number]() bool {
	h := 0.5
	return N(h) != 0
}

// rollSlots is the typed array of per-key states behind each store.
type rollSlots[S any] []S

func (s *rollSlots[S]) open(slot int32) {
	if int(slot) >= len(*s) {
		*s = append(*s, make([]S, int(slot)+1-len(*s))...)
	}
}

// sumState keeps the values in range and their running sum. Floating-point sums are recomputed
// from the values once as many have been evicted as are held (amortised O(1)), so the rounding
// errors of add-then-subtract cannot accumulate without bound; an empty range sums to exactly 0.
type sumState[N agg.Number] struct {
	r   rollRing[N] // r.aux counts the evictions since the sum was last recomputed (floats)
	sum N
}

func (s *sumState[N]) add(ts int64, x N) {
	s.r.push(ts, x)
	s.sum += x
}

func (s *sumState[N]) evict(cutoff int64, float bool) {
	for s.r.n > 0 && s.r.front().ts <= cutoff {
		s.sum -= s.r.popFront()
		s.r.aux++
	}
	switch {
	case s.r.n == 0:
		s.sum, s.r.aux = 0, 0
	case float && s.r.aux > s.r.n+16:
		var sum N
		for i := range s.r.n {
			sum += s.r.at(i).v
		}
		s.sum, s.r.aux = sum, 0
	}
}

func (s *sumState[N]) reset() {
	s.r.reset()
	s.sum = 0
}

// rollToucher is implemented by stores that can fetch the state of a slot ahead of use (see
// RollingOp.processSorted): touchState prefetches the slot's entry in the store's array, touchBuf
// (once it has arrived) the front of its buffer (where Evict reads) and the entry after its back
// (where Add writes).
type rollToucher interface {
	touchState(slot int32)
	touchBuf(slot int32)
}

func touchRing[E any](r *rollRing[E]) {
	if r.n == 0 {
		return
	}
	prefetch(uintptr(unsafe.Pointer(r.front())))
	if r.n < r.capacity() {
		prefetch(uintptr(unsafe.Pointer(r.slot(r.wrap(r.head + r.n)))))
	}
}

type sumStore[In any, N agg.Number] struct {
	f     func(In) N
	float bool
	s     rollSlots[sumState[N]]
}

// RollingSum returns a store factory for the sum of f(element) over the range.
func RollingSum[In any, N agg.Number](f func(In) N) func() RollingStore[In, N] {
	float := isFloat[N]()
	return func() RollingStore[In, N] { return &sumStore[In, N]{f: f, float: float} }
}

func (s *sumStore[In, N]) Open(slot int32)                { s.s.open(slot) }
func (s *sumStore[In, N]) Add(slot int32, ts int64, v In) { s.s[slot].add(ts, s.f(v)) }
func (s *sumStore[In, N]) Evict(slot int32, cutoff int64) { s.s[slot].evict(cutoff, s.float) }
func (s *sumStore[In, N]) Result(slot int32) N            { return s.s[slot].sum }
func (s *sumStore[In, N]) Newest(slot int32) int64        { return s.s[slot].r.newest() }
func (s *sumStore[In, N]) Reset(slot int32)               { s.s[slot].reset() }
func (s *sumStore[In, N]) touchState(slot int32) {
	prefetchRange(unsafe.Pointer(&s.s[slot]), unsafe.Sizeof(s.s[slot]))
}
func (s *sumStore[In, N]) touchBuf(slot int32) { touchRing(&s.s[slot].r) }

type countStore[In any] struct{ s rollSlots[rollRing[struct{}]] }

// RollingCount returns a store factory for the number of elements in the range.
func RollingCount[In any]() func() RollingStore[In, int64] {
	return func() RollingStore[In, int64] { return &countStore[In]{} }
}

func (s *countStore[In]) Open(slot int32)                { s.s.open(slot) }
func (s *countStore[In]) Add(slot int32, ts int64, _ In) { s.s[slot].push(ts, struct{}{}) }
func (s *countStore[In]) Evict(slot int32, cutoff int64) {
	r := &s.s[slot]
	for r.n > 0 && r.front().ts <= cutoff {
		r.popFront()
	}
}
func (s *countStore[In]) Result(slot int32) int64 { return int64(s.s[slot].n) }
func (s *countStore[In]) Newest(slot int32) int64 { return s.s[slot].newest() }
func (s *countStore[In]) Reset(slot int32)        { s.s[slot].reset() }
func (s *countStore[In]) touchState(slot int32) {
	prefetchRange(unsafe.Pointer(&s.s[slot]), unsafe.Sizeof(s.s[slot]))
}
func (s *countStore[In]) touchBuf(slot int32) { touchRing(&s.s[slot]) }

type avgStore[In any] struct {
	f func(In) float64
	s rollSlots[sumState[float64]]
}

// RollingAvg returns a store factory for the average of f(element) over the range, as float64.
func RollingAvg[In any, N agg.Number](f func(In) N) func() RollingStore[In, float64] {
	g := func(v In) float64 { return float64(f(v)) }
	return func() RollingStore[In, float64] { return &avgStore[In]{f: g} }
}

func (s *avgStore[In]) Open(slot int32)                { s.s.open(slot) }
func (s *avgStore[In]) Add(slot int32, ts int64, v In) { s.s[slot].add(ts, s.f(v)) }
func (s *avgStore[In]) Evict(slot int32, cutoff int64) { s.s[slot].evict(cutoff, true) }
func (s *avgStore[In]) Result(slot int32) float64 {
	st := &s.s[slot]
	return st.sum / float64(st.r.n)
}
func (s *avgStore[In]) Newest(slot int32) int64 { return s.s[slot].r.newest() }
func (s *avgStore[In]) Reset(slot int32)        { s.s[slot].reset() }
func (s *avgStore[In]) touchState(slot int32) {
	prefetchRange(unsafe.Pointer(&s.s[slot]), unsafe.Sizeof(s.s[slot]))
}
func (s *avgStore[In]) touchBuf(slot int32) { touchRing(&s.s[slot].r) }

// extremeStore keeps a monotonic deque per key: the values that may still become the extreme
// once older ones leave the range, so its front is the minimum (maximum) and each value is
// pushed and popped once. Its back is always the newest element.
type extremeStore[In any, N agg.Number] struct {
	f   func(In) N
	max bool
	s   rollSlots[rollRing[N]]
}

// RollingMin returns a store factory for the minimum of f(element) over the range.
func RollingMin[In any, N agg.Number](f func(In) N) func() RollingStore[In, N] {
	return func() RollingStore[In, N] { return &extremeStore[In, N]{f: f} }
}

// RollingMax returns a store factory for the maximum of f(element) over the range.
func RollingMax[In any, N agg.Number](f func(In) N) func() RollingStore[In, N] {
	return func() RollingStore[In, N] { return &extremeStore[In, N]{f: f, max: true} }
}

func (s *extremeStore[In, N]) Open(slot int32) { s.s.open(slot) }
func (s *extremeStore[In, N]) Add(slot int32, ts int64, v In) {
	x := s.f(v)
	d := &s.s[slot]
	for d.n > 0 {
		b := d.back().v
		if (s.max && b > x) || (!s.max && b < x) {
			break
		}
		d.popBack() // never the extreme again: x is newer and at least as extreme
	}
	d.push(ts, x)
}
func (s *extremeStore[In, N]) Evict(slot int32, cutoff int64) {
	d := &s.s[slot]
	for d.n > 0 && d.front().ts <= cutoff {
		d.popFront()
	}
}
func (s *extremeStore[In, N]) Result(slot int32) N     { return s.s[slot].front().v }
func (s *extremeStore[In, N]) Newest(slot int32) int64 { return s.s[slot].newest() }
func (s *extremeStore[In, N]) Reset(slot int32)        { s.s[slot].reset() }
func (s *extremeStore[In, N]) touchState(slot int32) {
	prefetchRange(unsafe.Pointer(&s.s[slot]), unsafe.Sizeof(s.s[slot]))
}
func (s *extremeStore[In, N]) touchBuf(slot int32) { touchRing(&s.s[slot]) }

// distinctState keeps the values in range and how many times each occurs.
type distinctState[D comparable] struct {
	r      rollRing[D]
	counts map[D]int32
}

type distinctStore[In any, D comparable] struct {
	f     func(In) D
	codec Codec[D]
	s     rollSlots[distinctState[D]]
}

// RollingDistinctCount returns a store factory for the number of distinct f(element) in the
// range. The codec encodes the values in checkpoints; it may be nil when none are taken.
func RollingDistinctCount[In any, D comparable](f func(In) D, c Codec[D]) func() RollingStore[In, int64] {
	return func() RollingStore[In, int64] { return &distinctStore[In, D]{f: f, codec: c} }
}

func (s *distinctStore[In, D]) Open(slot int32) {
	s.s.open(slot)
	if st := &s.s[slot]; st.counts == nil {
		st.counts = make(map[D]int32)
	}
}
func (s *distinctStore[In, D]) Add(slot int32, ts int64, v In) {
	x := s.f(v)
	st := &s.s[slot]
	st.r.push(ts, x)
	st.counts[x]++
}
func (s *distinctStore[In, D]) Evict(slot int32, cutoff int64) {
	st := &s.s[slot]
	for st.r.n > 0 && st.r.front().ts <= cutoff {
		x := st.r.popFront()
		if c := st.counts[x] - 1; c > 0 {
			st.counts[x] = c
		} else {
			delete(st.counts, x)
		}
	}
}
func (s *distinctStore[In, D]) Result(slot int32) int64 { return int64(len(s.s[slot].counts)) }
func (s *distinctStore[In, D]) Newest(slot int32) int64 { return s.s[slot].r.newest() }
func (s *distinctStore[In, D]) Reset(slot int32) {
	st := &s.s[slot]
	st.r.reset()
	clear(st.counts)
}

// StateUID is the operator's UID.
func (o *RollingOp[K, In, V]) StateUID() string { return o.State.UID }

// Snapshot record kinds.
const (
	rollKeyState byte = iota // a key's state in the store
	rollPending              // an element waiting for the watermark
)

// SnapshotState writes one record per key (its state in the store) and one per pending element.
// Expiry timers are not written: they follow from the states and are rebuilt on restore.
func (o *RollingOp[K, In, V]) SnapshotState(w *StateWriter) error {
	if o.State.Err != nil {
		return o.State.Err
	}
	var rec []byte
	o.tab.each(func(slot int32) {
		k := o.tab.at(slot).key
		rec = o.State.Key.Append(append(rec[:0], rollKeyState), k)
		rec = o.Store.AppendState(rec, slot)
		w.Put(KeyGroup(o.State.Hash(k), DefaultMaxParallelism), rec)
	})
	each := func(_ int64, r rollRec[K, In]) {
		rec = o.State.Key.Append(append(rec[:0], rollPending), r.key)
		rec = binary.AppendVarint(rec, r.ts)
		rec = o.State.Value.Append(rec, r.v)
		w.Put(KeyGroup(o.State.Hash(r.key), DefaultMaxParallelism), rec)
	}
	o.unstageAll()
	o.pending.Each(each)
	for _, r := range o.near {
		each(r.ts, r)
	}
	return nil
}

// RestoreState rebuilds the states and pending elements of the keys this subtask owns. With a
// spill store, keys beyond the budget are evicted at once.
func (o *RollingOp[K, In, V]) RestoreState(r *StateReader) error {
	if o.State.Err != nil && len(r.parts) > 0 {
		return o.State.Err
	}
	if err := o.restoreRecords(r); err != nil {
		return err
	}
	if o.spill != nil {
		return o.spill.MaybeEvict(o)
	}
	return nil
}

func (o *RollingOp[K, In, V]) restoreRecords(r *StateReader) error {
	return r.Each(func(_ int, rec []byte) error {
		if len(rec) == 0 {
			return fmt.Errorf("%w: empty rolling record", ErrCorruptState)
		}
		kind := rec[0]
		k, n, err := o.State.Key.Decode(rec[1:])
		if err != nil {
			return fmt.Errorf("%w: rolling key: %v", ErrCorruptState, err)
		}
		rest := rec[1+n:]
		switch kind {
		case rollKeyState:
			h := o.tab.hash(k)
			if _, dup := o.tab.find(h, k); dup {
				return fmt.Errorf("%w: two rolling states for one key", ErrCorruptState)
			}
			slot := o.open(k, h)
			if _, err := o.Store.DecodeState(slot, rest); err != nil {
				return fmt.Errorf("%w: rolling state: %v", ErrCorruptState, err)
			}
			o.arm(slot, o.expiryTime(o.Store.Newest(slot)))
			if o.spill != nil {
				o.spill.Added(slot, true) // it shadows a stored copy (invariant 3)
			}
		case rollPending:
			d := decoder{b: rest}
			ts := d.varint()
			if d.err != nil {
				return fmt.Errorf("%w: pending element: %v", ErrCorruptState, d.err)
			}
			v, _, err := o.State.Value.Decode(d.b)
			if err != nil {
				return fmt.Errorf("%w: pending element: %v", ErrCorruptState, err)
			}
			o.queue(ts, k, v)
		default:
			return fmt.Errorf("%w: rolling record kind %d", ErrCorruptState, kind)
		}
		return nil
	})
}

// appendNum encodes a number: floats by their bits, integers as varints (a uint64 round-trips
// through int64 bit for bit).
func appendNum[N agg.Number](dst []byte, x N, float bool) []byte {
	if float {
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(float64(x)))
	}
	return binary.AppendVarint(dst, int64(x))
}

func (d *decoder) num64(float bool) (i int64, f float64) {
	if !float {
		return d.varint(), 0
	}
	if d.err != nil || len(d.b) < 8 {
		if d.err == nil {
			d.err = fmt.Errorf("truncated record")
		}
		return 0, 0
	}
	f = math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return 0, f
}

func decodeNum[N agg.Number](d *decoder, float bool) N {
	i, f := d.num64(float)
	if float {
		return N(f)
	}
	return N(i)
}

// appendRing encodes a ring's entries, each value with enc.
func appendRing[E any](dst []byte, r *rollRing[E], enc func([]byte, E) []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(r.n))
	for i := range r.n {
		e := r.at(i)
		dst = binary.AppendVarint(dst, e.ts)
		dst = enc(dst, e.v)
	}
	return dst
}

// decodeRing appends the entries encoded by appendRing to r, each value read by dec.
func decodeRing[E any](d *decoder, r *rollRing[E], dec func(*decoder) E) {
	n := d.uvarint()
	for i := uint64(0); i < n && d.err == nil; i++ {
		ts := d.varint()
		v := dec(d)
		if d.err == nil {
			r.push(ts, v)
		}
	}
}

func (s *sumStore[In, N]) AppendState(dst []byte, slot int32) []byte {
	st := &s.s[slot]
	dst = appendRing(dst, &st.r, func(b []byte, x N) []byte { return appendNum(b, x, s.float) })
	dst = appendNum(dst, st.sum, s.float)
	return binary.AppendUvarint(dst, uint64(st.r.aux))
}

func (s *sumStore[In, N]) DecodeState(slot int32, src []byte) (int, error) {
	st, d := &s.s[slot], decoder{b: src}
	decodeRing(&d, &st.r, func(d *decoder) N { return decodeNum[N](d, s.float) })
	st.sum = decodeNum[N](&d, s.float)
	st.r.aux = int32(d.uvarint())
	return len(src) - len(d.b), d.err
}

func (s *countStore[In]) AppendState(dst []byte, slot int32) []byte {
	return appendRing(dst, &s.s[slot], func(b []byte, _ struct{}) []byte { return b })
}

func (s *countStore[In]) DecodeState(slot int32, src []byte) (int, error) {
	d := decoder{b: src}
	decodeRing(&d, &s.s[slot], func(*decoder) struct{} { return struct{}{} })
	return len(src) - len(d.b), d.err
}

func (s *avgStore[In]) AppendState(dst []byte, slot int32) []byte {
	st := &s.s[slot]
	dst = appendRing(dst, &st.r, func(b []byte, x float64) []byte { return appendNum(b, x, true) })
	dst = appendNum(dst, st.sum, true)
	return binary.AppendUvarint(dst, uint64(st.r.aux))
}

func (s *avgStore[In]) DecodeState(slot int32, src []byte) (int, error) {
	st, d := &s.s[slot], decoder{b: src}
	decodeRing(&d, &st.r, func(d *decoder) float64 { return decodeNum[float64](d, true) })
	st.sum = decodeNum[float64](&d, true)
	st.r.aux = int32(d.uvarint())
	return len(src) - len(d.b), d.err
}

func (s *extremeStore[In, N]) AppendState(dst []byte, slot int32) []byte {
	float := isFloat[N]()
	return appendRing(dst, &s.s[slot], func(b []byte, x N) []byte { return appendNum(b, x, float) })
}

func (s *extremeStore[In, N]) DecodeState(slot int32, src []byte) (int, error) {
	float, d := isFloat[N](), decoder{b: src}
	decodeRing(&d, &s.s[slot], func(d *decoder) N { return decodeNum[N](d, float) })
	return len(src) - len(d.b), d.err
}

func (s *distinctStore[In, D]) AppendState(dst []byte, slot int32) []byte {
	return appendRing(dst, &s.s[slot].r, s.codec.Append)
}

func (s *distinctStore[In, D]) DecodeState(slot int32, src []byte) (int, error) {
	st, d := &s.s[slot], decoder{b: src}
	decodeRing(&d, &st.r, func(d *decoder) D {
		if d.err != nil {
			var z D
			return z
		}
		v, n, err := s.codec.Decode(d.b)
		if err != nil {
			d.err = err
			return v
		}
		d.skip(n)
		return v
	})
	for i := range st.r.n {
		st.counts[st.r.at(i).v]++
	}
	return len(src) - len(d.b), d.err
}
