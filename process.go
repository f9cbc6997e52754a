package sluice

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
	"github.com/sluicehq/sluice/state/codec"
)

// KeyedProcessFunction is user logic run per key of a keyed stream, with keyed state and timers
// (Flink: KeyedProcessFunction). ProcessElement is called for every element with its key current;
// OnTimer when a timer registered through the context fires, with the timer's key current. State
// handles declared in the constructor passed to Process refer to the current key.
//
// Both methods are called from one goroutine per subtask. A returned error, or a panic, sends the
// element (or, from OnTimer, a FiredTimer) to the pipeline's dead-letter stream and processing
// goes on; state changes and records emitted before the failure are kept.
type KeyedProcessFunction[K comparable, In, Out any] interface {
	// ProcessElement handles one element; ctx.Timestamp() is its event timestamp.
	ProcessElement(ctx *KeyedContext[K, Out], v In) error
	// OnTimer handles a timer of the current key firing at ts (ctx.TimeDomain() says which kind).
	OnTimer(ctx *KeyedContext[K, Out], ts int64) error
}

// ProcessFuncs adapts functions to a KeyedProcessFunction, like http.HandlerFunc. Element is
// required; Timer may be nil when the function registers no timer.
type ProcessFuncs[K comparable, In, Out any] struct {
	Element func(ctx *KeyedContext[K, Out], v In) error
	Timer   func(ctx *KeyedContext[K, Out], ts int64) error
}

// ProcessElement calls f.Element.
func (f ProcessFuncs[K, In, Out]) ProcessElement(ctx *KeyedContext[K, Out], v In) error {
	return f.Element(ctx, v)
}

// OnTimer calls f.Timer, or does nothing when it is nil.
func (f ProcessFuncs[K, In, Out]) OnTimer(ctx *KeyedContext[K, Out], ts int64) error {
	if f.Timer == nil {
		return nil
	}
	return f.Timer(ctx, ts)
}

// FiredTimer is the Record of a dead letter whose OnTimer call failed: the key, the timer's time
// and its domain.
type FiredTimer[K comparable] = flow.FiredTimer[K]

// TimeDomain says which clock a timer belongs to (Flink: TimeDomain).
type TimeDomain = flow.TimeDomain

// The time domains of timers.
const (
	// EventTimeDomain timers fire when the watermark reaches their time (Flink: EVENT_TIME).
	EventTimeDomain = flow.EventTimeDomain
	// ProcessingTimeDomain timers fire when the wall clock (or the test clock) reaches their time
	// (Flink: PROCESSING_TIME).
	ProcessingTimeDomain = flow.ProcessingTimeDomain
)

// KeyedContext is the context of a call to a KeyedProcessFunction (Flink: KeyedProcessFunction's
// Context and OnTimerContext): the current key and timestamp, the outputs, and the timer service.
// It is valid only during the call it is passed to; emitting or registering a timer afterwards
// panics. Side outputs take it too: see OutputTag.Emit.
type KeyedContext[K comparable, Out any] struct {
	c *flow.ProcessContext[K, Out]
}

// Key returns the current key.
func (c *KeyedContext[K, Out]) Key() K { return c.c.Key() }

// Timestamp returns the current element's event timestamp (epoch ms) in ProcessElement, and the
// firing timer's time in OnTimer.
func (c *KeyedContext[K, Out]) Timestamp() int64 { return c.c.Timestamp() }

// TimeDomain returns the domain of the firing timer in OnTimer; in ProcessElement it is
// EventTimeDomain.
func (c *KeyedContext[K, Out]) TimeDomain() TimeDomain { return c.c.Domain() }

// Emit sends v downstream with the current timestamp (see Timestamp). Records emitted from a
// processing-time timer therefore carry that processing time as their event timestamp; use EmitAt
// to choose another.
func (c *KeyedContext[K, Out]) Emit(v Out) { c.c.Emit(c.c.Timestamp(), v) }

// EmitAt sends v downstream with event timestamp ts. A timestamp at or before the current
// watermark makes the record late for downstream windows.
func (c *KeyedContext[K, Out]) EmitAt(ts int64, v Out) { c.c.Emit(ts, v) }

// CurrentWatermark returns the operator's current event-time watermark (math.MinInt64 before the
// first). In OnTimer for an event-time timer it is the watermark that fired the timer.
func (c *KeyedContext[K, Out]) CurrentWatermark() int64 { return c.c.WM }

// CurrentProcessingTime returns the task clock's time (epoch ms).
func (c *KeyedContext[K, Out]) CurrentProcessingTime() int64 { return c.c.Now() }

// RegisterEventTimeTimer schedules OnTimer for the current key when the watermark reaches ts
// (ts <= watermark). Timers are unique per key, domain and time: registering one again does
// nothing. A timer at or before the current watermark fires at the next watermark. Timers of one
// watermark fire in time order, before the watermark goes downstream, and a timer registered from
// OnTimer fires in the same round when it is due. At the end of a bounded input the watermark is
// +∞ (math.MaxInt64) and every event-time timer fires: a function that re-registers a timer from
// OnTimer should stop doing so when CurrentWatermark() is math.MaxInt64.
func (c *KeyedContext[K, Out]) RegisterEventTimeTimer(ts int64) { c.c.RegisterEventTimer(ts) }

// RegisterProcessingTimeTimer schedules OnTimer for the current key when processing time reaches
// ts; a time already past fires as soon as the subtask is idle. Timers are unique per key, domain
// and time. Processing-time timers still pending at the end of the input do not fire (as in
// Flink).
func (c *KeyedContext[K, Out]) RegisterProcessingTimeTimer(ts int64) { c.c.RegisterProcTimer(ts) }

// DeleteEventTimeTimer cancels the current key's event-time timer at ts; it does nothing when
// there is none.
func (c *KeyedContext[K, Out]) DeleteEventTimeTimer(ts int64) { c.c.DeleteEventTimer(ts) }

// DeleteProcessingTimeTimer cancels the current key's processing-time timer at ts; it does nothing
// when there is none.
func (c *KeyedContext[K, Out]) DeleteProcessingTimeTimer(ts int64) { c.c.DeleteProcTimer(ts) }

// side implements SideEmitter.
func (c *KeyedContext[K, Out]) side(id string) (*flow.SideOutlet, int64) { return c.c.Side(id) }

// Process runs a KeyedProcessFunction on a keyed stream (Flink: KeyedStream.process). newFn is
// called once per subtask, when the pipeline starts, with that subtask's StateStore: declare the
// state there and return the function. The operator is stateful and needs a UID. Records it emits
// form the returned stream; records emitted to an OutputTag form the stream SideOutput returns.
//
//	counts := sluice.Process(perUser, func(s *sluice.StateStore) sluice.KeyedProcessFunction[string, Click, int64] {
//		n := sluice.NewValueState[int64](s, "n")
//		return sluice.ProcessFuncs[string, Click, int64]{Element: func(ctx *sluice.KeyedContext[string, int64], c Click) error {
//			v, _ := n.Value()
//			n.Update(v + 1)
//			ctx.Emit(v + 1)
//			return nil
//		}}
//	}).UID("clicks-per-user")
//
// A constructor that panics, returns nil, or declares an invalid state (empty or duplicate name)
// fails the pipeline when it starts, with an error naming the operator.
//
// With checkpoints, the operator's state (every declared state of every key, and the keys'
// pending event-time and processing-time timers) is written under its UID and restored after a
// restart, also with another parallelism; see StateStore for what may change between versions.
func Process[K comparable, In, Out any](k KeyedStream[K, In], newFn func(s *StateStore) KeyedProcessFunction[K, In, Out]) Stream[Out] {
	p := k.p
	d := &processDecl{}
	n := p.g.Add(&plan.Node{Kind: plan.KindOp, Stateful: true, PortNames: []string{""},
		Inputs: []plan.Edge{{From: k.n}}})
	n.Name = "process-" + itoa(n.ID)
	if newFn == nil {
		p.fail(fmt.Errorf("operator %s: sluice.Process needs a constructor, got nil", n.Label()))
	}
	n.MakeOutlet = func(port int, consumers []any) any {
		if port == 0 {
			return outletOf[Out](port, consumers)
		}
		return d.tags[port-1].makeOutlet(port, consumers)
	}
	n.Build = func(t *flow.Task, outs []any) any {
		op := buildProcess(t, n.Name, d, newFn, outs)
		op.UID = n.UID
		op.KeyCodec, op.KeyCodecErr = keyCodec[K]()
		t.AddSnapshotter(op)
		return flow.Outlet[flow.Keyed[K, In]](op)
	}
	registerProcess(n, d)
	return Stream[Out]{p: p, n: n}
}

// buildProcess creates the operator of one subtask and calls the user's constructor.
func buildProcess[K comparable, In, Out any](t *flow.Task, name string, d *processDecl,
	newFn func(s *StateStore) KeyedProcessFunction[K, In, Out], outs []any) *flow.KeyedProcess[K, In, Out] {
	op := flow.NewKeyedProcess[K, In, Out](name, t, outs[0].(flow.Outlet[Out]))
	for i, tag := range d.tags {
		out := outs[i+1]
		op.Sides = append(op.Sides, flow.SideOutlet{ID: tag.id, Type: tag.typ.String(), Out: out, Node: out.(flow.Node)})
	}
	fn, err := construct(&StateStore{sc: &op.State.StateScope}, newFn)
	op.State.Seal()
	if err != nil {
		op.InitErr = fmt.Errorf("operator %q: %w", name, err)
		return op
	}
	if op.State.Err != nil {
		op.InitErr = op.State.Err
		return op
	}
	ctx := &KeyedContext[K, Out]{c: &op.ProcessContext}
	op.Element = func(v In) error { return fn.ProcessElement(ctx, v) }
	op.Timer = func(ts int64) error { return fn.OnTimer(ctx, ts) }
	return op
}

// keyCodec returns the codec of keys for checkpoints, or why there is none.
func keyCodec[K comparable]() (flow.Codec[K], error) {
	c, err := codec.For[K]()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// construct calls the user's constructor, turning a panic or a nil result into an error.
func construct[K comparable, In, Out any](s *StateStore, newFn func(s *StateStore) KeyedProcessFunction[K, In, Out]) (fn KeyedProcessFunction[K, In, Out], err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the process function's constructor panicked: %v", r)
		}
	}()
	fn = newFn(s)
	switch f := fn.(type) {
	case nil:
		return nil, errors.New("the process function's constructor returned nil")
	case ProcessFuncs[K, In, Out]:
		if f.Element == nil {
			return nil, errors.New("ProcessFuncs.Element is nil")
		}
	case *ProcessFuncs[K, In, Out]:
		if f == nil || f.Element == nil {
			return nil, errors.New("ProcessFuncs.Element is nil")
		}
	}
	return fn, nil
}
