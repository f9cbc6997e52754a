package generator

import (
	"errors"
	"fmt"
	"math"
)

// Option configures New. Options are validated by New; an invalid one makes Open fail with an
// error naming it.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	count  int64 // -1: unbounded
	rate   float64
	splits int
	start  int64
	batch  int
	clock  Clock
	errs   []error
}

func defaultConfig() config {
	return config{count: -1, splits: 1, clock: wallClock{}}
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("generator: "+format, args...))
}

func (c *config) err() error { return errors.Join(c.errs...) }

// Count makes the source bounded: it produces the sequence numbers 0 … n-1 (split among the
// splits) and then ends with io.EOF, so every window fires. n must be >= 0. Default: unbounded
// (Flink: the count of a DataGeneratorSource; Long.MAX_VALUE there).
func Count(n int64) Option {
	return optionFunc(func(c *config) {
		if n < 0 {
			c.fail("Count must be >= 0, got %d", n)
			return
		}
		c.count = n
	})
}

// Rate paces the source to eventsPerSecond records per second in total, divided evenly among
// the splits. Pacing is a token bucket that holds at most 100 ms of records (at least one) and
// starts full, so a reader held back by backpressure catches up by at most that much. Default 0:
// as fast as the pipeline consumes (Flink: RateLimiterStrategy.perSecond).
func Rate(eventsPerSecond float64) Option {
	return optionFunc(func(c *config) {
		if eventsPerSecond < 0 || math.IsNaN(eventsPerSecond) || math.IsInf(eventsPerSecond, 0) {
			c.fail("Rate must be a finite number >= 0, got %v", eventsPerSecond)
			return
		}
		c.rate = eventsPerSecond
	})
}

// Splits sets the number of splits, each read by its own task with its own watermark. Split i
// produces the sequence numbers i, i+n, i+2n, …, so together the splits produce each number
// exactly once. n must be >= 1. Default 1.
func Splits(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.fail("Splits must be >= 1, got %d", n)
			return
		}
		c.splits = n
	})
}

// StartAt resumes the source at sequence number seq: the numbers below seq are not produced.
// With Count(n), the source produces seq … n-1. seq must be >= 0. Default 0.
func StartAt(seq int64) Option {
	return optionFunc(func(c *config) {
		if seq < 0 {
			c.fail("StartAt must be >= 0, got %d", seq)
			return
		}
		c.start = seq
	})
}

// BatchSize caps the number of records one Read returns. Default 0: as many as the reader's
// buffer holds (sluice.SourceBatchSize, 1024 by default).
func BatchSize(n int) Option {
	return optionFunc(func(c *config) {
		if n < 0 {
			c.fail("BatchSize must be >= 0, got %d", n)
			return
		}
		c.batch = n
	})
}

// WithClock sets the clock that paces a Rate-limited source. Tests pass a fake clock so that
// pacing needs no real waiting. Default: the wall clock.
func WithClock(clock Clock) Option {
	return optionFunc(func(c *config) {
		if clock == nil {
			c.fail("WithClock: nil clock")
			return
		}
		c.clock = clock
	})
}
