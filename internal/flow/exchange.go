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
)

// Rec is a record in a batch: its event timestamp and value.
type Rec[E any] struct {
	TS int64
	V  E
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
	w.x.blocked.Add(int64(time.Since(start)))
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

func (x *Exchange[T, E]) receive(j int, t *Task, out Outlet[E]) {
	in := x.chans[j]
	comb := watermark.NewCombiner(x.senders)
	ended := 0
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	armed := int64(MaxTime)
	idle := false
	for ended < x.senders {
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
			switch m.kind {
			case msgData:
				for i := range m.recs {
					out.Collect(m.recs[i].TS, m.recs[i].V)
				}
				clear(m.recs)
				select {
				case x.free <- m.recs[:0]:
				default:
				}
			case msgWatermark:
				if comb.Update(int(m.from), m.wm) {
					out.Watermark(comb.Current())
				}
			case msgIdle, msgActive, msgEnd:
				if m.kind == msgEnd {
					ended++
				}
				if comb.SetIdle(int(m.from), m.kind != msgActive) {
					out.Watermark(comb.Current())
				}
			}
			if all := comb.AllIdle(); all != idle && ended < x.senders {
				idle = all
				out.Idle(idle)
			}
		case <-tc:
			armed = MaxTime
			now := t.Clock.Now()
			if t.ProcDeadline() <= now {
				t.TakeProcDeadline()
				out.ProcTime(now)
			}
		case <-x.abort:
			panic(abort{context.Canceled})
		}
		t.Flush()
	}
	out.Finish()
	t.Flush()
}
