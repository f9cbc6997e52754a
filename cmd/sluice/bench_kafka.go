package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/kafka"
	"github.com/sluicehq/sluice/watermark"
	"github.com/sluicehq/sluice/window"
)

// benchRecord is the Kafka benchmarks' JSON record (about 100 bytes encoded).
type benchRecord struct {
	Key   string `json:"key"`
	TS    int64  `json:"ts"`
	Value int64  `json:"value"`
	Pad   string `json:"pad"`
}

// benchKafka measures Sluice on a real broker: --mode passthrough (JSON records copied
// exactly-once), tumbling (keyed 1 s tumbling count, exactly-once, reading the topic in place),
// repartition (the same count through a repartition topic) or latency (produce to visible
// under read_committed at --rate records/s). Throughput is per CPU-second of this process while
// the pipeline runs (its own producer's time is not counted).
func benchKafka(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice bench kafka", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("kafka", "127.0.0.1:9092", "seed brokers")
	mode := fs.String("mode", "passthrough", "passthrough, tumbling, repartition or latency")
	records := fs.Int64("records", 2_000_000, "records to process (latency: records to send)")
	rate := fs.Int("rate", 10_000, "latency mode: records per second")
	interval := fs.Duration("commit-interval", 100*time.Millisecond, "epoch length")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg := kafka.Config{Brokers: kafka.ParseBrokers(*brokers), CommitInterval: *interval, Partitions: 12,
		SessionTimeout: 6 * time.Second, UntilIdle: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)}
	if os.Getenv("SLUICE_LOG") == "debug" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	name := fmt.Sprintf("bench-%s-%d", *mode, time.Now().UnixNano())
	in, out := name+"-in", name+"-out"
	cfg.Application = name
	var res map[string]any
	var err error
	switch *mode {
	case "passthrough", "tumbling", "repartition":
		res, err = benchKafkaThroughput(ctx, cfg, *mode, in, out, *records)
	case "latency":
		res, err = benchKafkaLatency(ctx, cfg, in, out, *records, *rate)
	default:
		fmt.Fprintf(stderr, "sluice bench kafka: unknown --mode %q\n", *mode)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice bench kafka: %v\n", err)
		return exitFailed
	}
	res["mode"] = *mode
	b, _ := json.Marshal(res)
	fmt.Fprintln(stdout, string(b))
	return exitOK
}

func produceBench(ctx context.Context, cfg kafka.Config, topic string, n int64, eos bool) error {
	p, err := kafka.NewProducer(ctx, cfg, topic, kafka.JSON[benchRecord](), func(r benchRecord) []byte { return []byte(r.Key) })
	if err != nil {
		return err
	}
	for i := int64(0); i < n; i++ {
		if err := p.Send(ctx, benchRecord{Key: "key-" + strconv.FormatInt(i%10_000, 10), TS: i / 100, Value: i, Pad: "0123456789012345678901234567890123456789"}); err != nil {
			return err
		}
	}
	if eos {
		if err := p.EndOfStream(ctx); err != nil {
			return err
		}
	}
	return p.Close(ctx)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchKafkaThroughput(ctx context.Context, cfg kafka.Config, mode, in, out string, n int64) (map[string]any, error) {
	if err := produceBench(ctx, cfg, in, n, true); err != nil {
		return nil, err
	}
	p := sluice.NewPipeline(cfg.Application)
	if mode == "passthrough" {
		src := sluice.FromSource[[]byte](p, kafka.Topic(in, kafka.Bytes()))
		sluice.SinkTo(src, kafka.ToTopic(out, kafka.Bytes()))
	} else {
		topic := kafka.Topic(in, kafka.JSON[benchRecord]())
		if mode == "tumbling" {
			topic = topic.PartitionedByKey()
		}
		src := sluice.FromSource[benchRecord](p, topic,
			sluice.EventTimeMillis(func(r benchRecord) int64 { return r.TS }, watermark.BoundedOutOfOrderness(time.Second)))
		w := sluice.Window(sluice.KeyBy(src, func(r benchRecord) string { return r.Key }), window.Tumbling(time.Second))
		counts := sluice.Aggregate(w, agg.Count[benchRecord]()).UID("counts")
		sluice.SinkTo(counts, kafka.ToTopic(out, kafka.JSON[sluice.Windowed[string, int64]]()))
	}
	cpu0, t0 := cpuTime(), time.Now()
	st, err := kafka.Run(ctx, p, cfg)
	if err != nil {
		return nil, err
	}
	cpu := (cpuTime() - cpu0).Seconds()
	wall := time.Since(t0).Seconds() - cfg.UntilIdle.Seconds()
	return map[string]any{"records": st.Records, "produced": st.Produced, "epochs": st.Epochs,
		"cpu_seconds": round3(cpu), "seconds": round3(wall),
		"records_per_cpu_second": round3(float64(st.Records) / cpu), "records_per_second": round3(float64(st.Records) / wall)}, nil
}

// benchKafkaLatency sends records at rate with their send time, runs an exactly-once
// pass-through, and measures when each becomes visible to a read_committed consumer.
func benchKafkaLatency(ctx context.Context, cfg kafka.Config, in, out string, n int64, rate int) (map[string]any, error) {
	if err := produceBench(ctx, cfg, in, 0, false); err != nil { // create the topic
		return nil, err
	}
	p := sluice.NewPipeline(cfg.Application)
	sluice.SinkTo(sluice.FromSource[[]byte](p, kafka.Topic(in, kafka.Bytes())), kafka.ToTopic(out, kafka.Bytes()))
	cfg.UntilIdle = 0
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { _, err := kafka.Run(runCtx, p, cfg); done <- err }()

	reader, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.ConsumeTopics(out), kgo.FetchMaxWait(10*time.Millisecond), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return nil, err
	}
	defer reader.Close()
	lat := make([]float64, 0, n)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for int64(len(lat)) < n && ctx.Err() == nil {
			f := reader.PollFetches(ctx)
			now := time.Now().UnixMicro()
			f.EachRecord(func(r *kgo.Record) {
				var br benchRecord
				if json.Unmarshal(r.Value, &br) == nil {
					lat = append(lat, float64(now-br.TS)/1000)
				}
			})
		}
	}()
	prod, err := kafka.NewProducer(ctx, cfg, in, kafka.JSON[benchRecord](), func(r benchRecord) []byte { return []byte(r.Key) })
	if err != nil {
		return nil, err
	}
	tick := time.NewTicker(time.Second / time.Duration(min(rate, 1000)))
	defer tick.Stop()
	perTick := max(int64(rate/1000), 1)
	for i := int64(0); i < n; {
		<-tick.C
		for j := int64(0); j < perTick && i < n; j++ {
			if err := prod.Send(ctx, benchRecord{Key: "k" + strconv.FormatInt(i%100, 10), TS: time.Now().UnixMicro(), Value: i}); err != nil {
				return nil, err
			}
			i++
		}
	}
	if err := prod.Close(ctx); err != nil {
		return nil, err
	}
	<-readDone
	stop()
	if err := <-done; err != nil {
		return nil, err
	}
	// Skip the first 3 s: the group was joining and the clients loading metadata.
	steady := lat[min(len(lat), 3*rate):]
	slices.Sort(steady)
	q := func(p float64) float64 {
		if len(steady) == 0 {
			return 0
		}
		return round3(steady[min(len(steady)-1, int(p*float64(len(steady))))])
	}
	return map[string]any{"records": len(lat), "rate": rate, "commit_interval_ms": cfg.CommitInterval.Milliseconds(),
		"p50_ms": q(0.50), "p99_ms": q(0.99), "max_ms": q(1)}, nil
}
