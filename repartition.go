package sluice

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
	"github.com/sluicehq/sluice/state/codec"
)

// repartition is a KeyBy's plan.Repartition: its input stream encoded with the state codecs
// (state/codec), the key as its codec's encoding, or a string key as its bytes (so that a
// repartition topic is partitioned as a producer keyed by the same string would partition it).
type repartition[K comparable, T any] struct {
	key func(T) K
}

var _ plan.Repartition = (*repartition[string, int])(nil)

// CodecErr reports whether the key and element types can be encoded.
func (r *repartition[K, T]) CodecErr() error {
	_, kerr := codec.For[K]()
	_, verr := codec.For[T]()
	if err := errors.Join(kerr, verr); err != nil {
		return fmt.Errorf("the stream cannot be written to a repartition topic: %w", err)
	}
	return nil
}

func (r *repartition[K, T]) BuildWriter(w plan.RepartitionWriter) func(t *flow.Task, outs []any) any {
	return func(*flow.Task, []any) any {
		kc, _ := codec.For[K]()
		vc, _ := codec.For[T]()
		_, str := any(*new(K)).(string)
		return &repartitionWriter[K, T]{Ctl: flow.NewCtl(), key: r.key, kc: kc, vc: vc, str: str, w: w}
	}
}

func (r *repartition[K, T]) BindReader(head any) (plan.RepartitionReader, error) {
	out, ok := head.(flow.Outlet[T])
	if !ok {
		return nil, fmt.Errorf("repartition reader: unexpected head outlet %T", head)
	}
	vc, err := codec.For[T]()
	if err != nil {
		return nil, err
	}
	return &repartitionReader[T]{out: out, vc: vc}, nil
}

func (r *repartition[K, T]) MakeOutlet(port int, consumers []any) any {
	return outletOf[T](port, consumers)
}

// repartitionWriter encodes records for a plan.RepartitionWriter; its buffers are reused, so it
// does not allocate per record.
type repartitionWriter[K comparable, T any] struct {
	flow.Ctl
	key        func(T) K
	kc         codec.Codec[K]
	vc         codec.Codec[T]
	str        bool
	w          plan.RepartitionWriter
	kbuf, vbuf []byte
}

func (o *repartitionWriter[K, T]) Collect(ts int64, v T) {
	k := o.key(v)
	if o.str {
		o.kbuf = append(o.kbuf[:0], any(k).(string)...)
	} else {
		o.kbuf = o.kc.Append(o.kbuf[:0], k)
	}
	o.vbuf = o.vc.Append(o.vbuf[:0], v)
	o.w.Write(o.kbuf, o.vbuf, ts)
}

func (o *repartitionWriter[K, T]) Watermark(wm int64) {
	if o.Advance(wm) {
		o.w.Watermark(wm)
	}
}

func (o *repartitionWriter[K, T]) Idle(bool)      {}
func (o *repartitionWriter[K, T]) ProcTime(int64) {}
func (o *repartitionWriter[K, T]) Finish()        {}

// repartitionReader decodes what a repartitionWriter encoded into a stage's head.
type repartitionReader[T any] struct {
	out flow.Outlet[T]
	vc  codec.Codec[T]
}

func (r *repartitionReader[T]) Push(ts int64, b []byte) error {
	v, n, err := r.vc.Decode(b)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("%d trailing bytes after the value", len(b)-n)
	}
	r.out.Collect(ts, v)
	return nil
}

func (r *repartitionReader[T]) Watermark(wm int64) { r.out.Watermark(wm) }
