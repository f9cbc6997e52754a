package kafka_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/kafka"
)

// signal is a slog handler that closes c the first time msg is logged.
type signal struct {
	msg  string
	c    chan struct{}
	once sync.Once
}

func (s *signal) Enabled(context.Context, slog.Level) bool { return true }
func (s *signal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == s.msg {
		s.once.Do(func() { close(s.c) })
	}
	return nil
}
func (s *signal) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *signal) WithGroup(string) slog.Handler      { return s }

// openTransaction writes evs, keyed and partitioned as kafka.NewProducer does, and an
// end-of-stream marker to each of the topic's 4 partitions, in a transaction it leaves open.
// commit ends it.
func openTransaction(t *testing.T, ctx context.Context, broker, topic string, evs []event) (commit func()) {
	t.Helper()
	part := func(topic string) func(r *kgo.Record, n int) int {
		keyed := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
		return func(r *kgo.Record, n int) int {
			if r.Key == nil {
				return int(r.Partition) // a marker names its partition
			}
			return keyed.Partition(r, n)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.TransactionalID(kafkatest.Name("open-tx")),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.BasicConsistentPartitioner(part)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for _, e := range evs {
		v, _ := json.Marshal(e)
		recs = append(recs, &kgo.Record{Key: []byte(e.K), Value: v})
	}
	for p := int32(0); p < 4; p++ {
		recs = append(recs, &kgo.Record{Partition: p, Headers: []kgo.RecordHeader{{Key: kafka.WatermarkHeader, Value: []byte("max")}}})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRunUntilIdleWaitsForOpenTransactions: a run with UntilIdle does not stop while input is
// held in a transaction still open (its records, here the second half of the events and the
// end-of-stream markers, are not readable yet); once the transaction commits, it consumes them
// and then stops, with every window fired. Counting the lag only to the last stable offset, it
// stopped before the commit and the second half was never counted.
func TestRunUntilIdleWaitsForOpenTransactions(t *testing.T) {
	ctx := kafkatest.Deadline(t, 2*time.Minute)
	broker := kafkatest.Broker(t)
	in, out, app := kafkatest.Name("in"), kafkatest.Name("out"), kafkatest.Name("app")
	evs := events(4_000)
	produceEOS(t, ctx, broker, in, evs[:2_000], 0, false)
	commit := openTransaction(t, ctx, broker, in, evs[2_000:])

	waiting := &signal{msg: "kafka: input idle and consumed up to transactions still open on it; waiting for them to end", c: make(chan struct{})}
	cfg := config(broker, app)
	cfg.StateDir = t.TempDir()
	cfg.UntilIdle = time.Second
	cfg.Logger = slog.New(waiting)
	type result struct {
		st  kafka.Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := kafka.Run(ctx, countPipeline(in, out), cfg)
		done <- result{st, err}
	}()
	select {
	case <-waiting.c:
	case r := <-done:
		t.Fatalf("the run returned (%+v, %v) while a transaction held input back", r.st, r.err)
	case <-ctx.Done():
		t.Fatal("the run never reported waiting for the open transaction")
	}
	commit()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got, want := committedLines(t, ctx, broker, out), expected(evs); !slices.Equal(got, want) {
		t.Fatalf("committed counts differ from the brute force: got %d lines, want %d\n%s", len(got), len(want), diffLines(got, want))
	}
	if r.st.Records < int64(len(evs)) {
		t.Errorf("the run read %d records, want at least %d", r.st.Records, len(evs))
	}
}
