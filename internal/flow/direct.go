package flow

import (
	"context"
	"errors"

	"github.com/sluicehq/sluice/watermark"
)

// direct is an exchange that delivers by direct calls in the sender's goroutine: the
// deterministic single-goroutine test driver uses it. Receivers still combine their senders'
// watermarks by minimum and finish when every sender has.
type direct[T, E any] struct {
	name    string
	route   func(T) (E, int)
	senders int
	recv    []directRecv[E]
}

type directRecv[E any] struct {
	out   Outlet[E]
	t     *Task
	comb  *watermark.Combiner
	ended int
	idle  bool
	// barriers counts the senders whose barrier of checkpoint barrierID arrived.
	barrierID int64
	barriers  int
}

func newDirect[T, E any](name string, route func(T) (E, int), spec ExchangeSpec) *direct[T, E] {
	x := &direct[T, E]{name: name, route: route, senders: spec.Senders, recv: make([]directRecv[E], spec.Receivers)}
	for j := range x.recv {
		x.recv[j].comb = watermark.NewCombiner(spec.Senders)
		x.recv[j].out = Discard[E]{}
	}
	return x
}

func (x *direct[T, E]) Attach(j int, t *Task, out any) {
	x.recv[j].out = out.(Outlet[E])
	x.recv[j].t = t
}

func (x *direct[T, E]) Run(context.Context, int, *Task, any) error {
	return errors.New("flow: a direct exchange is driven by its senders, not run")
}

func (x *direct[T, E]) BlockedNanos() int64 { return 0 }

func (x *direct[T, E]) Writer(i int, t *Task) any {
	w := &directWriter[T, E]{Ctl: NewCtl(), x: x, t: t, from: i}
	t.AddBarrierWriter(w.barrier)
	return Outlet[T](w)
}

// barrier delivers checkpoint barrier id; a receiver checkpoints its task once every sender that
// has not ended delivered it. Records are delivered synchronously, so nothing needs holding.
func (w *directWriter[T, E]) barrier(id int64) {
	for j := range w.x.recv {
		r := &w.x.recv[j]
		if r.barrierID != id {
			r.barrierID, r.barriers = id, 0
		}
		r.barriers++
		if r.barriers+r.ended >= w.x.senders && r.t != nil {
			r.t.Checkpoint(id, nil)
		}
	}
}

type directWriter[T, E any] struct {
	Ctl
	x    *direct[T, E]
	t    *Task
	from int
}

func (w *directWriter[T, E]) Collect(ts int64, v T) {
	e, p, ok := w.route(ts, v)
	if ok {
		w.x.recv[p].out.Collect(ts, e)
	}
}

func (w *directWriter[T, E]) route(ts int64, v T) (e E, p int, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			w.t.Recovered(w.x.name, r, ts, v)
		}
	}()
	e, p = w.x.route(v)
	return e, p, true
}

func (w *directWriter[T, E]) Watermark(wm int64) {
	if !w.Advance(wm) {
		return
	}
	for j := range w.x.recv {
		r := &w.x.recv[j]
		if r.comb.Update(w.from, wm) {
			r.out.Watermark(r.comb.Current())
		}
	}
}

func (w *directWriter[T, E]) Idle(idle bool) {
	if !w.SetIdle(idle) {
		return
	}
	for j := range w.x.recv {
		r := &w.x.recv[j]
		if r.comb.SetIdle(w.from, idle) {
			r.out.Watermark(r.comb.Current())
		}
		if all := r.comb.AllIdle(); all != r.idle {
			r.idle = all
			r.out.Idle(all)
		}
	}
}

func (w *directWriter[T, E]) ProcTime(int64) {}

func (w *directWriter[T, E]) Finish() {
	if !w.MarkFinished() {
		return
	}
	for j := range w.x.recv {
		r := &w.x.recv[j]
		r.ended++
		if r.comb.SetIdle(w.from, true) {
			r.out.Watermark(r.comb.Current())
		}
		if r.ended == w.x.senders {
			r.out.Finish()
		}
	}
}
