// Package kafkatest gives tests a real Kafka broker: the one named by SLUICE_KAFKA_BOOTSTRAP
// (make test starts it), else one started with scripts/kafka-dev (single node with a SASL/SCRAM
// listener), which is left running for the next test. Tests never skip for want of a broker.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// SASL credentials of the kafka-dev broker's SCRAM listener.
const (
	SASLUser     = "sluice"
	SASLPassword = "sluice-secret"
)

var (
	once                 sync.Once
	plain, sasl, repoDir string
	startErr             error
)

// Broker returns the bootstrap address of the plaintext listener.
func Broker(t testing.TB) string {
	t.Helper()
	ensure(t)
	return plain
}

// SASLBroker returns the bootstrap address of the SASL/SCRAM listener.
func SASLBroker(t testing.TB) string {
	t.Helper()
	ensure(t)
	return sasl
}

// Script returns the path of scripts/kafka-dev, for tests that restart the broker.
func Script(t testing.TB) string {
	t.Helper()
	ensure(t)
	return filepath.Join(repoDir, "scripts", "kafka-dev")
}

func ensure(t testing.TB) {
	once.Do(func() { startErr = start() })
	if startErr != nil {
		t.Fatalf("kafkatest: no broker: %v", startErr)
	}
}

func start() error {
	var err error
	if repoDir, err = findRepo(); err != nil {
		return err
	}
	if b := os.Getenv("SLUICE_KAFKA_BOOTSTRAP"); b != "" {
		plain, sasl = b, os.Getenv("SLUICE_KAFKA_SASL_BOOTSTRAP")
		if sasl == "" {
			sasl = "127.0.0.1:9192"
		}
		return nil
	}
	// Packages test in parallel: one starts the broker, the others wait on the lock.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "sluice-kafkatest.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	script := filepath.Join(repoDir, "scripts", "kafka-dev")
	if exec.Command(script, "status").Run() != nil {
		out, err := exec.Command(script, "start", "--sasl").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s start --sasl: %v\n%s", script, err, out)
		}
	}
	p, err := exec.Command(script, "bootstrap").Output()
	if err != nil {
		return fmt.Errorf("%s bootstrap: %v", script, err)
	}
	s, err := exec.Command(script, "bootstrap", "--sasl").Output()
	if err != nil {
		return fmt.Errorf("%s bootstrap --sasl: %v (is the running broker without --sasl? run '%s stop')", script, err, script)
	}
	plain, sasl = strings.TrimSpace(string(p)), strings.TrimSpace(string(s))
	return nil
}

func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "kafka-dev")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("scripts/kafka-dev not found above the working directory")
		}
		dir = parent
	}
}

// Name returns a name unique to this test run, for topics and groups.
func Name(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// ReadCommitted returns the value of every committed record of topic (isolation
// read_committed), up to the end of the log as it stands when called: its high watermark, not
// its last stable offset. A transaction's commit returns before the broker has written its
// markers into every partition, so the last stable offset can trail a commit that has already
// returned; reading to the high watermark waits for those markers instead of missing the last
// transaction's records. A transaction still open at the end of the log is waited for (until ctx
// ends): callers read once every writer has ended its transactions.
func ReadCommitted(ctx context.Context, broker, topic string, opts ...kgo.Opt) ([][]byte, error) {
	adm, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(broker)}, opts...)...)
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	adm.Close()
	if err != nil {
		return nil, fmt.Errorf("listing the end of %s: %w", topic, err)
	}
	want, limit := map[int32]int64{}, map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		limit[o.Partition] = o.Offset
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.KeepControlRecords(),
		kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted())}, opts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var vals [][]byte
	for len(want) > 0 {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return vals, fmt.Errorf("reading %s: %d partitions not read to their end: %w", topic, len(want), ctx.Err())
		}
		f.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset >= end-1 {
				delete(want, r.Partition)
			}
			if !r.Attrs.IsControl() && r.Offset < limit[r.Partition] {
				vals = append(vals, r.Value)
			}
		})
	}
	return vals, nil
}

// OngoingTransactions returns the transactional ids beginning with prefix whose transaction is
// open (state Ongoing): begun, written to, and neither committed nor aborted. A writer that has
// returned must leave none, or its partitions' last stable offset stays behind until the broker
// times the transaction out.
func OngoingTransactions(ctx context.Context, broker, prefix string) ([]string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	listed, err := kadm.NewClient(cl).ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil {
		return nil, fmt.Errorf("listing transactions: %w", err)
	}
	var ids []string
	for _, tx := range listed.Sorted() {
		if strings.HasPrefix(tx.TxnID, prefix) {
			ids = append(ids, tx.TxnID)
		}
	}
	return ids, nil
}

// Deadline is a context for a test's broker operations.
func Deadline(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// WaitCommitted blocks until topic holds at least n committed records (or ctx ends).
func WaitCommitted(ctx context.Context, broker, topic string, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic),
		kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return err
	}
	defer cl.Close()
	seen := 0
	for seen < n {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for %d records in %s, saw %d: %w", n, topic, seen, ctx.Err())
		}
		seen += f.NumRecords()
	}
	return nil
}

// Dedicated starts a single-node cluster of its own (ports from portBase, state in a temporary
// folder), for a test that restarts its broker without disturbing tests sharing the usual one.
// It is stopped when the test ends. It returns the bootstrap address and the kafka-dev command
// bound to that cluster.
//
// extraConfig lines are appended to every node's server.properties (later keys win), for
// listeners kafka-dev does not make itself (TLS).
func Dedicated(t testing.TB, portBase int, extraConfig ...string) (string, func(args ...string) error) {
	t.Helper()
	ensureRepo(t)
	home := t.TempDir()
	run := func(args ...string) error {
		cmd := exec.Command(filepath.Join(repoDir, "scripts", "kafka-dev"), args...)
		cmd.Env = append(os.Environ(), "KAFKA_DEV_HOME="+home, fmt.Sprintf("KAFKA_DEV_PORT_BASE=%d", portBase),
			"KAFKA_DEV_EXTRA_CONFIG="+strings.Join(extraConfig, "\n"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("kafka-dev %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("start"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := run("stop"); err != nil {
			t.Error(err)
		}
	})
	return fmt.Sprintf("127.0.0.1:%d", portBase), run
}

func ensureRepo(t testing.TB) {
	if repoDir != "" {
		return
	}
	dir, err := findRepo()
	if err != nil {
		t.Fatal(err)
	}
	repoDir = dir
}
