package kafka

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// session is the group member's consume-produce loop primitives: a transactional session
// (exactly-once) or a plain client committing after the epoch's records are acknowledged.
type session interface {
	poll(ctx context.Context) kgo.Fetches
	begin() error
	produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error))
	flush(ctx context.Context) error
	// end commits (or aborts) the epoch and reports whether it committed.
	end(ctx context.Context, commit bool) (bool, error)
	allowRebalance()
	close()
}

// openSession joins the group with the callbacks that keep the runner's partition bookkeeping.
func (r *runner) openSession() (session, error) {
	opts, err := r.cfg.clientOpts()
	if err != nil {
		return nil, err
	}
	reset := r.cfg.Start.offset()
	opts = append(opts,
		kgo.ConsumerGroup(r.cfg.Application),
		kgo.ConsumeTopics(r.topics...),
		kgo.ConsumeStartOffset(reset),
		kgo.KeepControlRecords(), // committed offsets pass the commit markers: lag 0 means done
		kgo.SessionTimeout(r.cfg.SessionTimeout),
		kgo.AdjustFetchOffsetsFn(r.onAssigned),
		kgo.OnPartitionsRevoked(r.onRevoked),
		kgo.OnPartitionsLost(r.onRevoked),
		kgo.FetchMaxWait(r.cfg.CommitInterval),
		kgo.ProducerLinger(0),
		// New output topics (created just before) get leaders within a second; the default
		// 5 s minimum between metadata refreshes would hold the first epochs that long.
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.RecordPartitioner(partitioner{manual: r.changelog}),
	)
	if r.cfg.Guarantee == AtLeastOnce {
		opts = append(opts, kgo.DisableAutoCommit())
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, fmt.Errorf("kafka: %w", err)
		}
		return &plainSession{cl: cl}, nil
	}
	id, err := r.transactionalID()
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		kgo.TransactionalID(id),
		kgo.TransactionTimeout(r.cfg.TransactionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	s, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	r.cfg.Logger.Info("kafka: joined", "group", r.cfg.Application, "topic", r.topic, "transactional_id", id)
	return &txSession{s: s, timeout: r.cfg.TransactionTimeout}, nil
}

// transactionalID is stable for a state directory, so that a restarted process fences its killed
// predecessor and aborts its open transaction at once; without one it is random.
func (r *runner) transactionalID() (string, error) {
	prefix := r.cfg.Application + "-"
	if r.cfg.StateDir == "" {
		return prefix + randomHex(), nil
	}
	path := filepath.Join(r.cfg.StateDir, "kafka", "transactional-id")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	id := prefix + randomHex()
	if err := writeFileAtomic(path, []byte(id+"\n"), true); err != nil {
		return "", fmt.Errorf("kafka: saving the transactional id: %w", err)
	}
	return id, nil
}

func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// onAssigned records the group's committed offsets of newly assigned partitions (the offsets
// given here also hold start offsets for partitions without a commit, so they are asked for).
func (r *runner) onAssigned(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	committed, err := r.admin.adm.FetchOffsets(ctx, r.cfg.Application)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: fetching the committed offsets of group %q: %w", r.cfg.Application, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for topic, parts := range offsets {
		for p := range parts {
			in := tp{topic, p}
			r.committedOffsets[in] = -1
			if c, ok := committed.Lookup(topic, p); ok && c.Err == nil && c.At >= 0 {
				r.committedOffsets[in] = c.At
			} else if topic != r.topic {
				// A repartition topic is read from its start: every record on it is the
				// group's own output, and Config.Start is about the source topic.
				parts[p] = kgo.NewOffset().AtStart()
			}
			r.revoked[in] = true // a stale task of an earlier assignment must not survive
		}
	}
	r.assignedAt = time.Now()
	return offsets, nil
}

func (r *runner) onRevoked(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			r.revoked[tp{topic, p}] = true
		}
	}
	r.assignedAt = time.Now()
}

// txSession does not block rebalances while an epoch is open (kgo.BlockRebalanceOnPoll): End
// waits for a heartbeat, which a rebalance held back by the open epoch never gives, so the two
// would wait for each other. A revoke during an epoch makes End abort, and the runner rolls back.
//
// A txSession never closes with its transaction open: close aborts it first. The broker would
// otherwise keep it open until the transaction timeout, holding back the last stable offset of
// every partition it wrote, and with it every read_committed reader of those partitions.
type txSession struct {
	s       *kgo.GroupTransactSession
	timeout time.Duration
	open    bool // a transaction was begun and has not ended
}

func (t *txSession) poll(ctx context.Context) kgo.Fetches { return t.s.PollFetches(ctx) }
func (t *txSession) begin() error {
	if err := t.s.Begin(); err != nil {
		return err
	}
	t.open = true
	return nil
}
func (t *txSession) produce(ctx context.Context, r *kgo.Record, p func(*kgo.Record, error)) {
	t.s.Produce(ctx, r, p)
}
func (t *txSession) flush(ctx context.Context) error { return t.s.Client().Flush(ctx) }
func (t *txSession) end(ctx context.Context, commit bool) (bool, error) {
	// Bounded: a session that cannot end its transaction is closed and replaced by the caller.
	ctx, cancel := context.WithTimeout(ctx, 3*t.timeout)
	defer cancel()
	committed, err := t.s.End(ctx, kgo.TransactionEndTry(commit))
	if err == nil {
		t.open = false
	}
	return committed, err
}
func (t *txSession) allowRebalance() { t.s.AllowRebalance() }
func (t *txSession) close() {
	if t.open {
		ctx, cancel := context.WithTimeout(context.Background(), t.timeout)
		_, _ = t.s.End(ctx, kgo.TryAbort)
		cancel()
	}
	t.s.CloseAllowingRebalance()
}

type plainSession struct{ cl *kgo.Client }

func (p *plainSession) poll(ctx context.Context) kgo.Fetches { return p.cl.PollFetches(ctx) }
func (p *plainSession) begin() error                         { return nil }
func (p *plainSession) produce(ctx context.Context, r *kgo.Record, f func(*kgo.Record, error)) {
	p.cl.Produce(ctx, r, f)
}
func (p *plainSession) flush(ctx context.Context) error { return p.cl.Flush(ctx) }
func (p *plainSession) end(ctx context.Context, commit bool) (bool, error) {
	if !commit {
		return false, nil
	}
	if err := p.cl.CommitUncommittedOffsets(ctx); err != nil {
		return false, err
	}
	return true, nil
}
func (p *plainSession) allowRebalance() { p.cl.AllowRebalance() }
func (p *plainSession) close()          { p.cl.CloseAllowingRebalance() }
