package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// defaultBatch is the number of lines a Read consumes when dst has no spare capacity.
const defaultBatch = 1024

// split is what the readers of every format share: the file, its lines, and the dead-letter
// route. A split is read from one goroutine.
type split struct {
	path   string
	max    int
	f      *os.File
	lines  *lineReader
	reject func(reason string, raw any)
	done   bool
	seek   *resumeAt // a pending resume position (JSON lines)
}

// SetReject receives the function that sends undecodable input to the dead-letter stream. The
// runtime calls it before the first Read.
func (s *split) SetReject(reject func(reason string, raw any)) { s.reject = reject }

// begin prepares a Read: it reports a done ctx or the end of the file, and opens the file on the
// first call.
func (s *split) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.done {
		return io.EOF
	}
	if s.lines != nil {
		return nil
	}
	f, err := s.openAt()
	if err != nil {
		return err
	}
	s.f, s.lines = f, newLineReader(f, s.max, readBufferSize)
	if s.seek != nil {
		s.lines.off, s.lines.num = s.seek.off, s.seek.num
		s.lines.bom = s.seek.off > 0 // a byte-order mark only stands at the start
	}
	return nil
}

// budget returns how many lines one Read may consume: as many as dst has room for records.
func budget[T any](dst []T) int {
	if n := cap(dst) - len(dst); n > 0 {
		return n
	}
	return defaultBatch
}

// end handles an error from the line reader: io.EOF ends the split and closes the file early;
// anything else is a read error naming the file.
func (s *split) end(err error) error {
	if !errors.Is(err, io.EOF) {
		return fmt.Errorf("file: reading %s: %w", s.path, err)
	}
	s.done = true
	if cerr := s.Close(); cerr != nil {
		return fmt.Errorf("file: closing %s: %w", s.path, cerr)
	}
	return io.EOF
}

// rejectAt sends raw to the dead-letter stream with a reason that starts with the file and line.
// Without a reject function (the reader is used outside the runtime) the reason is returned as an
// error instead: undecodable input is never skipped silently.
func (s *split) rejectAt(line string, raw string, reason error) error {
	msg := fmt.Sprintf("%s:%s: %v", s.path, line, reason)
	if s.reject == nil {
		return errors.New("file: " + msg)
	}
	s.reject(msg, raw)
	return nil
}

// rejectTooLong rejects the over-long line last read, keeping its start.
func (s *split) rejectTooLong(line []byte) error {
	return s.rejectAt(strconv.Itoa(s.lines.num), preview(line),
		fmt.Errorf("line longer than %d bytes (the dead letter keeps its first %d)", s.max, previewBytes))
}

// Close closes the file. It is safe to call more than once.
func (s *split) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
