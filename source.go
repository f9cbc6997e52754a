package sluice

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
	"github.com/sluicehq/sluice/watermark"
)

// SplitReader reads one split of a source (a file, a partition, a generator shard). See
// Source for the contract of Read.
type SplitReader[T any] = flow.SplitReader[T]

// Source produces records from one or more splits; each split is read by its own task and has its
// own watermark. Read blocks until records are available, ctx is done, or a poll interval passes
// (returning none, so idleness and timers can be checked); it returns io.EOF after the last record
// of a bounded split.
type Source[T any] interface {
	// Open returns the source's split readers.
	Open(ctx context.Context) ([]SplitReader[T], error)
}

// SourceOption configures FromSource.
type SourceOption[T any] func(*sourceCfg[T])

type sourceCfg[T any] struct {
	ts    func(T) int64
	wm    watermark.Strategy
	batch int
}

// EventTime assigns event timestamps with ts and generates watermarks with the given strategy
// (default: monotonic). Without EventTime, records carry ingestion time.
func EventTime[T any](ts func(T) time.Time, opts ...watermark.Option) SourceOption[T] {
	return EventTimeMillis(func(v T) int64 { return ts(v).UnixMilli() }, opts...)
}

// EventTimeMillis is EventTime with timestamps in epoch milliseconds (no time.Time conversion).
func EventTimeMillis[T any](ts func(T) int64, opts ...watermark.Option) SourceOption[T] {
	return func(c *sourceCfg[T]) {
		c.ts = ts
		c.wm = watermark.NewStrategy(opts...)
	}
}

// SourceBatchSize sets how many records a split reads per batch. Default 1024.
func SourceBatchSize[T any](n int) SourceOption[T] {
	return func(c *sourceCfg[T]) { c.batch = max(n, 1) }
}

// FromSource adds a source to the pipeline.
func FromSource[T any](p *Pipeline, src Source[T], opts ...SourceOption[T]) Stream[T] {
	cfg := sourceCfg[T]{wm: watermark.NewStrategy(), batch: 1024}
	for _, o := range opts {
		o(&cfg)
	}
	n := p.g.Add(&plan.Node{Kind: plan.KindSource, MakeOutlet: outletOf[T]})
	n.Name = "source-" + itoa(n.ID)
	n.Source = &sourceFactory[T]{src: src, cfg: cfg, node: n}
	_, n.Driven = src.(interface{ Driven() })
	return Stream[T]{p: p, n: n}
}

type sourceFactory[T any] struct {
	src  Source[T]
	cfg  sourceCfg[T]
	node *plan.Node
}

// Source returns the user's source, so that a test driver can recognise its own inputs.
func (f *sourceFactory[T]) Source() any { return f.src }

// EventTime returns the source's timestamp assigner (nil: ingestion time) and watermark
// strategy, for runtimes that push records into a driven source themselves (the Kafka runner).
func (f *sourceFactory[T]) EventTime() (func(T) int64, watermark.Strategy) {
	return f.cfg.ts, f.cfg.wm
}

// WatermarkStrategy returns the source's watermark strategy, for runtimes that need its settings
// (idleness) without the element type.
func (f *sourceFactory[T]) WatermarkStrategy() watermark.Strategy { return f.cfg.wm }

func (f *sourceFactory[T]) OpenSplits(ctx context.Context) ([]plan.SplitRunner, error) {
	readers, err := f.src.Open(ctx)
	if err != nil {
		return nil, err
	}
	runners := make([]plan.SplitRunner, len(readers))
	for i, r := range readers {
		runners[i] = &splitRunner[T]{f: f, r: r}
	}
	return runners, nil
}

type splitRunner[T any] struct {
	f *sourceFactory[T]
	r SplitReader[T]
}

// Replayable reports whether the split can resume from a checkpointed position.
func (s *splitRunner[T]) Replayable() bool {
	_, ok := s.r.(flow.Positioner)
	return ok
}

// Seek makes the split resume at a checkpointed position.
func (s *splitRunner[T]) Seek(pos []byte) error {
	p, ok := s.r.(flow.Positioner)
	if !ok {
		return fmt.Errorf("source %s cannot resume from a position: its reader is not replayable", s.f.node.Label())
	}
	return p.Seek(pos)
}

func (s *splitRunner[T]) Run(ctx context.Context, t *flow.Task, out any) error {
	loop := &flow.SourceLoop[T]{Name: s.f.node.Name, T: t, Reader: s.r, TS: s.f.cfg.ts,
		Watermark: s.f.cfg.wm, BatchSize: s.f.cfg.batch}
	return loop.Run(ctx, out.(flow.Outlet[T]))
}

// FromSlice adds a bounded source over the given records, in order, as one split.
func FromSlice[T any](p *Pipeline, records []T, opts ...SourceOption[T]) Stream[T] {
	return FromSource[T](p, sliceSource[T](records), opts...)
}

type sliceSource[T any] []T

func (s sliceSource[T]) Open(context.Context) ([]SplitReader[T], error) {
	return []SplitReader[T]{&sliceReader[T]{recs: s}}, nil
}

type sliceReader[T any] struct {
	recs []T
	pos  int
}

func (r *sliceReader[T]) Read(_ context.Context, dst []T) ([]T, error) {
	n := min(cap(dst)-len(dst), len(r.recs)-r.pos)
	dst = append(dst, r.recs[r.pos:r.pos+n]...)
	r.pos += n
	if r.pos == len(r.recs) {
		return dst, io.EOF
	}
	return dst, nil
}

func (r *sliceReader[T]) Close() error { return nil }
