// Package httpin is an HTTP ingest source: clients POST batches of JSON records, each accepted
// batch is appended to a local durable log and fsynced before the answer, and the source's one
// split reads that log — so an acknowledged record survives a crash, and a run restored from a
// checkpoint replays the log from the position it had reached.
//
//	src, err := httpin.New[Click](httpin.Dir("state/ingest"), httpin.Addr("127.0.0.1:8080"))
//	if err != nil { … }
//	defer src.Close()
//	clicks := sluice.FromSource(p, src, sluice.EventTime(func(c Click) time.Time { return c.At }))
//
// Without Addr, mount Source.Handler in your own server. A request body is a JSON array of
// records or JSON lines. Each record is validated when it arrives (it must decode into a T); the
// valid records of a batch are appended even when others are rejected, and the answer lists the
// rejected ones with their index and reason:
//
//	200 {"accepted":2,"rejected":[{"index":1,"error":"json: cannot unmarshal string into Go struct field Click.at of type int64"}]}
//
// Statuses: 200 when at least one record was accepted or the batch was empty; 400 when every
// record was rejected or the body cannot be split into records; 405 for a method other than
// POST; 413 for a body over MaxBodyBytes; 415 for an unsupported Content-Type or
// Content-Encoding; 503 when the log cannot be written (a full disk) or the source is closed —
// then nothing of the batch is acknowledged. Bad input never gets a 5xx.
//
// The log's on-disk format is specified in docs/format/ingest-log.md.
package httpin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
)

// shutdownTimeout bounds how long Close waits for requests in progress.
const shutdownTimeout = 5 * time.Second

// Source is an HTTP ingest source; it implements sluice.Source[T]. Create one with New; Close it
// after the pipelines that read it have stopped.
type Source[T any] struct {
	cfg           config
	decode        func([]byte) (T, error)
	customDecoder bool
	log           *ingestLog
	srv           *http.Server
	ln            net.Listener
	served        chan struct{}
	stats         counters
	closeOnce     sync.Once
	closeErr      error
}

// New opens (or creates) the log in Dir, cutting a torn tail left by a crash, and, with Addr,
// starts serving. It fails when an option is invalid, the log cannot be opened, or the address
// cannot be listened on.
func New[T any](opts ...Option) (*Source[T], error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.dir == "" {
		cfg.fail("Dir is required")
	}
	s := &Source[T]{decode: decodeJSON[T]}
	if cfg.decode != nil {
		d, ok := cfg.decode.(func([]byte) (T, error))
		if !ok {
			cfg.fail("Decoder: the function decodes a %v, the source's records are %v", cfg.decodeT, reflect.TypeFor[T]())
		}
		s.decode, s.customDecoder = d, true
	}
	if err := cfg.err(); err != nil {
		return nil, err
	}
	s.cfg = cfg
	var err error
	if s.log, err = openLog(cfg.dir, cfg.segment, cfg.fs, cfg.logger); err != nil {
		return nil, err
	}
	if cfg.addr != "" {
		if err := s.serve(); err != nil {
			s.log.close()
			return nil, err
		}
	}
	return s, nil
}

func decodeJSON[T any](p []byte) (T, error) {
	var v T
	err := json.Unmarshal(p, &v)
	return v, err
}

// serve starts the server of Addr.
func (s *Source[T]) serve() error {
	ln, err := net.Listen("tcp", s.cfg.addr)
	if err != nil {
		return fmt.Errorf("httpin: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(s.cfg.path, s.Handler())
	s.ln, s.served = ln, make(chan struct{})
	// Timeouts bound slow clients; there is no write timeout, so that an answer is never cut
	// after its batch was committed.
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.cfg.logger.Handler(), slog.LevelWarn)}
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.cfg.logger.Error("httpin: the server stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
	return nil
}

// Handler returns the HTTP handler that ingests POSTed batches. It answers at any path; mount it
// where you like. It may be used before a pipeline reads the source: accepted batches wait in
// the log.
func (s *Source[T]) Handler() http.Handler { return handler[T]{s: s} }

// Addr returns the address the server started by the Addr option listens on (with its port
// resolved when the option gave port 0), or "" without a server.
func (s *Source[T]) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Open returns the source's one split. It reads the log from its oldest record, unless the
// runtime resumes it from a checkpointed position (Seek); it never ends by itself: cancel the
// pipeline to stop it. Each call returns an independent split.
func (s *Source[T]) Open(context.Context) ([]sluice.SplitReader[T], error) {
	s.log.mu.Lock()
	closed := s.log.closed
	s.log.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	sp := &split[T]{log: s.log, decode: s.decode, pos: position{seg: s.log.start(), off: headerSize}}
	return []sluice.SplitReader[T]{sp}, nil
}

// Truncate deletes the log's segment files that hold only records before position before (a
// split's Position, as stored in a checkpoint). Pass the position of the oldest checkpoint you
// keep: a run restored from an older one, or a run started without a checkpoint, no longer finds
// the deleted records, and a split that is resumed into a deleted segment, or is still reading
// one, fails. The segment being written is never deleted. Without calls to Truncate the log grows
// without bound.
func (s *Source[T]) Truncate(before []byte) error {
	p, err := decodePosition(before)
	if err != nil {
		return err
	}
	n, err := s.log.truncate(p.seg)
	if n > 0 {
		s.cfg.logger.Info("ingest log: deleted old segments", "dir", s.cfg.dir, "segments", n, "before", p.String())
	}
	return err
}

// Close stops the server started by Addr (waiting up to 5 s for requests in progress), then
// closes the log: later requests are answered 503, and a split still reading returns ErrClosed
// once it has read everything. Cancel the pipelines that read the source before closing it.
func (s *Source[T]) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			if err := s.srv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("httpin: stopping the server: %w", err))
				s.srv.Close()
			}
			cancel()
			<-s.served
		}
		if err := s.log.close(); err != nil {
			errs = append(errs, fmt.Errorf("httpin: closing the log: %w", err))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Stats are a source's counts since New.
type Stats struct {
	// Requests is the number of requests answered, whatever the status.
	Requests int64
	// Accepted is the number of records appended to the log and acknowledged.
	Accepted int64
	// Rejected is the number of records rejected at ingest (invalid, too large).
	Rejected int64
	// Batches is the number of batches appended to the log.
	Batches int64
	// Failed is the number of batches answered 503 because the log could not be written.
	Failed int64
}

type counters struct {
	requests, accepted, rejected, batches, failed atomic.Int64
}

// Stats returns the source's counts; it is safe to call at any time.
func (s *Source[T]) Stats() Stats {
	return Stats{Requests: s.stats.requests.Load(), Accepted: s.stats.accepted.Load(),
		Rejected: s.stats.rejected.Load(), Batches: s.stats.batches.Load(), Failed: s.stats.failed.Load()}
}
