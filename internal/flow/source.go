package flow

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/sluicehq/sluice/watermark"
)

// SplitReader reads one split of a source: a file, a partition, a generator shard.
//
// Read appends the records available now to dst and returns it. It blocks until at least one
// record is available, ctx is done, or a poll interval of its choosing passes (then it returns no
// records, so the runtime can check idleness and timers). After the last record of a bounded split
// it returns io.EOF (with or without final records). Read is called from one goroutine.
type SplitReader[T any] interface {
	Read(ctx context.Context, dst []T) ([]T, error)
	Close() error
}

// SourceLoop runs one split: it reads batches, assigns timestamps, generates the split's
// watermark, detects idleness, fires processing time and flushes the task's outgoing buffers.
type SourceLoop[T any] struct {
	Name   string
	T      *Task
	Reader SplitReader[T]
	// TS assigns event timestamps (epoch ms). Nil: ingestion time (processing time on arrival).
	TS        func(T) int64
	Watermark watermark.Strategy
	BatchSize int
	// Abort is closed when the pipeline fails.
	Abort <-chan struct{}
}

// Run reads until the split ends (then emits the +∞ watermark and finishes) or ctx is done
// (then finishes without advancing the watermark).
func (s *SourceLoop[T]) Run(ctx context.Context, out Outlet[T]) (err error) {
	defer func() {
		if cerr := s.Reader.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing source %s: %w", s.Name, cerr)
		}
	}()
	if gerr := RunGuarded(func() { err = s.loop(ctx, out) }); gerr != nil {
		return gerr
	}
	return err
}

func (s *SourceLoop[T]) loop(ctx context.Context, out Outlet[T]) error {
	if r, ok := s.Reader.(Rejecter); ok {
		r.SetReject(func(reason string, raw any) {
			s.T.Failed(s.Name, errors.New(reason), s.T.Clock.Now(), raw)
		})
	}
	gen := s.Watermark.NewGenerator()
	idleAfter := s.Watermark.IdleTimeout().Milliseconds()
	buf := make([]T, 0, max(s.BatchSize, 1))
	last := s.T.Clock.Now()
	lastWM, idle := MinTime, false
	for {
		var err error
		buf, err = s.Reader.Read(ctx, buf[:0])
		now := s.T.Clock.Now()
		if len(buf) > 0 {
			last = now
			if idle {
				idle = false
				out.Idle(false)
			}
		}
		for i := range buf {
			ts, ok := s.timestamp(now, buf[i])
			if ok {
				gen.OnEvent(ts)
				out.Collect(ts, buf[i])
			}
		}
		clear(buf)
		if wm := gen.Current(); wm > lastWM {
			lastWM = wm
			out.Watermark(wm)
		}
		if idleAfter > 0 && !idle && now-last >= idleAfter {
			idle = true
			s.T.Logger.Info("source split idle", "source", s.Name, "task", s.T.Name(), "idle_ms", now-last)
			out.Idle(true)
		}
		if s.T.ProcDeadline() <= now {
			s.T.TakeProcDeadline()
			out.ProcTime(now)
		}
		s.T.Flush()
		s.checkpointIfTriggered()
		switch {
		case errors.Is(err, io.EOF):
			out.Watermark(MaxTime)
			out.Finish()
			s.T.Flush()
			return nil
		case ctx.Err() != nil:
			out.Finish()
			s.T.Flush()
			return nil
		case err != nil:
			return fmt.Errorf("source %s, split %d: %w", s.Name, s.T.Index, err)
		}
		select {
		case <-s.Abort:
			return context.Canceled
		default:
		}
	}
}

// checkpointIfTriggered takes the split's part of a checkpoint the coordinator asked for: the
// split's position after the records read so far, the task's operator states, and the barrier
// sent downstream. It also delivers completed-checkpoint notices to the task's committers.
func (s *SourceLoop[T]) checkpointIfTriggered() {
	select {
	case id := <-s.T.Trigger:
		var pos []byte
		if p, ok := s.Reader.(Positioner); ok {
			var err error
			if pos, err = p.Position(); err != nil {
				Fail(fmt.Errorf("source %s, split %d: position for checkpoint %d: %w", s.Name, s.T.Index, id, err))
			}
		}
		s.T.Checkpoint(id, pos)
	case id := <-s.T.Completed:
		s.T.NotifyComplete(id)
	default:
	}
}

// timestamp runs the user's timestamp assigner under a panic guard.
func (s *SourceLoop[T]) timestamp(now int64, v T) (ts int64, ok bool) {
	if s.TS == nil {
		return now, true
	}
	defer func() {
		if r := recover(); r != nil {
			s.T.Recovered(s.Name+" (timestamp assigner)", r, now, v)
		}
	}()
	return s.TS(v), true
}

// Rejecter is implemented by split readers that can meet input they cannot decode (a malformed
// JSON line, a CSV row with the wrong number of fields). Before the first Read, the runtime hands
// them a function that routes such input to the dead-letter stream with its reason, so nothing is
// dropped silently.
type Rejecter interface {
	SetReject(reject func(reason string, raw any))
}
