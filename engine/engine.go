// Package engine runs a sluice.Pipeline. The embedded engine runs every stage in this process:
// sources read their splits in their own goroutines, keyed stages run as P subtasks fed by
// in-process exchanges, and the run ends when the sources end (bounded input) or the context is
// cancelled.
//
//	err := engine.Run(ctx, p, engine.Parallelism(4))
//
// The DSL (package sluice) only builds a plan; this package is where it is executed, so the same
// pipeline can later run on other engines (Kafka) unchanged.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/checkpoint"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/runtime"
)

// Option configures Run.
type Option interface{ apply(*runtime.Config) }

type optFunc func(*runtime.Config)

func (f optFunc) apply(c *runtime.Config) { f(c) }

// Parallelism sets the number of subtasks of keyed stages. Default: the pipeline's, else
// GOMAXPROCS (Flink: parallelism.default).
func Parallelism(n int) Option { return optFunc(func(c *runtime.Config) { c.Parallelism = n }) }

// BatchSize sets the number of records per batch between stages. Default 512. Smaller batches
// lower latency; larger ones raise throughput.
func BatchSize(n int) Option { return optFunc(func(c *runtime.Config) { c.BatchSize = n }) }

// ChannelDepth sets how many batches an exchange channel buffers before the sender blocks
// (backpressure). Default 16.
func ChannelDepth(n int) Option { return optFunc(func(c *runtime.Config) { c.ChannelDepth = n }) }

// FailFast makes a panic in user code fail the pipeline. Default: the record goes to the
// dead-letter stream and the pipeline goes on.
func FailFast() Option { return optFunc(func(c *runtime.Config) { c.FailFast = true }) }

// NoHugePages leaves the heap on the kernel's default pages. Default: the runtime asks Linux for
// transparent huge pages for the heap, which makes large keyed state faster (docs/operations/
// memory.md); SLUICE_HUGEPAGES=off in the environment does the same as this option.
func NoHugePages() Option { return optFunc(func(c *runtime.Config) { c.NoHugePages = true }) }

// Logger sets the logger. Default: slog.Default().
func Logger(l *slog.Logger) Option { return optFunc(func(c *runtime.Config) { c.Logger = l }) }

// WithStats makes Run fill s with the run's counts as it goes.
func WithStats(s *Stats) Option {
	return optFunc(func(c *runtime.Config) { c.Counters = &s.c })
}

// Stats are a run's counters, safe to read while it runs.
type Stats struct{ c flow.Counters }

// DeadLetters is the number of records routed to the dead-letter stream (or logged, without a
// consumer).
func (s *Stats) DeadLetters() int64 { return s.c.DeadLetters.Load() }

// Late is the number of elements too late for every window they belong to.
func (s *Stats) Late() int64 { return s.c.Late.Load() }

// Backpressure is the total time senders spent blocked on full channels between stages: the
// downstream stage could not keep up.
func (s *Stats) Backpressure() time.Duration { return time.Duration(s.c.BlockedNanos.Load()) }

// Checkpointing turns on aligned checkpoints every interval into dir (default interval 1 s;
// Flink: execution.checkpointing.interval), and restores from the newest complete checkpoint in
// dir when there is one. Sources must be replayable. A run restored from a checkpoint of a run
// that had finished returns nil at once: its results are already complete.
func Checkpointing(dir string, interval time.Duration) Option {
	return optFunc(func(c *runtime.Config) {
		c.Checkpoint = &runtime.CheckpointConfig{Interval: interval}
		c.CheckpointDir = dir
	})
}

// RestoreFrom restores the checkpoint or savepoint in folder path instead of the newest one
// (Flink: -s <savepointPath>). Use with Checkpointing.
func RestoreFrom(path string) Option {
	return optFunc(func(c *runtime.Config) { c.RestorePath = path })
}

// AllowNonRestoredState lets a restore drop state whose operator UID the pipeline no longer has
// (Flink: --allowNonRestoredState). Default: such a restore is rejected, naming the UIDs.
func AllowNonRestoredState() Option {
	return optFunc(func(c *runtime.Config) { c.AllowNonRestoredState = true })
}

// CheckpointStorage makes checkpoints use fs instead of the operating system's file system (for
// fault-injection tests: see package checkpoint/faultfs).
func CheckpointStorage(fs checkpoint.FS) Option {
	return optFunc(func(c *runtime.Config) { c.CheckpointFS = fs })
}

// OnCheckpoint calls f with the id of every completed checkpoint.
func OnCheckpoint(f func(id int64)) Option {
	return optFunc(func(c *runtime.Config) { c.OnCheckpoint = f })
}

// Backend is a state backend, chosen with StateBackend: Memory() or Pebble(dir, …).
type Backend interface{ setBackend(*runtime.Config) }

type backendFunc func(*runtime.Config)

func (f backendFunc) setBackend(c *runtime.Config) { f(c) }

// StateBackend chooses where keyed operators keep their state. Default: Memory() (Flink:
// state.backend.type).
func StateBackend(b Backend) Option {
	return optFunc(func(c *runtime.Config) { b.setBackend(c) })
}

// Memory is the memory state backend: every operator keeps its state in its own in-memory
// structures, and each checkpoint writes all of it (Flink: state.backend.type: hashmap). It is
// the default.
func Memory() Backend { return backendFunc(func(c *runtime.Config) { c.Spill = nil }) }

// Pebble is the Pebble state backend, for keyed state larger than memory (Flink:
// state.backend.type: rocksdb): each keyed operator keeps KeyBudget keys per subtask in
// memory, as with Memory(), and evicts the least recently used others to a Pebble store in
// dir/<operator uid>/<subtask>; a checkpoint writes the keys in memory and an incremental
// checkpoint of the store (hard-linked tables). The stores are wiped at start: their contents come
// back from checkpoints. Every keyed operator spills: KeyedProcess, the window operators
// (Aggregate, Reduce, ProcessWindow, sessions) and Rolling (docs/state-backends.md).
func Pebble(dir string, opts ...PebbleOption) Backend {
	return backendFunc(func(c *runtime.Config) {
		sc := &runtime.SpillConfig{Dir: dir, KeyBudget: runtime.DefaultKeyBudget, CacheSize: runtime.DefaultSpillCacheSize}
		for _, o := range opts {
			o.applyPebble(sc)
		}
		c.Spill = sc
	})
}

// PebbleOption configures the Pebble state backend.
type PebbleOption interface{ applyPebble(*runtime.SpillConfig) }

type pebbleOptFunc func(*runtime.SpillConfig)

func (f pebbleOptFunc) applyPebble(c *runtime.SpillConfig) { f(c) }

// KeyBudget sets the number of keys each keyed operator subtask keeps in memory; the others are
// in its Pebble store. 0 keeps none between records (every access reads and writes the store,
// as Flink's RocksDB backend does). Default: 1,000,000.
func KeyBudget(n int) PebbleOption {
	return pebbleOptFunc(func(c *runtime.SpillConfig) { c.KeyBudget = n })
}

// CacheSize sets the size in bytes of the block cache shared by every Pebble store of the run,
// memtables included (Flink: state.backend.rocksdb.block.cache-size, within managed memory).
// Default: 256 MiB.
func CacheSize(bytes int64) PebbleOption {
	return pebbleOptFunc(func(c *runtime.SpillConfig) { c.CacheSize = bytes })
}

// Run validates and executes the pipeline. It returns nil when the input has ended and every
// result has been written, ctx.Err() when it was cancelled (after draining what was in flight),
// or the first error: an invalid pipeline, a source or sink failure, or a user panic with
// FailFast.
func Run(ctx context.Context, p *sluice.Pipeline, opts ...Option) error {
	j, err := Start(ctx, p, opts...)
	if err != nil {
		return err
	}
	return j.Wait()
}

// Job is a running pipeline.
type Job struct {
	h *runtime.Handle
}

// Start validates the pipeline, restores its latest checkpoint when checkpointing is on, and
// runs it in the background. Errors that prevent it from starting are returned at once.
func Start(ctx context.Context, p *sluice.Pipeline, opts ...Option) (*Job, error) {
	g, err := p.Plan()
	if err != nil {
		return nil, err
	}
	var cfg runtime.Config
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := openCheckpoints(&cfg); err != nil {
		return nil, err
	}
	h, err := runtime.Start(ctx, g, cfg)
	if errors.Is(err, runtime.ErrFinished) {
		logger(cfg).Info("nothing to do: the pipeline already ran to the end of its input", "detail", err.Error())
		return &Job{}, nil
	}
	if err != nil {
		return nil, err
	}
	return &Job{h: h}, nil
}

// Wait blocks until the job stops and returns its error (see Run).
func (j *Job) Wait() error {
	if j.h == nil {
		return nil
	}
	return j.h.Wait()
}

// Savepoint takes a savepoint: a checkpoint kept until deleted, to restore with RestoreFrom,
// possibly with another parallelism (Flink: flink savepoint). It returns the savepoint's folder.
func (j *Job) Savepoint(ctx context.Context) (string, error) {
	if j.h == nil {
		return "", runtime.ErrNoSavepoint
	}
	return j.h.Savepoint(ctx)
}

// ErrNoSavepoint is returned by Savepoint when the job cannot take one: checkpoints are off, or
// the job is finishing.
var ErrNoSavepoint = runtime.ErrNoSavepoint

func logger(cfg runtime.Config) *slog.Logger {
	if cfg.Logger != nil {
		return cfg.Logger
	}
	return slog.Default()
}

func openCheckpoints(cfg *runtime.Config) error {
	if cfg.Checkpoint == nil {
		if cfg.RestorePath != "" {
			return errors.New("engine: RestoreFrom needs Checkpointing")
		}
		return nil
	}
	fs, _ := cfg.CheckpointFS.(checkpoint.FS)
	store, err := checkpoint.Open(cfg.CheckpointDir, checkpoint.Options{FS: fs, Logger: cfg.Logger})
	if err != nil {
		return fmt.Errorf("opening the checkpoint directory: %w", err)
	}
	cfg.Checkpoint.Store = store
	cfg.Checkpoint.AllowNonRestoredState = cfg.AllowNonRestoredState
	cfg.Checkpoint.OnComplete = cfg.OnCheckpoint
	if cfg.RestorePath != "" {
		c, err := checkpoint.OpenCheckpoint(checkpoint.OSFS(), cfg.RestorePath)
		if err != nil {
			return fmt.Errorf("opening %s to restore: %w", cfg.RestorePath, err)
		}
		cfg.Checkpoint.From = c
	}
	return nil
}
