// Package generator is a source whose records are computed from their sequence number: a
// function of seq, produced as fast as the pipeline consumes or paced to a rate, bounded or not,
// over one or more splits. Records depend only on seq, so a run is reproducible and a resumed
// source (StartAt) continues exactly where it stopped.
//
//	src := generator.New(func(seq int64) Click {
//		return Click{Page: pages[seq%3], At: seq * 10}
//	}, generator.Count(1_000_000), generator.Rate(50_000), generator.Splits(4))
//	clicks := sluice.FromSource(p, src, sluice.EventTimeMillis(func(c Click) int64 { return c.At }))
//
// It is the Go counterpart of Flink's DataGeneratorSource.
package generator

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/sluicehq/sluice"
)

// Source is a generator source; it implements sluice.Source[T]. Create one with New.
type Source[T any] struct {
	fn  func(seq int64) T
	cfg config
}

// New returns a source that produces fn(seq) for seq = 0, 1, 2, … (see the options to bound,
// pace, split and resume it). fn must be deterministic and safe to call from several splits at
// once. A panic in fn sends the sequence number to the dead-letter stream and the source goes on.
func New[T any](fn func(seq int64) T, opts ...Option) *Source[T] {
	s := &Source[T]{fn: fn, cfg: defaultConfig()}
	if fn == nil {
		s.cfg.fail("New: nil function")
	}
	for _, o := range opts {
		o.apply(&s.cfg)
	}
	return s
}

// Open returns the source's splits, each a *Split[T]. It fails when an option was invalid.
func (s *Source[T]) Open(context.Context) ([]sluice.SplitReader[T], error) {
	if err := s.cfg.err(); err != nil {
		return nil, err
	}
	n := int64(s.cfg.splits)
	readers := make([]sluice.SplitReader[T], n)
	for i := range n {
		sp := &Split[T]{fn: s.fn, index: int(i), step: n, end: s.cfg.count, batch: s.cfg.batch,
			next: firstSeq(s.cfg.start, i, n), pacer: newPacer(s.cfg.clock, s.cfg.rate/float64(n))}
		sp.offset.Store(sp.next)
		readers[i] = sp
	}
	return readers, nil
}

// firstSeq returns the first sequence number >= start that belongs to split i of n.
func firstSeq(start, i, n int64) int64 {
	return start + ((i-start)%n+n)%n
}

// Split is one split of a generator source: it produces the sequence numbers congruent to its
// index modulo the number of splits. It implements sluice.SplitReader[T] and is read from one
// goroutine; Offset may be called from any.
type Split[T any] struct {
	fn     func(seq int64) T
	index  int
	step   int64 // the number of splits
	next   int64 // the next sequence number to produce
	end    int64 // -1: unbounded
	batch  int
	pacer  *pacer
	reject func(reason string, raw any)
	offset atomic.Int64
}

// Offset returns the next sequence number the split will produce: everything below it that
// belongs to the split has been returned by Read. A checkpoint stores it; StartAt resumes from it.
func (s *Split[T]) Offset() int64 { return s.offset.Load() }

// SetReject receives the function that sends a record that could not be produced (a panic in the
// generator function) to the dead-letter stream. The runtime calls it before the first Read.
func (s *Split[T]) SetReject(reject func(reason string, raw any)) { s.reject = reject }

// Read appends the next records to dst. Unpaced, it returns a full batch at once; paced, it waits
// for the bucket's tokens, returning with no records after 100 ms without one, and returns
// ctx.Err() as soon as ctx is done. After the last record of a bounded source it returns io.EOF.
func (s *Split[T]) Read(ctx context.Context, dst []T) ([]T, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	left := s.remaining()
	if left == 0 {
		return dst, io.EOF
	}
	want := int64(cap(dst) - len(dst))
	if want <= 0 {
		want = 1024
	}
	if s.batch > 0 {
		want = min(want, int64(s.batch))
	}
	if left > 0 {
		want = min(want, left)
	}
	if s.pacer != nil {
		var err error
		if want, err = s.pacer.take(ctx, want); err != nil {
			return dst, err
		}
	}
	for range want {
		seq := s.next
		s.next += s.step
		v, failure := s.generate(seq)
		if failure != nil {
			if s.reject == nil {
				s.offset.Store(s.next)
				return dst, fmt.Errorf("generator split %d: seq %d: %v", s.index, seq, failure)
			}
			s.reject(fmt.Sprintf("generator split %d: seq %d: panic: %v", s.index, seq, failure), seq)
			continue
		}
		dst = append(dst, v)
	}
	s.offset.Store(s.next)
	if s.remaining() == 0 {
		return dst, io.EOF
	}
	return dst, nil
}

// generate calls the user's function under a panic guard.
func (s *Split[T]) generate(seq int64) (v T, failure any) {
	defer func() {
		if r := recover(); r != nil {
			failure = r
		}
	}()
	return s.fn(seq), nil
}

// remaining returns how many records the split has left, or -1 when it is unbounded.
func (s *Split[T]) remaining() int64 {
	if s.end < 0 {
		return -1
	}
	if s.next >= s.end {
		return 0
	}
	return (s.end - s.next + s.step - 1) / s.step
}

// Close does nothing; a generator holds no resources.
func (s *Split[T]) Close() error { return nil }
