package file

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// Position returns where the JSON-lines split resumes: the byte offset of the next unread line
// and its line number, so a checkpointed run goes on exactly after the last line it read.
func (r *jsonReader[T]) Position() ([]byte, error) { return encodePosition(r.lines, r.seek), nil }

// Seek makes the split resume at a position returned by Position: the file is opened there on
// the first Read.
func (r *jsonReader[T]) Seek(pos []byte) error {
	at, err := decodePosition(r.path, r.lines, pos)
	if err == nil {
		r.seek = at
	}
	return err
}

// encodePosition encodes a split's resume position: the byte offset of the next unread line and
// its line number, taken from the line reader once reading began, else from a pending Seek.
func encodePosition(lines *lineReader, pending *resumeAt) []byte {
	var off int64
	var num int
	if lines != nil {
		off, num = lines.off, lines.num
	} else if pending != nil {
		off, num = pending.off, pending.num
	}
	return binary.AppendVarint(binary.AppendVarint(nil, off), int64(num))
}

// decodePosition parses a position made by encodePosition for a split that has not begun reading.
func decodePosition(path string, lines *lineReader, pos []byte) (*resumeAt, error) {
	off, n1 := binary.Varint(pos)
	num, n2 := binary.Varint(pos[max(n1, 0):])
	if n1 <= 0 || n2 <= 0 || n1+n2 != len(pos) || off < 0 || num < 0 {
		return nil, fmt.Errorf("file: %s: bad position %x", path, pos)
	}
	if lines != nil {
		return nil, fmt.Errorf("file: %s: Seek after reading began", path)
	}
	return &resumeAt{off: off, num: int(num)}, nil
}

// resumeAt is a pending Seek.
type resumeAt struct {
	off int64
	num int
}

// openAt opens the file at a pending Seek position (or at its start).
func (s *split) openAt() (*os.File, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	if s.seek == nil {
		return f, nil
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() < s.seek.off {
		err = fmt.Errorf("the file has %d bytes, the checkpoint resumes at byte %d: it was truncated or replaced", fi.Size(), s.seek.off)
	}
	if err == nil {
		_, err = f.Seek(s.seek.off, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("file: resuming %s: %w", s.path, err)
	}
	return f, nil
}

// Position returns where the CSV split resumes: the byte offset of the next unread record and
// its line number. The header is read again from the start of the file on resume.
func (r *csvReader[T]) Position() ([]byte, error) { return encodePosition(r.lines, r.resume), nil }

// Seek makes the CSV split resume at a position returned by Position.
func (r *csvReader[T]) Seek(pos []byte) error {
	at, err := decodePosition(r.path, r.lines, pos)
	if err == nil {
		r.resume = at
	}
	return err
}

// resumeCSV reads the header (if the source has one) from the start of the file, then moves the
// reader to the pending resume position.
func (r *csvReader[T]) resumeCSV() error {
	at := r.resume
	r.resume = nil
	if at.off == 0 {
		return nil
	}
	if r.needHeader {
		rec, err := r.next()
		if err != nil {
			return fmt.Errorf("file: resuming %s: reading the header: %w", r.path, err)
		}
		if err := r.useHeader(&rec); err != nil {
			return err
		}
	}
	fi, err := r.f.Stat()
	if err == nil && fi.Size() < at.off {
		err = fmt.Errorf("the file has %d bytes, the checkpoint resumes at byte %d: it was truncated or replaced", fi.Size(), at.off)
	}
	if err == nil {
		_, err = r.f.Seek(at.off, io.SeekStart)
	}
	if err != nil {
		return fmt.Errorf("file: resuming %s: %w", r.path, err)
	}
	r.lines = newLineReader(r.f, r.max, readBufferSize)
	r.lines.off, r.lines.num, r.lines.bom = at.off, at.num, true
	return nil
}
