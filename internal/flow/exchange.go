package flow

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/watermark"
)

type msgKind uint8

const (
	msgData msgKind = iota
	msgWatermark
	msgIdle
	msgActive
	msgEnd
	msgBarrier // wm holds the checkpoint id
)

// Rec is a record in a batch: its event timestamp and value.
type Rec[E any] struct {
	TS int64
	V  E
}

// BatchCollector is implemented by operators that take a whole batch of records in one call
// (SliceWindowOp: it overlaps the cache misses of a batch's keys). An exchange receiver whose
// outlet implements it hands over each received batch at once; the operator must process the
// records exactly as Collect would, in order.
type BatchCollector[E any] interface {
	CollectBatch(recs []Rec[E])
}

type msg[E any] struct {
	kind msgKind
	from int32
	wm   int64
	recs []Rec[E]
}

// Exchange moves records of type E from S sender subtasks to R receiver subtasks over bounded
// channels, in batches. Control events (watermarks, idleness, end of input) travel in-band, so a
// receiver sees a sender's records before that sender's later watermark. Each receiver combines
// its senders' watermarks by minimum. A full channel blocks the sender (backpressure); the
// blocked time is counted. Batch buffers return to a free list, so steady state allocates nothing.
type Exchange[T, E any] struct {
	// Route maps a record to its element and receiver index. Required.
	Route   func(v T) (E, int)
	Name    string
	senders int
	batch   int
	chans   []chan msg[E]
	free    chan []Rec[E]
	abort   <-chan struct{}
	blocked atomic.Int64
}

// ExchangeSpec sizes an exchange.
type ExchangeSpec struct {
	Senders   int
	Receivers int
	// BatchSize is the number of records per batch.
	BatchSize int
	// Depth is the number of batches a receiver's channel holds.
	Depth int
	// Abort is closed when the pipeline fails; blocked senders and receivers give up.
	Abort <-chan struct{}
	// Direct delivers records by direct calls in the sender's goroutine, for the deterministic
	// single-goroutine test driver.
	Direct bool
}

// Exchanger is an exchange as the runtime drives it.
type Exchanger interface {
	// Writer returns sender i's outlet (Outlet[T] as any).
	Writer(i int, t *Task) any
	// Run runs receiver j until every sender has finished (channel exchanges).
	Run(ctx context.Context, j int, t *Task, out any) error
	// Attach connects receiver j's chain (direct exchanges).
	Attach(j int, t *Task, out any)
	// BlockedNanos is the time senders spent blocked on full channels.
	BlockedNanos() int64
}

// NewExchange creates an exchange: channels between goroutines, or direct calls when spec.Direct.
func NewExchange[T, E any](name string, route func(T) (E, int), spec ExchangeSpec) Exchanger {
	if spec.Direct {
		return newDirect(name, route, spec)
	}
	x := &Exchange[T, E]{Route: route, Name: name, senders: spec.Senders, batch: spec.BatchSize, abort: spec.Abort,
		chans: make([]chan msg[E], spec.Receivers),
		free:  make(chan []Rec[E], spec.Receivers*(spec.Depth+2)+spec.Senders*spec.Receivers)}
	for i := range x.chans {
		x.chans[i] = make(chan msg[E], spec.Depth)
	}
	return x
}

// Attach is not used by channel exchanges: their receivers run in their own goroutines.
func (x *Exchange[T, E]) Attach(int, *Task, any) {
	panic("flow: Attach on a channel exchange; use Run")
}

// BlockedNanos is the total time senders were blocked by full channels.
func (x *Exchange[T, E]) BlockedNanos() int64 { return x.blocked.Load() }

// Writer returns sender i's outlet, registered with the task for flushing.
func (x *Exchange[T, E]) Writer(i int, t *Task) any {
	w := &xWriter[T, E]{Ctl: NewCtl(), x: x, t: t, from: int32(i), bufs: make([][]Rec[E], len(x.chans))}
	t.AddFlusher(w.flush)
	t.AddBarrierWriter(w.barrier)
	return Outlet[T](w)
}

type xWriter[T, E any] struct {
	Ctl
	x    *Exchange[T, E]
	t    *Task
	from int32
	bufs [][]Rec[E]
}

func (w *xWriter[T, E]) Collect(ts int64, v T) {
	e, p, ok := w.route(ts, v)
	if !ok {
		return
	}
	b := w.bufs[p]
	if b == nil {
		b = w.getBuf()
	}
	b = append(b, Rec[E]{TS: ts, V: e})
	if len(b) >= w.x.batch {
		w.send(p, msg[E]{kind: msgData, from: w.from, recs: b})
		b = nil
	}
	w.bufs[p] = b
}

// route calls the user key function under a panic guard.
func (w *xWriter[T, E]) route(ts int64, v T) (e E, p int, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			w.t.Recovered(w.x.Name, r, ts, v)
		}
	}()
	e, p = w.x.Route(v)
	return e, p, true
}

func (w *xWriter[T, E]) getBuf() []Rec[E] {
	select {
	case b := <-w.x.free:
		return b[:0]
	default:
		return make([]Rec[E], 0, w.x.batch)
	}
}

func (w *xWriter[T, E]) send(p int, m msg[E]) {
	ch := w.x.chans[p]
	select {
	case ch <- m:
		return
	default:
	}
	start := time.Now()
	select {
	case ch <- m:
	case <-w.x.abort:
		panic(abort{context.Canceled})
	}
	d := int64(time.Since(start))
	w.x.blocked.Add(d)
	w.t.Counters.BlockedNanos.Add(d)
}

func (w *xWriter[T, E]) flush() {
	for p, b := range w.bufs {
		if len(b) > 0 {
			w.send(p, msg[E]{kind: msgData, from: w.from, recs: b})
			w.bufs[p] = nil
		}
	}
}

func (w *xWriter[T, E]) broadcast(m msg[E]) {
	w.flush()
	for p := range w.x.chans {
		w.send(p, m)
	}
}

func (w *xWriter[T, E]) Watermark(wm int64) {
	if w.Advance(wm) {
		w.broadcast(msg[E]{kind: msgWatermark, from: w.from, wm: wm})
	}
}

func (w *xWriter[T, E]) Idle(idle bool) {
	if w.SetIdle(idle) {
		k := msgActive
		if idle {
			k = msgIdle
		}
		w.broadcast(msg[E]{kind: k, from: w.from})
	}
}

func (w *xWriter[T, E]) ProcTime(int64) {}

// barrier forwards checkpoint barrier id to every receiver, after the records before it.
func (w *xWriter[T, E]) barrier(id int64) {
	w.broadcast(msg[E]{kind: msgBarrier, from: w.from, wm: id})
}

func (w *xWriter[T, E]) Finish() {
	if w.MarkFinished() {
		w.broadcast(msg[E]{kind: msgEnd, from: w.from})
	}
}

// Run is receiver j's loop: it delivers records and the combined watermark to out (an Outlet[E])
// and fires processing-time timers, until every sender has finished.
func (x *Exchange[T, E]) Run(ctx context.Context, j int, t *Task, outAny any) error {
	out := outAny.(Outlet[E])
	return RunGuarded(func() { x.receive(j, t, out) })
}

// receiver is one receiving subtask's state: the watermark combiner, the end-of-input count, and
// the checkpoint alignment: records from senders whose barrier has arrived are held back until
// every active sender's barrier has, then the task checkpoints and the held records flow on.
type receiver[T, E any] struct {
	x      *Exchange[T, E]
	t      *Task
	out    Outlet[E]
	batch  BatchCollector[E] // out, when it takes batches
	comb   *watermark.Combiner
	ended  []bool
	nEnded int
	idle   bool

	aligning int64 // the checkpoint id being aligned, 0 when none
	arrived  []bool
	nArrived int
	held     []msg[E]
}

func (x *Exchange[T, E]) receive(j int, t *Task, out Outlet[E]) {
	r := &receiver[T, E]{x: x, t: t, out: out, comb: watermark.NewCombiner(x.senders),
		ended: make([]bool, x.senders), arrived: make([]bool, x.senders)}
	r.batch, _ = out.(BatchCollector[E])
	in := x.chans[j]
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	armed := int64(MaxTime)
	for r.nEnded < x.senders {
		if d := t.ProcDeadline(); d != armed {
			armed = d
			if d != MaxTime {
				timer.Reset(time.Duration(max(d-t.Clock.Now(), 0)) * time.Millisecond)
			}
		}
		var tc <-chan time.Time
		if armed != MaxTime {
			tc = timer.C
		}
		select {
		case m := <-in:
			r.handle(m)
		case <-tc:
			armed = MaxTime
			now := t.Clock.Now()
			if t.ProcDeadline() <= now {
				t.TakeProcDeadline()
				out.ProcTime(now)
			}
		case id := <-t.Completed:
			t.NotifyComplete(id)
		case <-x.abort:
			panic(abort{context.Canceled})
		}
		t.Flush()
	}
	out.Finish()
	t.Flush()
}

func (r *receiver[T, E]) handle(m msg[E]) {
	from := int(m.from)
	if r.aligning != 0 && r.arrived[from] {
		r.held = append(r.held, m)
		return
	}
	switch m.kind {
	case msgData:
		if r.batch != nil {
			r.batch.CollectBatch(m.recs)
		} else {
			for i := range m.recs {
				r.out.Collect(m.recs[i].TS, m.recs[i].V)
			}
		}
		clear(m.recs)
		select {
		case r.x.free <- m.recs[:0]:
		default:
		}
	case msgWatermark:
		if r.comb.Update(from, m.wm) {
			r.out.Watermark(r.comb.Current())
		}
	case msgIdle, msgActive, msgEnd:
		if m.kind == msgEnd {
			r.ended[from] = true
			r.nEnded++
		}
		if r.comb.SetIdle(from, m.kind != msgActive) {
			r.out.Watermark(r.comb.Current())
		}
		if all := r.comb.AllIdle(); all != r.idle && r.nEnded < r.x.senders {
			r.idle = all
			r.out.Idle(all)
		}
		if m.kind == msgEnd && r.aligning != 0 {
			r.maybeAligned()
		}
	case msgBarrier:
		if r.aligning == 0 {
			r.aligning = m.wm
		}
		if m.wm != r.aligning {
			// A barrier of a later checkpoint while aligning: hold it; the runtime never
			// overlaps checkpoints, so this only happens after an aborted one.
			r.held = append(r.held, m)
			return
		}
		r.arrived[from] = true
		r.nArrived++
		r.maybeAligned()
	}
}

// maybeAligned completes the alignment when every sender that has not ended delivered the
// barrier: the task checkpoints, then the held messages are processed.
func (r *receiver[T, E]) maybeAligned() {
	if r.nArrived+r.countEndedNotArrived() < r.x.senders {
		return
	}
	id := r.aligning
	r.aligning = 0
	r.nArrived = 0
	clear(r.arrived)
	r.t.Checkpoint(id, nil)
	held := r.held
	r.held = nil
	for _, m := range held {
		r.handle(m)
	}
}

func (r *receiver[T, E]) countEndedNotArrived() int {
	n := 0
	for i, e := range r.ended {
		if e && !r.arrived[i] {
			n++
		}
	}
	return n
}
