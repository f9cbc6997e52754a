package sluicetest

import "github.com/sluicehq/sluice"

// Output captures what a stream emits.
type Output[T any] struct {
	vals []T
	seen int
}

// Capture sinks the stream into an Output.
func Capture[T any](s sluice.Stream[T]) *Output[T] {
	o := &Output[T]{}
	sluice.SinkTo[T](s, sluice.SinkFunc[T](func(v T) error {
		o.vals = append(o.vals, v)
		return nil
	}))
	return o
}

// Values returns everything captured so far.
func (o *Output[T]) Values() []T { return o.vals }

// Len is the number of captured values.
func (o *Output[T]) Len() int { return len(o.vals) }

// Drain returns the values captured since the previous Drain.
func (o *Output[T]) Drain() []T {
	v := o.vals[o.seen:]
	o.seen = len(o.vals)
	return v
}
