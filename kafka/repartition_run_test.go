package kafka_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/kafka"
	"github.com/sluicehq/sluice/watermark"
	"github.com/sluicehq/sluice/window"
)

type click struct {
	Page string `json:"page"`
	User string `json:"user"`
	T    int64  `json:"t"`
}

// clicks are the n events as clicks on their key's page, by 25 users.
func clicks(n int) []click {
	out := make([]click, n)
	for i, e := range events(n) {
		out[i] = click{Page: e.K, User: fmt.Sprintf("u%02d", (i*104729)%25), T: e.T}
	}
	return out
}

// perUser is the brute-force count per user and 1 s window, as JSON lines.
func perUser(cs []click) []string {
	evs := make([]event, len(cs))
	for i, c := range cs {
		evs[i] = event{K: c.User, T: c.T}
	}
	return expected(evs)
}

// perUserPipeline counts clicks, keyed by page in their topic, per user: the KeyBy on the user
// writes through the repartition topic <app>-per-user-repartition.
func perUserPipeline(in, out string) *sluice.Pipeline {
	p := sluice.NewPipeline("per-user")
	src := sluice.FromSource[click](p, kafka.Topic(in, kafka.JSON[click]()),
		sluice.EventTimeMillis(func(c click) int64 { return c.T }, watermark.BoundedOutOfOrderness(time.Second)))
	// The topic is partitioned by page, not by user: the KeyBy writes through a repartition topic.
	byUser := sluice.KeyBy(sluice.Map(src, func(c click) click { return c }), func(c click) string { return c.User })
	counts := sluice.Aggregate(sluice.Window(byUser, window.Tumbling(time.Second)), agg.Count[click]()).UID("per-user")
	sinkCounts(counts, out)
	return p
}

func produceClicks(t *testing.T, ctx context.Context, broker, topic string, cs []click, eos bool) {
	t.Helper()
	sendJSON(t, ctx, broker, topic, cs, func(c click) []byte { return []byte(c.Page) }, eos, nil)
}

// TestRunRepartitionExactlyOnce: a pipeline that re-keys (clicks keyed by page, counted per user)
// over two Run instances, one of them stopped midway and started again, commits the brute-force
// counts exactly once. The repartition topic is created with the source's partitions, and the
// watermark crosses it: every window fires.
func TestRunRepartitionExactlyOnce(t *testing.T) {
	ctx := kafkatest.Deadline(t, 3*time.Minute)
	broker := kafkatest.Broker(t)
	in, out, app := kafkatest.Name("in"), kafkatest.Name("out"), kafkatest.Name("app")
	cs := clicks(30_000)
	produceClicks(t, ctx, broker, in, cs[:15_000], false)
	want := perUser(cs)
	logs := &restoreCounter{}
	defer func() {
		if t.Failed() {
			t.Logf("the runs' log:\n%s", logs.text())
		}
	}()

	var (
		mu    sync.Mutex
		stats []kafka.Stats
		errs  []error
		wg    sync.WaitGroup
	)
	waitCtx, failed := context.WithCancel(ctx) // the wait below ends early if a run fails
	defer failed()
	var runs atomic.Int64
	run := func(ctx context.Context) {
		defer wg.Done()
		n := runs.Add(1)
		cfg := config(broker, app)
		cfg.StateDir = t.TempDir()
		cfg.Logger = slog.New(logs).With("run", n)
		st, err := kafka.Run(ctx, perUserPipeline(in, out), cfg)
		if err != nil {
			failed()
		}
		mu.Lock()
		defer mu.Unlock()
		stats, errs = append(stats, st), append(errs, err)
	}
	firstCtx, stopFirst := context.WithCancel(ctx)
	defer stopFirst()
	wg.Add(2)
	go run(firstCtx)
	go run(ctx)
	// Stop the first instance once results are coming out; its partitions move to the second,
	// with their state. The rest of the input comes, and a new instance joins.
	if err := kafkatest.WaitCommitted(waitCtx, broker, out, 1); err != nil {
		stopFirst()
		wg.Wait()
		t.Fatalf("waiting for results: %v (runs: %v)", err, errs)
	}
	stopFirst()
	produceClicks(t, ctx, broker, in, cs[15_000:], true)
	wg.Add(1)
	go run(ctx)
	wg.Wait()
	if open, err := kafkatest.OngoingTransactions(ctx, broker, app+"-"); err != nil || len(open) > 0 {
		t.Errorf("transactions left open by the runs that returned: %v (%v)", open, err)
	}
	var repart, records int64
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		repart += stats[i].Repartitioned
		records += stats[i].Records
	}
	if got := committedLines(t, ctx, broker, out); !slices.Equal(got, want) {
		t.Fatalf("committed counts differ from the brute force: got %d lines, want %d\n%s", len(got), len(want), diffLines(got, want))
	}
	if records < int64(len(cs)) || repart < int64(len(cs)) {
		t.Errorf("runs read %d source and %d repartition records, want at least %d of each", records, repart, len(cs))
	}
	checkRepartitionTopic(t, ctx, broker, app+"-per-user-repartition", 4)
	if n := logs.restored.Load(); n == 0 {
		t.Errorf("no task was restored from the changelog: the stop moved no state")
	}
}

// restoreCounter is a slog handler that counts restores from the changelog and keeps the log,
// shown when the test fails.
type restoreCounter struct {
	restored atomic.Int64
	mu       sync.Mutex
	buf      bytes.Buffer
	attrs    []slog.Attr
	parent   *restoreCounter
}

func (h *restoreCounter) root() *restoreCounter {
	if h.parent != nil {
		return h.parent
	}
	return h
}

func (h *restoreCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *restoreCounter) Handle(_ context.Context, r slog.Record) error {
	root := h.root()
	if r.Message == "kafka: restored from the changelog" {
		root.restored.Add(1)
	}
	root.mu.Lock()
	defer root.mu.Unlock()
	fmt.Fprintf(&root.buf, "%s %s %s", r.Time.Format("15:04:05.000"), r.Level, r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&root.buf, " %s", a)
	}
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&root.buf, " %s", a); return true })
	root.buf.WriteByte('\n')
	return nil
}
func (h *restoreCounter) WithAttrs(as []slog.Attr) slog.Handler {
	return &restoreCounter{parent: h.root(), attrs: append(slices.Clip(h.attrs), as...)}
}
func (h *restoreCounter) WithGroup(string) slog.Handler { return h }

func (h *restoreCounter) text() string {
	root := h.root()
	root.mu.Lock()
	defer root.mu.Unlock()
	return root.buf.String()
}

// checkRepartitionTopic asserts the topic exists with parts partitions and holds keyed records
// in the partitions murmur2 gives their keys.
func checkRepartitionTopic(t *testing.T, ctx context.Context, broker, topic string, parts int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tds, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil || tds[topic].Err != nil || len(tds[topic].Partitions) != parts {
		t.Fatalf("repartition topic %q: %v %+v, want %d partitions", topic, err, tds[topic], parts)
	}
	f := cl.PollFetches(ctx)
	part := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	n := 0
	f.EachRecord(func(r *kgo.Record) {
		if r.Key == nil {
			return // a watermark marker
		}
		n++
		if want := int32(part.Partition(r, parts)); r.Partition != want {
			t.Errorf("key %q in partition %d, want murmur2's %d", r.Key, r.Partition, want)
		}
	})
	if n == 0 {
		t.Errorf("no keyed record read from %q", topic)
	}
}

// diffLines shows the first few lines only one side has.
func diffLines(got, want []string) string {
	var s string
	only := func(label string, a, b []string) {
		n := 0
		for _, l := range a {
			if !slices.Contains(b, l) {
				if n++; n <= 5 {
					s += label + l + "\n"
				}
			}
		}
		if n > 5 {
			s += fmt.Sprintf("%s%d more\n", label, n-5)
		}
	}
	only("extra: ", got, want)
	only("missing: ", want, got)
	return s
}
