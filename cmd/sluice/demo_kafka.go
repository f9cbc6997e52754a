package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/sluicehq/sluice/examples/clickstream"
	"github.com/sluicehq/sluice/kafka"
)

// The demo's Kafka names (a contract: external checks read them).
const (
	clickTopic  = "clickstream-events"
	alertTopic  = "clickstream-alerts"
	lateTopic   = "clickstream-late"
	demoGroup   = "clickstream"
	clickTopicN = 12
)

type kafkaOpts struct {
	brokers              string
	produceOnly, consume bool
	untilIdle            time.Duration
	commitInterval       time.Duration
	atLeastOnce          bool
	saslMechanism        string
	saslUser, saslPass   string
	tls                  bool
	tlsCA                string
	tlsCfg               *tls.Config
	// prefix is put before the topic and group names (isolates tests; default none).
	prefix string
}

type demoArgs struct {
	events, seed, threshold int64
	stateDir                string
}

func kafkaFlags(fs *flag.FlagSet) *kafkaOpts {
	k := &kafkaOpts{}
	fs.StringVar(&k.brokers, "kafka", "", "run on Kafka: comma-separated seed brokers (host:port)")
	fs.BoolVar(&k.produceOnly, "produce-only", false, "with --kafka: write --events generated clicks to topic "+clickTopic+" and exit")
	fs.BoolVar(&k.consume, "consume", false, "with --kafka: run the pipeline in consumer group "+demoGroup+", writing alerts exactly once to "+alertTopic)
	fs.DurationVar(&k.untilIdle, "until-idle", 0, "with --consume: exit 0 once the input has been idle this long (0: run until interrupted)")
	fs.DurationVar(&k.commitInterval, "commit-interval", 100*time.Millisecond, "with --consume: epoch length (one transaction per epoch)")
	fs.BoolVar(&k.atLeastOnce, "at-least-once", false, "with --consume: no transactions (lower latency, duplicates after failures)")
	fs.StringVar(&k.saslMechanism, "sasl-mechanism", "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&k.saslUser, "sasl-user", "", "SASL user")
	fs.StringVar(&k.saslPass, "sasl-password", "", "SASL password")
	fs.BoolVar(&k.tls, "tls", false, "connect with TLS (the system's roots, or --tls-ca)")
	fs.StringVar(&k.tlsCA, "tls-ca", "", "PEM file of the CA certificates that sign the brokers' (implies --tls)")
	fs.StringVar(&k.prefix, "kafka-prefix", "", "put this prefix before the demo's topic and group names")
	return k
}

func (k *kafkaOpts) tlsConfig() (*tls.Config, error) {
	if !k.tls && k.tlsCA == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if k.tlsCA != "" {
		pem, err := os.ReadFile(k.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", k.tlsCA)
		}
	}
	return c, nil
}

func (k *kafkaOpts) config() kafka.Config {
	cfg := kafka.Config{Brokers: kafka.ParseBrokers(k.brokers), Application: k.prefix + demoGroup, CommitInterval: k.commitInterval,
		UntilIdle: k.untilIdle, SASL: kafka.SASL{Mechanism: k.saslMechanism, User: k.saslUser, Password: k.saslPass},
		SessionTimeout: 6 * time.Second, Logger: slog.New(slog.DiscardHandler)}
	if lvl := os.Getenv("SLUICE_LOG"); lvl != "" { // SLUICE_LOG=debug|info|warn logs to stderr
		var l slog.Level
		_ = l.UnmarshalText([]byte(lvl))
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
	}
	if k.atLeastOnce {
		cfg.Guarantee = kafka.AtLeastOnce
	}
	cfg.TLS = k.tlsCfg
	return cfg
}

func runDemoKafka(ctx context.Context, k *kafkaOpts, a demoArgs, stderr io.Writer) int {
	switch {
	case k.brokers == "":
		fmt.Fprintln(stderr, "sluice demo clickstream: --produce-only and --consume need --kafka BROKERS")
		return exitUsage
	case k.produceOnly == k.consume:
		fmt.Fprintln(stderr, "sluice demo clickstream: with --kafka, give exactly one of --produce-only and --consume")
		return exitUsage
	case k.produceOnly && a.events <= 0:
		fmt.Fprintln(stderr, "sluice demo clickstream: --produce-only needs --events N > 0")
		return exitUsage
	}
	tlsCfg, err := k.tlsConfig()
	if err != nil {
		fmt.Fprintf(stderr, "sluice demo clickstream: %v\n", err)
		return exitUsage
	}
	k.tlsCfg = tlsCfg
	start := time.Now()
	var summary map[string]any
	if k.produceOnly {
		summary, err = produceClicks(ctx, k, a)
	} else {
		summary, err = consumeClicks(ctx, k, a)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "sluice demo clickstream: %v\n", err)
		return exitFailed
	}
	secs := time.Since(start).Seconds()
	summary["seconds"] = round3(secs)
	summary["events_per_second"] = round3(float64(summary["events"].(int64)) / max(secs, 1e-9))
	b, _ := json.Marshal(summary)
	fmt.Fprintln(stderr, string(b))
	return exitOK
}

// produceClicks writes the seed's clicks keyed by page, so that each page's clicks share a
// partition, then an end-of-stream marker to every partition.
func produceClicks(ctx context.Context, k *kafkaOpts, a demoArgs) (map[string]any, error) {
	cfg := k.config()
	cfg.Partitions = clickTopicN
	p, err := kafka.NewProducer(ctx, cfg, k.prefix+clickTopic, kafka.JSON[clickstream.Click](), func(c clickstream.Click) []byte { return []byte(c.Page) })
	if err != nil {
		return nil, err
	}
	gen := clickstream.Config{Seed: a.seed}
	var n int64
	for ; n < a.events && ctx.Err() == nil; n++ {
		if err := p.Send(ctx, gen.Click(n)); err != nil {
			p.Close(context.Background())
			return nil, err
		}
	}
	if ctx.Err() == nil {
		err = p.EndOfStream(ctx)
	}
	if cerr := p.Close(context.Background()); err == nil {
		err = cerr
	}
	return map[string]any{"events": n}, err
}

// consumeClicks runs the demo pipeline in the consumer group, alerts exactly once.
func consumeClicks(ctx context.Context, k *kafkaOpts, a demoArgs) (map[string]any, error) {
	cfg := k.config()
	cfg.StateDir = a.stateDir
	out := kafka.ToTopic(k.prefix+alertTopic, kafka.JSON[clickstream.Alert](), kafka.Key(func(al clickstream.Alert) []byte { return []byte(al.Page) }))
	// Late clicks cannot happen with the demo's producer; if they did, they would be written, in
	// the same transactions, to clickstream-late (nothing is dropped silently).
	late := kafka.ToTopic(k.prefix+lateTopic, kafka.JSON[clickstream.LateClick]())
	job := clickstream.BuildOn(clickstream.Config{Threshold: a.threshold}, kafka.Topic(k.prefix+clickTopic, kafka.JSON[clickstream.Click]()).PartitionedByKey(), out, late)
	st, err := kafka.Run(ctx, job.Pipeline, cfg)
	return map[string]any{"events": st.Records, "alerts": st.ByTopic[k.prefix+alertTopic], "late": st.ByTopic[k.prefix+lateTopic], "epochs": st.Epochs, "aborted": st.Aborted}, err
}
