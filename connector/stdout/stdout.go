// Package stdout writes a stream to standard output, or any io.Writer, as JSON lines: the sink for
// demos, command-line pipelines and tests.
//
//	sluice.SinkTo(counts, stdout.JSONLines[sluice.Windowed[string, int64]](os.Stdout))
package stdout

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// Sink writes records as JSON lines. It implements sluice.Sink[T] and sluice.Flusher. Create one
// with JSONLines.
type Sink[T any] struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// JSONLines returns a sink that writes each record to w as one line of JSON, with encoding/json:
// a type with a MarshalJSON method (such as sluice.Windowed) is written by it, and HTML characters
// are not escaped. Writes are buffered and flushed after every batch and at Close; Close does not
// close w. A record that cannot be encoded (a NaN float, a channel) fails the pipeline.
func JSONLines[T any](w io.Writer) *Sink[T] {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Sink[T]{w: bw, enc: enc}
}

// Write appends v to the buffer as one line of JSON.
func (s *Sink[T]) Write(v T) error {
	// Encoding &v lets a MarshalJSON declared on *T apply too.
	if err := s.enc.Encode(&v); err != nil {
		return fmt.Errorf("stdout: %w", err)
	}
	return nil
}

// Flush writes the buffered lines to the writer.
func (s *Sink[T]) Flush() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("stdout: writing: %w", err)
	}
	return nil
}

// Close flushes the buffer. It does not close the underlying writer.
func (s *Sink[T]) Close() error { return s.Flush() }
