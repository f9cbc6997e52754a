package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/sluicehq/sluice"
)

// JSONLinesSource reads files of JSON lines (one JSON value per line) into records of type T, one
// split per file. It implements sluice.Source[T]. Create one with JSONLines.
type JSONLinesSource[T any] struct {
	paths []string
	cfg   config
}

// JSONLines returns a bounded source that decodes every line of the given files into a T with
// encoding/json. paths may be glob patterns (filepath.Match syntax), expanded when the pipeline
// starts; each file is one split, read to its end. Blank lines (empty or whitespace only) are
// skipped; a line that does not decode goes to the dead-letter stream with the file, the line
// number and the decode error, and the line itself as a string. Options are set with With.
func JSONLines[T any](paths ...string) *JSONLinesSource[T] {
	return &JSONLinesSource[T]{paths: paths, cfg: defaultConfig()}
}

// With applies options (MaxLineBytes; CSV options are ignored) and returns the source.
func (s *JSONLinesSource[T]) With(opts ...Option) *JSONLinesSource[T] {
	for _, o := range opts {
		o.apply(&s.cfg)
	}
	return s
}

// Open expands the paths and returns one split reader per file. It fails, naming the path, when a
// file does not exist or a pattern matches nothing.
func (s *JSONLinesSource[T]) Open(context.Context) ([]sluice.SplitReader[T], error) {
	if err := errors.Join(s.cfg.errs...); err != nil {
		return nil, err
	}
	paths, err := expand(s.paths)
	if err != nil {
		return nil, err
	}
	readers := make([]sluice.SplitReader[T], len(paths))
	for i, p := range paths {
		readers[i] = &jsonReader[T]{split: split{path: p, max: s.cfg.maxLine}}
	}
	return readers, nil
}

// jsonReader reads one file of JSON lines.
type jsonReader[T any] struct {
	split
}

// Read decodes the next lines into dst; it returns io.EOF at the end of the file.
func (r *jsonReader[T]) Read(ctx context.Context, dst []T) ([]T, error) {
	if err := r.begin(ctx); err != nil {
		return dst, err
	}
	for range budget(dst) {
		line, tooLong, err := r.lines.next()
		if err != nil {
			return dst, r.end(err)
		}
		if tooLong {
			if err := r.rejectTooLong(line); err != nil {
				return dst, err
			}
			continue
		}
		if isBlank(line) {
			continue
		}
		var v T
		if err := decodeJSON(line, &v); err != nil {
			if err := r.rejectAt(strconv.Itoa(r.lines.num), string(line), fmt.Errorf("decoding JSON: %w", err)); err != nil {
				return dst, err
			}
			continue
		}
		dst = append(dst, v)
	}
	return dst, nil
}

// decodeJSON unmarshals line into v, turning a panic (in a user's UnmarshalJSON) into an error.
func decodeJSON[T any](line []byte, v *T) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return json.Unmarshal(line, v)
}

// isBlank reports whether line holds only JSON whitespace.
func isBlank(line []byte) bool {
	return len(bytes.TrimLeft(line, " \t\r\n")) == 0
}
