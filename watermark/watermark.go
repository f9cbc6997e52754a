// Package watermark holds watermark strategies (bounded out-of-orderness, monotonic, custom), the
// idleness rule, and the combiner that takes the minimum over several inputs.
//
// Semantics follow Flink's WatermarkStrategy: a bounded-out-of-orderness generator with bound d
// emits maxTimestamp-d-1 (so an element with timestamp maxTimestamp-d is still on time), and a
// monotonic generator is the same with d = 0. An input that sees no events for its idle timeout
// stops holding the combined watermark back and is reported idle until it sees an event again.
//
// All times are epoch milliseconds. The package imports only the standard library.
package watermark

import (
	"math"
	"time"
)

// Min is the watermark before any event has been seen.
const Min int64 = math.MinInt64

// Max is the watermark of a finished input.
const Max int64 = math.MaxInt64

// Generator tracks the event timestamps of one input split and derives its watermark. A Generator
// is used by one goroutine.
type Generator interface {
	// OnEvent observes one event timestamp.
	OnEvent(ts int64)
	// Current returns the watermark now. It must never decrease.
	Current() int64
}

// Strategy describes how watermarks are generated for a source, one generator per split.
// The zero Strategy emits no watermark until end of input.
type Strategy struct {
	newGen func() Generator
	idle   time.Duration
}

// Option configures a Strategy.
type Option interface{ apply(*Strategy) }

type optFunc func(*Strategy)

func (f optFunc) apply(s *Strategy) { f(s) }

// BoundedOutOfOrderness tolerates events up to d older than the largest timestamp seen (Flink:
// WatermarkStrategy.forBoundedOutOfOrderness). The watermark is maxTimestamp-d-1.
func BoundedOutOfOrderness(d time.Duration) Option {
	ms := d.Milliseconds()
	return optFunc(func(s *Strategy) { s.newGen = func() Generator { return NewBounded(ms) } })
}

// Monotonic assumes timestamps never decrease (Flink: forMonotonousTimestamps).
func Monotonic() Option { return BoundedOutOfOrderness(0) }

// Custom uses a user-defined generator, one per split.
func Custom(newGen func() Generator) Option {
	return optFunc(func(s *Strategy) { s.newGen = newGen })
}

// Idleness marks a split idle after d of processing time without events (Flink: withIdleness).
// Default: never idle.
func Idleness(d time.Duration) Option { return optFunc(func(s *Strategy) { s.idle = d }) }

// NewStrategy builds a strategy from options. Without a generator option it is monotonic.
func NewStrategy(opts ...Option) Strategy {
	var s Strategy
	for _, o := range opts {
		o.apply(&s)
	}
	if s.newGen == nil {
		s.newGen = func() Generator { return NewBounded(0) }
	}
	return s
}

// NewGenerator returns a fresh generator for one split.
func (s Strategy) NewGenerator() Generator {
	if s.newGen == nil {
		return NewBounded(0)
	}
	return s.newGen()
}

// IdleTimeout is the idleness timeout; 0 means never idle.
func (s Strategy) IdleTimeout() time.Duration { return s.idle }

// Bounded is the bounded-out-of-orderness generator.
type Bounded struct {
	delay int64
	maxTS int64
}

// NewBounded returns a generator that lags the largest timestamp by delay ms (plus 1).
func NewBounded(delay int64) *Bounded { return &Bounded{delay: delay, maxTS: Min} }

// OnEvent observes ts.
func (b *Bounded) OnEvent(ts int64) {
	if ts > b.maxTS {
		b.maxTS = ts
	}
}

// Current returns maxTimestamp-delay-1, or Min before the first event.
func (b *Bounded) Current() int64 {
	if b.maxTS == Min {
		return Min
	}
	return b.maxTS - b.delay - 1
}
