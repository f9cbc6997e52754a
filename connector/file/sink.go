package file

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Sink writes records to a file as JSON lines. It implements sluice.Sink[T] and sluice.Flusher.
// Create one with JSONLinesSink.
type Sink[T any] struct {
	path   string
	f      *os.File
	w      *bufio.Writer
	enc    *json.Encoder
	closed bool
}

// JSONLinesSink returns a sink that writes each record to path as one line of JSON (with
// encoding/json, so a MarshalJSON method is used; HTML characters are not escaped). The file is
// created, with its parent directories, when the first record arrives (or at Close, so an empty
// stream leaves an empty file); an existing file is truncated. Writes are buffered and flushed
// after every batch; Close flushes and fsyncs. A record that cannot be encoded (a NaN float, a
// channel) fails the pipeline.
func JSONLinesSink[T any](path string) *Sink[T] {
	return &Sink[T]{path: path}
}

func (s *Sink[T]) open() error {
	if s.f != nil {
		return nil
	}
	if s.closed {
		return fmt.Errorf("file sink %s: write after Close", s.path)
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("file sink: creating the directory of %s: %w", s.path, err)
	}
	f, err := os.Create(s.path)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	s.f, s.w = f, bufio.NewWriterSize(f, 64<<10)
	s.enc = json.NewEncoder(s.w)
	s.enc.SetEscapeHTML(false)
	return nil
}

// Write appends v to the buffer as one line of JSON.
func (s *Sink[T]) Write(v T) error {
	if err := s.open(); err != nil {
		return err
	}
	// Encoding &v lets a MarshalJSON declared on *T apply too.
	if err := s.enc.Encode(&v); err != nil {
		return fmt.Errorf("file sink %s: %w", s.path, err)
	}
	return nil
}

// Flush writes the buffered lines to the file.
func (s *Sink[T]) Flush() error {
	if s.w == nil {
		return nil
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("file sink %s: writing: %w", s.path, err)
	}
	return nil
}

// Close flushes the buffer, fsyncs and closes the file, creating it if no record came. Calling it
// again does nothing.
func (s *Sink[T]) Close() error {
	if s.closed {
		return nil
	}
	if err := s.open(); err != nil {
		s.closed = true
		return err
	}
	s.closed = true
	err := s.Flush()
	if serr := s.f.Sync(); serr != nil {
		err = errors.Join(err, fmt.Errorf("file sink %s: fsync: %w", s.path, serr))
	}
	if cerr := s.f.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("file sink %s: closing: %w", s.path, cerr))
	}
	s.f = nil
	return err
}
