package kafka

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Guarantee is the delivery guarantee of Run.
type Guarantee uint8

const (
	// ExactlyOnce commits each epoch as one Kafka transaction (the default).
	ExactlyOnce Guarantee = iota
	// AtLeastOnce produces without transactions and commits offsets after the epoch's records
	// are acknowledged: the lowest latency, with duplicates after a failure.
	AtLeastOnce
)

// SASL is the SASL authentication of the clients.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string
	User      string
	Password  string
}

// Config configures Run and ProduceOnly.
type Config struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string
	// Application names the consumer group, the transactional ids and the internal topics
	// (<application>-changelog, <application>-dlq). Required by Run.
	Application string
	// StateDir keeps local snapshots of the tasks' state and this process's transactional id, so
	// that a restarted process fences its predecessor at once. Empty: no local state (state is
	// restored from the changelog, and a killed process's open transaction is aborted only when it
	// times out).
	StateDir string
	// CommitInterval is the length of an epoch. Default 100 ms.
	CommitInterval time.Duration
	// Guarantee is ExactlyOnce (default) or AtLeastOnce.
	Guarantee Guarantee
	// UntilIdle ends Run, with a nil error, once no record has arrived for this long. 0: run until
	// the context is done.
	UntilIdle time.Duration
	// Start is where partitions without a committed offset begin: Earliest (the default),
	// Latest, or AtTime.
	Start StartOffset
	// TLS, when set, connects with TLS.
	TLS *tls.Config
	// SASL, when its Mechanism is set, authenticates.
	SASL SASL
	// ConnectTimeout bounds the start-up checks (reaching a broker, finding the topics).
	// Default 15 s.
	ConnectTimeout time.Duration
	// MaxRecordBytes is the largest output record (key, value and headers) sent to its topic;
	// larger ones go to the dead-letter topic. Default 1,000,000 (below the broker's default
	// message.max.bytes).
	MaxRecordBytes int
	// Partitions is the partition count of topics Run or ProduceOnly creates (sink, dead-letter
	// and repartition topics). Default: the source topic's, else 12.
	Partitions int32
	// ReplicationFactor of created topics. Default 1.
	ReplicationFactor int16
	// TransactionTimeout is how long the broker waits before aborting a dead process's open
	// transaction. Default 10 s.
	TransactionTimeout time.Duration
	// SessionTimeout is the consumer group session timeout. Default 10 s.
	SessionTimeout time.Duration
	// RetryFor is how long Run keeps rejoining after session failures (a broker restart, a lost
	// connection) before it gives up. Default 2 min.
	RetryFor time.Duration
	// Logger receives progress and errors. Default slog.Default().
	Logger *slog.Logger
	// NoHugePages leaves the heap on the kernel's default pages. Default: Run asks Linux for
	// transparent huge pages for the heap (docs/operations/memory.md).
	NoHugePages bool
}

func (c *Config) defaults() error {
	if len(c.Brokers) == 0 {
		return fmt.Errorf("kafka: no brokers configured")
	}
	if c.CommitInterval <= 0 {
		c.CommitInterval = 100 * time.Millisecond
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 15 * time.Second
	}
	if c.MaxRecordBytes <= 0 {
		c.MaxRecordBytes = 1_000_000
	}
	if c.ReplicationFactor <= 0 {
		c.ReplicationFactor = 1
	}
	if c.TransactionTimeout <= 0 {
		c.TransactionTimeout = 10 * time.Second
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.RetryFor <= 0 {
		c.RetryFor = 2 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// StartOffset is where a partition without a committed offset begins.
type StartOffset struct {
	latest bool
	atMS   int64 // > 0: the first record at or after this time
}

var (
	// Earliest starts at the oldest record (the default).
	Earliest = StartOffset{}
	// Latest starts after the newest record.
	Latest = StartOffset{latest: true}
)

// AtTime starts at the first record whose timestamp is at or after t.
func AtTime(t time.Time) StartOffset { return StartOffset{atMS: max(t.UnixMilli(), 1)} }

func (s StartOffset) offset() kgo.Offset {
	switch {
	case s.atMS > 0:
		return kgo.NewOffset().AfterMilli(s.atMS)
	case s.latest:
		return kgo.NewOffset().AtEnd()
	}
	return kgo.NewOffset().AtStart()
}

// ParseBrokers splits a comma-separated broker list.
func ParseBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// clientOpts are the options every client of Run shares: brokers, TLS, SASL.
func (c *Config) clientOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.DialTimeout(5 * time.Second)}
	if c.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(c.TLS))
	}
	switch m := strings.ToUpper(c.SASL.Mechanism); m {
	case "":
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: c.SASL.User, Pass: c.SASL.Password}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASL.User, Pass: c.SASL.Password}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASL.User, Pass: c.SASL.Password}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("kafka: unknown SASL mechanism %q (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", c.SASL.Mechanism)
	}
	return opts, nil
}
