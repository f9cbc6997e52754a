package kafka_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/kafka"
	"github.com/sluicehq/sluice/watermark"
	"github.com/sluicehq/sluice/window"
)

type event struct {
	K string `json:"k"`
	T int64  `json:"t"`
}

type count struct {
	K     string `json:"k"`
	Start int64  `json:"start"`
	N     int64  `json:"n"`
}

// events are n events over 40 keys, 1 ms apart with up to 500 ms of disorder.
func events(n int) []event {
	out := make([]event, n)
	for i := range out {
		out[i] = event{K: fmt.Sprintf("k%02d", (i*7919)%40), T: int64(i) - int64((i*31)%500)}
	}
	return out
}

// expected is the per key and 1 s window count of evs, as JSON lines.
func expected(evs []event) []string {
	m := map[count]int64{}
	for _, e := range evs {
		m[count{K: e.K, Start: e.T - ((e.T%1000)+1000)%1000}]++
	}
	var out []string
	for c, n := range m {
		c.N = n
		b, _ := json.Marshal(c)
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
}

// countPipeline counts events per key and 1 s window from in to out.
func countPipeline(in, out string) *sluice.Pipeline {
	p := sluice.NewPipeline("counts")
	src := sluice.FromSource[event](p, kafka.Topic(in, kafka.JSON[event]()).PartitionedByKey(),
		sluice.EventTimeMillis(func(e event) int64 { return e.T }, watermark.BoundedOutOfOrderness(time.Second)))
	w := sluice.Window(sluice.KeyBy(src, func(e event) string { return e.K }), window.Tumbling(time.Second))
	counts := sluice.Aggregate(w, agg.Count[event]()).UID("counts")
	sinkCounts(counts, out)
	return p
}

// sinkCounts writes per-key window counts to out as JSON count records, keyed by their key.
func sinkCounts(counts sluice.Stream[sluice.Windowed[string, int64]], out string) {
	res := sluice.Map(counts, func(r sluice.Windowed[string, int64]) count {
		return count{K: r.Key, Start: r.Window.Start, N: r.Value}
	})
	sluice.SinkTo(res, kafka.ToTopic(out, kafka.JSON[count](), kafka.Key(func(c count) []byte { return []byte(c.K) })))
}

func produce(t *testing.T, ctx context.Context, broker, topic string, evs []event, bad int) {
	t.Helper()
	produceEOS(t, ctx, broker, topic, evs, bad, true)
}

func produceEOS(t *testing.T, ctx context.Context, broker, topic string, evs []event, bad int, eos bool) {
	t.Helper()
	sendJSON(t, ctx, broker, topic, evs, func(e event) []byte { return []byte(e.K) }, eos, func() {
		if bad == 0 {
			return
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(broker)) // undecodable records, written raw
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for i := 0; i < bad; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k00"), Value: []byte("{not json")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// sendJSON writes vals as JSON to topic (created with 4 partitions), keyed by key; then calls
// before (when not nil) and, with eos, ends every partition's stream.
func sendJSON[T any](t *testing.T, ctx context.Context, broker, topic string, vals []T, key func(T) []byte, eos bool, before func()) {
	t.Helper()
	p, err := kafka.NewProducer(ctx, kafka.Config{Brokers: []string{broker}, Partitions: 4}, topic, kafka.JSON[T](), key)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vals {
		if err := p.Send(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	if before != nil {
		before()
	}
	if eos {
		if err := p.EndOfStream(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func committedLines(t *testing.T, ctx context.Context, broker, topic string) []string {
	t.Helper()
	vals, err := kafkatest.ReadCommitted(ctx, broker, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = string(v)
	}
	slices.Sort(out)
	return out
}

func config(broker, app string) kafka.Config {
	return kafka.Config{Brokers: []string{broker}, Application: app, UntilIdle: 2 * time.Second, SessionTimeout: 6 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}
}

// TestRunExactlyOnce: a keyed window count over Kafka equals the brute-force count, each result
// committed once; undecodable records are dead-lettered with their reason and origin.
func TestRunExactlyOnce(t *testing.T) {
	ctx := kafkatest.Deadline(t, 2*time.Minute)
	broker := kafkatest.Broker(t)
	in, out, app := kafkatest.Name("in"), kafkatest.Name("out"), kafkatest.Name("app")
	evs := events(20_000)
	produce(t, ctx, broker, in, evs, 3)
	cfg := config(broker, app)
	cfg.StateDir = t.TempDir()
	st, err := kafka.Run(ctx, countPipeline(in, out), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := expected(evs)
	if got := committedLines(t, ctx, broker, out); !slices.Equal(got, want) {
		t.Fatalf("committed counts differ from the brute force: got %d, want %d", len(got), len(want))
	}
	if st.DeadLetters != 3 || st.Produced != int64(len(want))+3 {
		t.Errorf("stats %+v: want 3 dead letters and %d outputs", st, len(want)+3)
	}
	if st.Repartitioned != 0 {
		t.Errorf("%d records went through a repartition topic: the source is declared partitioned by the key", st.Repartitioned)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(app+"-dlq"), kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var dead []*kgo.Record
	for len(dead) < 3 {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("dead letters: %d of 3", len(dead))
		}
		dead = append(dead, f.Records()...)
	}
	for _, r := range dead {
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		if !strings.HasPrefix(h["sluice-reason"], "undecodable record: invalid JSON") || h["sluice-topic"] != in ||
			h["sluice-offset"] == "" || string(r.Value) != "{not json" {
			t.Errorf("dead letter %q with headers %v", r.Value, h)
		}
	}
}

// TestRunResumesFromChangelog: a run stopped midway and a second member of the group (with no
// local state) together commit every count exactly once: the second restores the first's
// state from the changelog.
func TestRunResumesFromChangelog(t *testing.T) {
	ctx := kafkatest.Deadline(t, 2*time.Minute)
	broker := kafkatest.Broker(t)
	in, out, app := kafkatest.Name("in"), kafkatest.Name("out"), kafkatest.Name("app")
	evs := events(40_000)
	produceEOS(t, ctx, broker, in, evs[:20_000], 0, false)
	// The first run sees half the input, without its end, and stops when idle.
	first, err := kafka.Run(ctx, countPipeline(in, out), config(broker, app))
	if err != nil {
		t.Fatal(err)
	}
	if first.Epochs == 0 || first.Produced == 0 {
		t.Fatalf("the first run committed nothing: %+v", first)
	}
	produce(t, ctx, broker, in, evs[20_000:], 0)
	second, err := kafka.Run(ctx, countPipeline(in, out), config(broker, app))
	if err != nil {
		t.Fatal(err)
	}
	if second.Records > int64(len(evs)-20_000+8) { // the rest and one marker per partition
		t.Errorf("the second run read %d records: it did not resume from the committed offsets", second.Records)
	}
	if got, want := committedLines(t, ctx, broker, out), expected(evs); !slices.Equal(got, want) {
		t.Fatalf("counts across a restart from the changelog: got %d lines, want %d", len(got), len(want))
	}
}

// TestRunTooLargeGoesToDeadLetters: an output record above MaxRecordBytes is dead-lettered.
func TestRunTooLargeGoesToDeadLetters(t *testing.T) {
	ctx := kafkatest.Deadline(t, 2*time.Minute)
	broker := kafkatest.Broker(t)
	in, out, app := kafkatest.Name("in"), kafkatest.Name("out"), kafkatest.Name("app")
	evs := events(2_000)
	produce(t, ctx, broker, in, evs, 0)
	cfg := config(broker, app)
	cfg.MaxRecordBytes = 10 // every count is larger
	st, err := kafka.Run(ctx, countPipeline(in, out), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := int64(len(expected(evs))); st.DeadLetters != n {
		t.Fatalf("%d dead letters, want %d (every result)", st.DeadLetters, n)
	}
	if got := committedLines(t, ctx, broker, out); len(got) != 0 {
		t.Fatalf("%d oversized records reached the output", len(got))
	}
}

// TestRunAtLeastOnce: without transactions the results are complete (and exact without a crash).
func TestRunAtLeastOnce(t *testing.T) {
	ctx := kafkatest.Deadline(t, 2*time.Minute)
	broker := kafkatest.Broker(t)
	in, out, app := kafkatest.Name("in"), kafkatest.Name("out"), kafkatest.Name("app")
	evs := events(10_000)
	produce(t, ctx, broker, in, evs, 0)
	cfg := config(broker, app)
	cfg.Guarantee = kafka.AtLeastOnce
	if _, err := kafka.Run(ctx, countPipeline(in, out), cfg); err != nil {
		t.Fatal(err)
	}
	if got, want := committedLines(t, ctx, broker, out), expected(evs); !slices.Equal(got, want) {
		t.Fatalf("at-least-once counts: got %d lines, want %d", len(got), len(want))
	}
}

// TestRunBadInput: an unreachable broker and a missing topic end Run soon with errors naming
// them.
func TestRunBadInput(t *testing.T) {
	broker := kafkatest.Broker(t)
	for _, c := range []struct {
		name, broker, topic, want string
	}{
		{"unreachable broker", "127.0.0.1:1", "t", "127.0.0.1:1"},
		{"missing topic", broker, "no-such-topic-" + kafkatest.Name("x"), "does not exist"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := config(c.broker, "bad")
			cfg.ConnectTimeout = 3 * time.Second
			start := time.Now()
			_, err := kafka.Run(context.Background(), countPipeline(c.topic, "out"), cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one containing %q", err, c.want)
			}
			if c.name == "missing topic" && !strings.Contains(err.Error(), c.topic) {
				t.Fatalf("err %v does not name the topic", err)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Fatalf("took %s to fail", d)
			}
		})
	}
	cfg := config(broker, "bad")
	cfg.SASL.Mechanism = "GSSAPI"
	if _, err := kafka.Run(context.Background(), countPipeline("t", "out"), cfg); err == nil || !strings.Contains(err.Error(), "GSSAPI") {
		t.Fatalf("unknown SASL mechanism: %v", err)
	}
}

// TestRunStartOffsets: a group without committed offsets starts where Config.Start says.
func TestRunStartOffsets(t *testing.T) {
	ctx := kafkatest.Deadline(t, 2*time.Minute)
	broker := kafkatest.Broker(t)
	in := kafkatest.Name("in")
	evs := events(1_000)
	produceEOS(t, ctx, broker, in, evs, 0, false)
	for _, c := range []struct {
		name  string
		start kafka.StartOffset
		want  int64
	}{
		{"earliest", kafka.Earliest, int64(len(evs))},
		{"latest", kafka.Latest, 0},
		{"future time", kafka.AtTime(time.Now().Add(time.Hour)), 0},
		{"past time", kafka.AtTime(time.Now().Add(-time.Hour)), int64(len(evs))},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := config(broker, kafkatest.Name("app"))
			cfg.Start = c.start
			st, err := kafka.Run(ctx, countPipeline(in, kafkatest.Name("out")), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if st.Records != c.want {
				t.Fatalf("read %d records, want %d", st.Records, c.want)
			}
		})
	}
}
