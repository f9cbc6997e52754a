package httpin

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
)

// Option configures New. Options are validated by New, which fails with an error naming every
// invalid one.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Defaults of the options.
const (
	// DefaultPath is the default of Path.
	DefaultPath = "/ingest"
	// DefaultMaxBodyBytes is the default of MaxBodyBytes: 8 MiB.
	DefaultMaxBodyBytes = 8 << 20
	// DefaultMaxRecordBytes is the default of MaxRecordBytes: 1 MiB.
	DefaultMaxRecordBytes = 1 << 20
	// DefaultSegmentBytes is the default of SegmentBytes: 64 MiB.
	DefaultSegmentBytes = 64 << 20
)

type config struct {
	dir       string
	addr      string
	path      string
	maxBody   int64
	maxRecord int
	segment   int64
	decode    any // func([]byte) (T, error)
	decodeT   reflect.Type
	logger    *slog.Logger
	fs        fileSystem
	errs      []error
}

func defaultConfig() config {
	return config{path: DefaultPath, maxBody: DefaultMaxBodyBytes, maxRecord: DefaultMaxRecordBytes,
		segment: DefaultSegmentBytes, logger: slog.Default(), fs: osFS{}}
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("httpin: "+format, args...))
}

func (c *config) err() error { return errors.Join(c.errs...) }

// Dir sets the folder of the durable ingest log, created if missing. Every accepted batch is
// appended there and fsynced before the request is answered; the split replays it. One Source at a
// time may use a folder (this is not enforced). Required.
func Dir(path string) Option {
	return optionFunc(func(c *config) {
		if path == "" {
			c.fail("Dir: empty path")
			return
		}
		c.dir = path
	})
}

// Addr makes New start an HTTP server on the address (for example "127.0.0.1:8080", or
// "127.0.0.1:0" for any free port; see Source.Addr) that serves the handler at Path; Close stops
// it. The server allows 10 s to read a request's headers, 1 min for the whole request, and keeps
// idle connections 2 min. Default: no server — mount Source.Handler in your own.
func Addr(hostport string) Option {
	return optionFunc(func(c *config) {
		if hostport == "" {
			c.fail("Addr: empty address")
			return
		}
		c.addr = hostport
	})
}

// Path sets the URL path the server started by Addr serves the handler at; other paths answer
// 404. It does not concern Source.Handler, which answers at whatever path it is mounted. Default
// "/ingest" (DefaultPath).
func Path(p string) Option {
	return optionFunc(func(c *config) {
		if len(p) == 0 || p[0] != '/' {
			c.fail("Path must start with '/', got %q", p)
			return
		}
		c.path = p
	})
}

// MaxBodyBytes sets the largest request body accepted, in bytes. A larger body is refused whole
// with 413 Request Entity Too Large, naming the limit. n must be >= 1. Default 8 MiB
// (DefaultMaxBodyBytes).
func MaxBodyBytes(n int64) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.fail("MaxBodyBytes must be >= 1, got %d", n)
			return
		}
		c.maxBody = n
	})
}

// MaxRecordBytes sets the largest record accepted, in bytes (an array element, or a line without
// its line ending). A larger record is rejected on its own, naming the limit; the other records
// of its batch are kept. n must be between 1 and 1 GiB. Default 1 MiB (DefaultMaxRecordBytes).
func MaxRecordBytes(n int) Option {
	return optionFunc(func(c *config) {
		if n < 1 || n > maxPayload {
			c.fail("MaxRecordBytes must be between 1 and %d, got %d", maxPayload, n)
			return
		}
		c.maxRecord = n
	})
}

// SegmentBytes sets the size at which the log starts a new segment file: a batch that would take
// the current segment past n bytes goes to a new one (a batch is never split, so a segment
// holding one large batch may be larger). n must be >= 1. Default 64 MiB (DefaultSegmentBytes;
// Kafka: segment.bytes).
func SegmentBytes(n int64) Option {
	return optionFunc(func(c *config) {
		if n < 1 {
			c.fail("SegmentBytes must be >= 1, got %d", n)
			return
		}
		c.segment = n
	})
}

// Decoder sets how a record's bytes become a T: at ingest, to validate it (an error rejects the
// record, with the error as the reason), and when the split reads it back from the log. decode
// must be deterministic, safe for concurrent use, and must not retain p; a panic in it counts as
// an error. Records that are array elements are checked to be valid JSON before decode sees them;
// lines are passed as they are, so decode may accept text that is not JSON. T must be the
// source's record type. Default: encoding/json into a T.
func Decoder[T any](decode func(p []byte) (T, error)) Option {
	return optionFunc(func(c *config) {
		if decode == nil {
			c.fail("Decoder: nil function")
			return
		}
		c.decode = decode
		c.decodeT = reflect.TypeFor[T]()
	})
}

// Logger sets the logger for the repair of a torn log tail, log write failures and server
// errors. Default: slog.Default().
func Logger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}
