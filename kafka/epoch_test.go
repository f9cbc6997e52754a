package kafka

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// fakeSession records how the runner uses its session. Like the real client, its calls fail
// once their context is done.
type fakeSession struct {
	begun, committed, aborted int
	flushErr                  error
}

func (s *fakeSession) poll(context.Context) kgo.Fetches { return nil }
func (s *fakeSession) begin() error                     { s.begun++; return nil }
func (s *fakeSession) produce(ctx context.Context, r *kgo.Record, p func(*kgo.Record, error)) {
	p(r, ctx.Err())
}
func (s *fakeSession) flush(ctx context.Context) error {
	if s.flushErr != nil {
		return s.flushErr
	}
	return ctx.Err()
}
func (s *fakeSession) end(ctx context.Context, commit bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if commit {
		s.committed++
	} else {
		s.aborted++
	}
	return commit, nil
}
func (s *fakeSession) allowRebalance() {}
func (s *fakeSession) close()          {}

func fakeRunner(s session) *runner {
	r := &runner{sess: s, tasks: map[tp]*task{}, cfg: Config{Brokers: []string{"127.0.0.1:1"}, Logger: slog.New(slog.DiscardHandler)}}
	_ = r.cfg.defaults()
	r.epoch.byTopic, r.stats.ByTopic = map[string]int64{}, map[string]int64{}
	return r
}

// TestEpochOutlivesTheRunContext: an epoch whose run is stopped (its context cancelled) while it
// is open still ends its transaction. A transaction left open would hold back the last stable
// offset of every partition it wrote until the broker timed it out, hiding the records after it
// from every read_committed reader (the cause of a flaky TestRunRepartitionExactlyOnce).
func TestEpochOutlivesTheRunContext(t *testing.T) {
	s := &fakeSession{}
	r := fakeRunner(s)
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.beginEpoch(ctx); err != nil {
		t.Fatal(err)
	}
	r.pending = append(r.pending, &kgo.Record{Topic: "out", Value: []byte("a result")})
	r.flushPending(r.epochCtx)
	cancel() // the run is stopped while the epoch is open
	if err := r.endEpoch(ctx); err != nil {
		t.Fatalf("ending the epoch of a stopped run: %v", err)
	}
	if s.committed != 1 || s.aborted != 0 {
		t.Fatalf("the stopped run's epoch: %d commits and %d aborts, want it committed", s.committed, s.aborted)
	}
	if r.epochCtx != nil {
		t.Error("the epoch's context outlives the epoch")
	}
}

// TestEpochAbortsWhenFlushFails: an epoch whose records cannot be flushed aborts its transaction
// before the runner gives up on the session.
func TestEpochAbortsWhenFlushFails(t *testing.T) {
	s := &fakeSession{flushErr: errors.New("broker gone")}
	r := fakeRunner(s)
	if err := r.beginEpoch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.endEpoch(context.Background()); err == nil {
		t.Fatal("an epoch whose flush failed ended without an error")
	}
	if s.aborted != 1 || s.committed != 0 {
		t.Fatalf("after a failed flush: %d aborts and %d commits, want the transaction aborted", s.aborted, s.committed)
	}
}
