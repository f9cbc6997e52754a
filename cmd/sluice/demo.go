package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/connector/file"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/examples/clickstream"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "clickstream" {
		fmt.Fprintln(stderr, "usage: sluice demo clickstream [--events N] [--seed S] [--rate R] [--threshold T] [--out FILE]\n"+
			"       sluice demo clickstream --kafka BROKERS --produce-only --events N [--seed S]\n"+
			"       sluice demo clickstream --kafka BROKERS --consume --state-dir DIR [--until-idle 10s]")
		return exitUsage
	}
	fs := flag.NewFlagSet("sluice demo clickstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	events := fs.Int64("events", 0, "stop after N generated events (0: run until interrupted)")
	seed := fs.Int64("seed", 1, "seed of the generated click stream")
	rate := fs.Float64("rate", 50_000, "events per second (0: as fast as possible)")
	threshold := fs.Int64("threshold", 3000, "alert when a page has more clicks than this in a one-minute window")
	outPath := fs.String("out", "", "write alerts to FILE instead of stdout")
	parallelism := fs.Int("parallelism", 0, "subtasks per keyed stage (0: GOMAXPROCS)")
	stateDir := fs.String("state-dir", "", "checkpoint into DIR and resume from it; with --out, FILE is written exactly once")
	interval := fs.Duration("checkpoint-interval", time.Second, "time between checkpoints (with --state-dir)")
	fromSavepoint := fs.String("from-savepoint", "", "restore this savepoint folder (with --state-dir)")
	backend := fs.String("state-backend", "memory", "where keyed state lives: memory, or pebble (cold keys on disk under --state-dir)")
	keyBudget := fs.Int("key-budget", runtimeKeyBudget, "with --state-backend pebble: keys kept in memory per operator subtask (0: none)")
	kf := kafkaFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return exitUsage
	}
	if kf.brokers != "" || kf.produceOnly || kf.consume {
		return runDemoKafka(ctx, kf, demoArgs{events: *events, seed: *seed, threshold: *threshold, stateDir: *stateDir}, stderr)
	}
	if *events < 0 || *rate < 0 || *threshold < 0 || *parallelism < 0 || *interval <= 0 {
		fmt.Fprintln(stderr, "sluice demo clickstream: --events, --rate, --threshold and --parallelism must be >= 0, --checkpoint-interval > 0")
		return exitUsage
	}
	var out sluice.Sink[clickstream.Alert] = &jsonLines[clickstream.Alert]{w: bufio.NewWriter(stdout)}
	switch {
	case *outPath != "" && *stateDir != "":
		out = file.ExactlyOnceJSONLines[clickstream.Alert](*outPath)
	case *outPath != "":
		f, err := os.Create(*outPath)
		if err != nil {
			fmt.Fprintf(stderr, "sluice demo clickstream: %v\n", err)
			return exitFailed
		}
		defer f.Close()
		out = &jsonLines[clickstream.Alert]{w: bufio.NewWriter(f)}
	}
	late := &jsonLines[clickstream.LateClick]{w: bufio.NewWriter(stderr)}
	job := clickstream.Build(clickstream.Config{Events: *events, Seed: *seed, Rate: *rate, Threshold: *threshold}, out, late)
	opts := []engine.Option{engine.Parallelism(*parallelism)}
	if *stateDir != "" {
		opts = append(opts, engine.Checkpointing(*stateDir, *interval))
	}
	be, cleanup, err := stateBackend(*backend, *stateDir, *keyBudget)
	if err != nil {
		fmt.Fprintf(stderr, "sluice demo clickstream: %v\n", err)
		return exitUsage
	}
	defer cleanup()
	opts = append(opts, engine.StateBackend(be))
	if *fromSavepoint != "" {
		if *stateDir == "" {
			fmt.Fprintln(stderr, "sluice demo clickstream: --from-savepoint needs --state-dir")
			return exitUsage
		}
		opts = append(opts, engine.RestoreFrom(*fromSavepoint))
	}
	start := time.Now()
	err = engine.Run(ctx, job.Pipeline, opts...)
	secs := time.Since(start).Seconds()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "sluice demo clickstream: %v\n", err)
		return exitFailed
	}
	n := job.Events.Load()
	summary, _ := json.Marshal(map[string]any{"events": n, "seconds": round3(secs),
		"events_per_second": round3(float64(n) / max(secs, 1e-9)), "alerts": job.Alerts.Load()})
	fmt.Fprintln(stderr, string(summary))
	return exitOK
}

// runtimeKeyBudget is the Pebble backend's default key budget, shown in --help.
const runtimeKeyBudget = 1_000_000

// stateBackend returns the backend named by --state-backend. The Pebble stores are scratch space
// (their contents come back from checkpoints): under stateDir/pebble when there is a state
// directory, else in a temporary folder that cleanup removes.
func stateBackend(name, stateDir string, keyBudget int) (engine.Backend, func(), error) {
	switch name {
	case "memory":
		return engine.Memory(), func() {}, nil
	case "pebble":
	default:
		return nil, nil, fmt.Errorf("--state-backend %q: want memory or pebble", name)
	}
	if keyBudget < 0 {
		return nil, nil, fmt.Errorf("--key-budget %d: want >= 0", keyBudget)
	}
	if stateDir != "" {
		return engine.Pebble(filepath.Join(stateDir, "pebble"), engine.KeyBudget(keyBudget)), func() {}, nil
	}
	dir, err := os.MkdirTemp("", "sluice-pebble-")
	if err != nil {
		return nil, nil, fmt.Errorf("--state-backend pebble: %w", err)
	}
	return engine.Pebble(dir, engine.KeyBudget(keyBudget)), func() { os.RemoveAll(dir) }, nil
}

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }

// jsonLines writes one JSON object per line, flushed after every batch.
type jsonLines[T any] struct{ w *bufio.Writer }

func (j *jsonLines[T]) Write(v T) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	j.w.Write(b)
	return j.w.WriteByte('\n')
}

func (j *jsonLines[T]) Flush() error { return j.w.Flush() }
func (j *jsonLines[T]) Close() error { return j.w.Flush() }
