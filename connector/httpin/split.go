package httpin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// pollInterval is the longest a Read waits for records before returning none, so that the
// runtime can check idleness and timers.
const pollInterval = 100 * time.Millisecond

// defaultBatch is the number of records a Read returns at most when dst has no spare capacity.
const defaultBatch = 1024

// split reads the log from a position. It is read from one goroutine.
type split[T any] struct {
	log    *ingestLog
	decode func([]byte) (T, error)
	pos    position
	f      *os.File // the segment pos.seg, opened on the first read of it
	r      segReader
	reject func(reason string, raw any)
	timer  *time.Timer
}

// SetReject receives the function that sends a record which no longer decodes (the record type
// changed since it was accepted) to the dead-letter stream. The runtime calls it before the
// first Read.
func (s *split[T]) SetReject(reject func(reason string, raw any)) { s.reject = reject }

// Position returns where the split resumes: just after the last record Read returned.
func (s *split[T]) Position() ([]byte, error) { return s.pos.encode(), nil }

// Seek makes the split resume at a position returned by Position. It fails when the position's
// segment was deleted (Truncate) or lies beyond the end of the log.
func (s *split[T]) Seek(b []byte) error {
	p, err := decodePosition(b)
	if err != nil {
		return err
	}
	end, _, _, _, err := s.log.bounds(p.seg)
	if err != nil {
		return fmt.Errorf("httpin: cannot resume at %s: %w", p, err)
	}
	if p.off > end {
		return fmt.Errorf("httpin: cannot resume at %s: the segment holds only %d bytes", p, end)
	}
	s.closeFile()
	s.pos = p
	return nil
}

// Read appends up to cap(dst)-len(dst) records (1024 when dst is full) from the log. It waits
// for records to be appended, for at most 100 ms (then it returns none), and returns ctx.Err()
// as soon as ctx is done. Once the source is closed and every record has been read, it returns
// ErrClosed.
func (s *split[T]) Read(ctx context.Context, dst []T) ([]T, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	want := cap(dst) - len(dst)
	if want <= 0 {
		want = defaultBatch
	}
	var timeout <-chan time.Time
	for {
		end, sealed, notify, closed, err := s.log.bounds(s.pos.seg)
		switch {
		case err != nil:
			return dst, fmt.Errorf("httpin: reading the log at %s: %w", s.pos, err)
		case s.pos.off < end:
			return s.readFrames(dst, want, end)
		case sealed:
			s.closeFile()
			s.pos = position{seg: s.pos.seg + 1, off: headerSize}
			continue
		case closed:
			return dst, ErrClosed
		}
		if timeout == nil {
			if s.timer == nil {
				s.timer = time.NewTimer(pollInterval)
			} else {
				s.timer.Reset(pollInterval)
			}
			timeout = s.timer.C
		}
		select {
		case <-notify:
		case <-timeout:
			return dst, nil
		case <-ctx.Done():
			return dst, ctx.Err()
		}
	}
}

// readFrames decodes up to want frames of the current segment, before end.
func (s *split[T]) readFrames(dst []T, want int, end int64) ([]T, error) {
	if err := s.openFile(); err != nil {
		return dst, err
	}
	for range want {
		if s.pos.off >= end {
			break
		}
		payload, _, n, err := s.r.frameAt(s.pos.off, end)
		if err != nil {
			return dst, fmt.Errorf("httpin: the log is corrupt at %s: %w", s.pos, err)
		}
		v, err := decodeSafe(s.decode, payload)
		if err != nil {
			reason := fmt.Sprintf("%s:%d: decoding: %v", s.log.path(s.pos.seg), s.pos.off, err)
			if s.reject == nil {
				return dst, errors.New("httpin: " + reason)
			}
			s.reject(reason, string(payload))
		} else {
			dst = append(dst, v)
		}
		s.pos.off += int64(n)
	}
	return dst, nil
}

// openFile opens the current segment and checks its header.
func (s *split[T]) openFile() error {
	if s.f != nil {
		return nil
	}
	path := s.log.path(s.pos.seg)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("httpin: opening the log: %w", err)
	}
	h := make([]byte, headerSize)
	if _, err := f.ReadAt(h, 0); err != nil {
		h = nil
	}
	if err := checkHeader(h, s.pos.seg); err != nil {
		f.Close()
		return fmt.Errorf("httpin: log segment %s: %w", path, err)
	}
	s.f, s.r = f, segReader{r: f, buf: s.r.buf[:0]}
	return nil
}

func (s *split[T]) closeFile() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	s.r = segReader{buf: s.r.buf[:0]}
}

// Close closes the split's file. The source and its log stay open.
func (s *split[T]) Close() error {
	if s.timer != nil {
		s.timer.Stop()
	}
	s.closeFile()
	return nil
}

// decodeSafe runs decode, turning a panic into an error.
func decodeSafe[T any](decode func([]byte) (T, error), p []byte) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return decode(p)
}
