// Package file reads and writes local files: JSON-lines and CSV sources, one split per file,
// bounded (every window fires at the end of the input), and a JSON-lines sink.
//
//	src := file.JSONLines[Click]("data/clicks-*.jsonl")
//	clicks := sluice.FromSource(p, src, sluice.EventTime(func(c Click) time.Time { return c.At }))
//	…
//	sluice.SinkTo(results, file.JSONLinesSink[Result]("out/results.jsonl"))
//
// Input that cannot be decoded is never dropped: a line that is not valid JSON for T, a CSV row
// with a bad field or the wrong number of fields, a line longer than MaxLineBytes, each goes to
// the pipeline's dead-letter stream (sluice.Pipeline.DeadLetters) with a reason naming the file
// and line, and the raw text as a string.
//
// JSON is decoded with encoding/json for now; a faster decoder (no reflection on the hot path) is
// planned and will keep the same behaviour.
package file

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Option configures a file source. Options that concern only CSV are ignored by JSONLines.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	maxLine int
	header  bool
	comma   rune
	decode  any // func(record, header []string) (T, error)
	errs    []error
}

// DefaultMaxLineBytes is the default of MaxLineBytes: 1 MiB.
const DefaultMaxLineBytes = 1 << 20

func defaultConfig() config {
	return config{maxLine: DefaultMaxLineBytes, header: true, comma: ','}
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("file: "+format, args...))
}

// MaxLineBytes sets the longest line a source accepts, in bytes, not counting the line ending;
// for CSV it also bounds a record whose quoted fields span several lines. A longer line is not
// decoded: it goes to the dead-letter stream with a reason and its first 1 KiB, and reading goes
// on with the next line. n must be >= 1. Default 1 MiB (DefaultMaxLineBytes).
func MaxLineBytes(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.fail("MaxLineBytes must be >= 1, got %d", n)
			return
		}
		c.maxLine = n
	})
}

// Header tells a CSV source whether the first record of each file is a header row naming the
// columns. With a header, columns map to struct fields by name; without one, by position. Default
// true.
func Header(has bool) Option {
	return optionFunc(func(c *config) { c.header = has })
}

// Comma sets the CSV field delimiter. It must be a valid rune other than '"', '\r' and '\n'.
// Default ','.
func Comma(r rune) Option {
	return optionFunc(func(c *config) {
		if r == '"' || r == '\r' || r == '\n' || !utf8.ValidRune(r) || r == utf8.RuneError {
			c.fail("Comma: invalid delimiter %q", r)
			return
		}
		c.comma = r
	})
}

// CSVDecoder makes a CSV source decode each record with decode instead of mapping columns to
// struct fields. decode receives the record's fields and the header (nil with Header(false)); an
// error or a panic sends the record to the dead-letter stream. T must be the source's record type.
// Default: the struct mapping described at CSV.
func CSVDecoder[T any](decode func(record, header []string) (T, error)) Option {
	return optionFunc(func(c *config) {
		if decode == nil {
			c.fail("CSVDecoder: nil function")
			return
		}
		c.decode = decode
	})
}

// expand resolves the paths and glob patterns to the files to read, each once, in order (a
// pattern's matches sorted). A path that does not exist, a directory, or a pattern that matches
// no file is an error naming it.
func expand(patterns []string) ([]string, error) {
	if len(patterns) == 0 {
		return nil, errors.New("file: no path given")
	}
	var paths []string
	seen := make(map[string]bool)
	for _, p := range patterns {
		matches := []string{p}
		if strings.ContainsAny(p, "*?[") {
			m, err := filepath.Glob(p)
			if err != nil {
				return nil, fmt.Errorf("file: pattern %q: %w", p, err)
			}
			matches = m
		}
		files := 0
		for _, m := range matches {
			fi, err := os.Stat(m)
			if err != nil {
				return nil, fmt.Errorf("file: %w", err)
			}
			if fi.IsDir() {
				if len(matches) == 1 && m == p {
					return nil, fmt.Errorf("file: %s is a directory", m)
				}
				continue // a pattern that also matches directories
			}
			files++
			if key := filepath.Clean(m); !seen[key] {
				seen[key] = true
				paths = append(paths, m)
			}
		}
		if files == 0 {
			return nil, fmt.Errorf("file: no file matches %q", p)
		}
	}
	return paths, nil
}
