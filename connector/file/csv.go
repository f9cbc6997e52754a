package file

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"unicode/utf8"

	"github.com/sluicehq/sluice"
)

// CSVSource reads CSV files into records of type T, one split per file. It implements
// sluice.Source[T]. Create one with CSV.
type CSVSource[T any] struct {
	paths  []string
	cfg    config
	decode func(record, header []string) (T, error)
	plan   *structPlan
}

// CSV returns a bounded source that decodes the records of the given CSV files (RFC 4180, as
// encoding/csv reads them: quoted fields may hold delimiters, doubled quotes and line breaks).
// paths may be glob patterns, expanded when the pipeline starts; each file is one split, read to
// its end. Empty lines are skipped.
//
// By default each file starts with a header row, and T is a struct whose fields the columns fill:
// a column fills the field whose `csv:"name"` tag, else whose name, equals the column's name
// (exactly, else ignoring case); columns that name no field are ignored. Supported field types
// are strings, integers, unsigned integers, floats, bools, time.Time (RFC 3339) and any type
// whose pointer implements encoding.TextUnmarshaler; a cell of a non-string field is trimmed of
// spaces and an empty one leaves the field at its zero value. With Header(false), columns fill
// the supported fields in declaration order. CSVDecoder replaces the mapping with a function.
//
// A record that cannot be decoded (a misplaced quote, a field count that differs from the
// header's, a cell that does not parse) goes to the dead-letter stream with the file, the line and
// the reason, and the record's text as a string. A header that cannot be read fails the pipeline.
func CSV[T any](paths []string, opts ...Option) *CSVSource[T] {
	s := &CSVSource[T]{paths: paths, cfg: defaultConfig()}
	for _, o := range opts {
		o.apply(&s.cfg)
	}
	if s.cfg.decode != nil {
		f, ok := s.cfg.decode.(func(record, header []string) (T, error))
		if !ok {
			s.cfg.fail("CSVDecoder: %T does not decode %s, the type of the source", s.cfg.decode, reflect.TypeFor[T]())
		}
		s.decode = f
		return s
	}
	plan, err := newStructPlan(reflect.TypeFor[T]())
	if err != nil {
		s.cfg.errs = append(s.cfg.errs, err)
	}
	s.plan = plan
	return s
}

// Open expands the paths and returns one split reader per file. It fails, naming the path, when a
// file does not exist or a pattern matches nothing, and when T cannot be decoded from CSV.
func (s *CSVSource[T]) Open(context.Context) ([]sluice.SplitReader[T], error) {
	if err := errors.Join(s.cfg.errs...); err != nil {
		return nil, err
	}
	paths, err := expand(s.paths)
	if err != nil {
		return nil, err
	}
	readers := make([]sluice.SplitReader[T], len(paths))
	for i, p := range paths {
		r := &csvReader[T]{split: split{path: p, max: s.cfg.maxLine},
			parser: csvParser{comma: utf8.AppendRune(nil, s.cfg.comma)}, decode: s.decode, needHeader: s.cfg.header}
		if r.decode == nil && !s.cfg.header {
			r.decode = byPosition[T](s.plan)
		}
		r.plan = s.plan
		readers[i] = r
	}
	return readers, nil
}

// csvReader reads one CSV file.
type csvReader[T any] struct {
	split
	parser     csvParser
	plan       *structPlan
	decode     func(record, header []string) (T, error)
	needHeader bool
	header     []string
	rec        []byte    // the text of the record being read
	resume     *resumeAt // a pending Seek, applied after the header is read
}

// csvRecord is one record as read: its fields or why it cannot be parsed, its lines and its text.
type csvRecord struct {
	fields      []string
	first, last int
	raw         string
	problem     error
}

// lines names the record's lines: "7", or "7-9" for a record that spans lines.
func (r *csvRecord) lines() string {
	if r.first == r.last {
		return strconv.Itoa(r.first)
	}
	return strconv.Itoa(r.first) + "-" + strconv.Itoa(r.last)
}

// Read decodes the next records into dst; it returns io.EOF at the end of the file.
func (r *csvReader[T]) Read(ctx context.Context, dst []T) ([]T, error) {
	if err := r.begin(ctx); err != nil {
		return dst, err
	}
	if r.resume != nil {
		if err := r.resumeCSV(); err != nil {
			return dst, err
		}
	}
	for range budget(dst) {
		rec, err := r.next()
		if err != nil {
			return dst, err
		}
		if r.needHeader {
			if err := r.useHeader(&rec); err != nil {
				return dst, err
			}
			continue
		}
		if rec.problem == nil && r.header != nil && len(rec.fields) != len(r.header) {
			rec.problem = fmt.Errorf("record has %d fields, the header has %d", len(rec.fields), len(r.header))
		}
		var v T
		if rec.problem == nil {
			v, rec.problem = r.decodeRecord(rec.fields)
		}
		if rec.problem != nil {
			if err := r.rejectAt(rec.lines(), rec.raw, rec.problem); err != nil {
				return dst, err
			}
			continue
		}
		dst = append(dst, v)
	}
	return dst, nil
}

// useHeader takes the first record as the header and, without a CSVDecoder, maps its columns to
// the fields of T.
func (r *csvReader[T]) useHeader(rec *csvRecord) error {
	if rec.problem != nil {
		return fmt.Errorf("file: %s:%s: reading the CSV header: %w", r.path, rec.lines(), rec.problem)
	}
	r.needHeader, r.header = false, rec.fields
	if r.decode != nil {
		return nil
	}
	decode, err := byHeader[T](r.plan, r.header)
	if err != nil {
		return fmt.Errorf("file: %s:%s: CSV header: %w", r.path, rec.lines(), err)
	}
	r.decode = decode
	return nil
}

// decodeRecord runs the decoder, turning a panic in a user's decoder into an error.
func (r *csvReader[T]) decodeRecord(fields []string) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return r.decode(fields, r.header)
}

// next reads the next record, joining the lines of quoted fields that span lines. A record that
// cannot be parsed comes back with its problem set. The error is io.EOF at the end of the file (or
// a read error), after the file is closed.
func (r *csvReader[T]) next() (csvRecord, error) {
	var line []byte
	var tooLong bool
	var err error
	for { // skip empty lines
		line, tooLong, err = r.lines.next()
		if err != nil {
			return csvRecord{}, r.end(err)
		}
		if len(line) > 0 || tooLong {
			break
		}
	}
	rec := csvRecord{first: r.lines.num, last: r.lines.num}
	if tooLong {
		rec.raw, rec.problem = preview(line), r.tooLongError()
		return rec, nil
	}
	r.rec = append(r.rec[:0], line...)
	fields, complete, at, perr := r.parser.parse(r.rec)
	for {
		if complete {
			rec.fields, rec.raw = fields, string(r.rec)
			switch {
			case perr != nil && rec.first != rec.last:
				rec.problem = fmt.Errorf("line %d: %w", rec.first+countNL(r.rec[:at]), perr)
			case perr != nil:
				rec.problem = perr
			}
			return rec, nil
		}
		// A quoted field goes on on the next line.
		line, tooLong, err = r.lines.next()
		if errors.Is(err, io.EOF) {
			rec.raw, rec.problem = string(r.rec), fmt.Errorf("%w (the quoted field is not closed at the end of the file)", csv.ErrQuote)
			return rec, nil
		}
		if err != nil {
			return csvRecord{}, r.end(err)
		}
		rec.last = r.lines.num
		if tooLong || len(r.rec)+1+len(line) > r.max {
			r.rec = append(append(r.rec, '\n'), line[:min(len(line), previewBytes)]...)
			rec.raw, rec.problem = preview(r.rec), fmt.Errorf("record longer than %d bytes (the dead letter keeps its first %d)", r.max, previewBytes)
			return rec, nil
		}
		r.rec = append(append(r.rec, '\n'), line...)
		fields, complete, at, perr = r.parser.resume(r.rec)
	}
}

func (r *csvReader[T]) tooLongError() error {
	return fmt.Errorf("line longer than %d bytes (the dead letter keeps its first %d)", r.max, previewBytes)
}

// countNL counts the line breaks in b.
func countNL(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}
