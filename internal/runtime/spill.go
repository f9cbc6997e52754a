package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/sluicehq/sluice/checkpoint"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/state/pebble"
)

// The Pebble state backend (docs/state-backends.md, section 3): every keyed operator that can
// spill (flow.Spiller) gets a Pebble store per subtask in <Dir>/<uid>/<subtask>, keeps KeyBudget
// keys in memory and the others in the store. The store is wiped at start: its contents come back
// from checkpoints only (pebble.Restore, or pebble.RestoreRange at another parallelism).

// Defaults of SpillConfig.
const (
	DefaultKeyBudget      = 1_000_000
	DefaultSpillCacheSize = 256 << 20
)

// SpillConfig selects the Pebble state backend; a nil *SpillConfig is the memory backend.
type SpillConfig struct {
	// Dir holds the stores, one per operator subtask in Dir/<operator uid>/<subtask>. Required.
	Dir string
	// KeyBudget is the number of keys each operator subtask keeps in memory between records; 0
	// keeps none (every access goes through the store). It must not be negative. The engine's
	// default is DefaultKeyBudget.
	KeyBudget int
	// CacheSize is the size in bytes of the block cache shared by every store of the run.
	// Default: DefaultSpillCacheSize.
	CacheSize int64
}

// spillStore adapts a Pebble store to the flow's spill hooks.
type spillStore struct{ *pebble.Store }

// CaptureSpill implements flow.SpillCapturer.
func (s spillStore) CaptureSpill() (flow.SpillCapture, error) {
	c, err := s.Store.Capture()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// validate checks the configuration.
func (c *SpillConfig) validate() error {
	switch {
	case c.Dir == "":
		return errors.New("the Pebble state backend needs a directory")
	case c.KeyBudget < 0:
		return fmt.Errorf("the Pebble state backend's key budget %d is negative", c.KeyBudget)
	}
	return nil
}

// spills are the Pebble stores of a run.
type spills struct {
	cfg    SpillConfig
	cache  *pebble.Cache
	stores []*pebble.Store
}

func newSpills(cfg *SpillConfig) *spills {
	if cfg == nil {
		return nil
	}
	c := *cfg
	if c.CacheSize <= 0 {
		c.CacheSize = DefaultSpillCacheSize
	}
	return &spills{cfg: c, cache: pebble.NewCache(c.CacheSize)}
}

// close closes every store and releases the cache.
func (sp *spills) close(r *run) {
	if sp == nil {
		return
	}
	for _, s := range sp.stores {
		if err := s.Close(); err != nil {
			r.cfg.Logger.Warn("closing a state store", "err", err)
		}
	}
	sp.stores = nil
	if sp.cache != nil {
		sp.cache.Unref()
		sp.cache = nil
	}
}

// attach gives operator sn of subtask i of s its store when it can spill, restoring the store
// from checkpoint c (nil: a fresh start). With the memory backend, it refuses a checkpoint whose
// state of sn is partly in spill stores.
func (r *run) attachSpill(s *stage, i int, sn flow.Snapshotter, c *checkpoint.Checkpoint) error {
	sp, ok := sn.(flow.Spiller)
	var op *checkpoint.OperatorState
	if c != nil {
		op = c.Manifest.Operator(sn.StateUID())
	}
	if r.spill == nil || !ok {
		if op != nil {
			for _, p := range op.Parts {
				if len(p.Files) > 0 {
					return fmt.Errorf("checkpoint %s keeps part of the state of operator %q in Pebble stores: restore it with the Pebble state backend (engine.StateBackend(engine.Pebble(…)))", c.Dir, sn.StateUID())
				}
			}
		}
		return nil
	}
	kgStart, kgEnd := flow.KeyGroupRange(flow.DefaultMaxParallelism, s.n, i)
	var sources []pebble.Source
	exact := false
	if op != nil {
		for _, p := range op.Parts {
			if len(p.Files) == 0 || p.KeyGroupStart >= kgEnd || p.KeyGroupEnd < kgStart {
				continue
			}
			sources = append(sources, pebble.Source{From: c, Files: p.Files})
			exact = p.KeyGroupStart == kgStart && p.KeyGroupEnd == kgEnd-1
		}
	}
	dir := filepath.Join(r.spill.cfg.Dir, fileSafe(sn.StateUID()), strconv.Itoa(i))
	opts := pebble.Options{Cache: r.spill.cache, Logger: r.cfg.Logger}
	var store *pebble.Store
	var err error
	switch {
	case len(sources) == 0:
		store, err = pebble.Open(dir, opts)
	case len(sources) == 1 && exact:
		store, err = pebble.Restore(dir, c, sources[0].Files, opts)
	default:
		store, err = pebble.RestoreRange(dir, sources, kgStart, kgEnd, opts)
	}
	if err != nil {
		return fmt.Errorf("operator %q: %w", sn.StateUID(), err)
	}
	r.spill.stores = append(r.spill.stores, store)
	return sp.SetSpill(spillStore{store}, r.spill.cfg.KeyBudget)
}

// openSpills gives every spilling operator its empty store (a run without checkpoints).
func (r *run) openSpills(subs []subtask) error {
	if r.spill == nil {
		return nil
	}
	if err := os.MkdirAll(r.spill.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("creating the state directory: %w", err)
	}
	for _, st := range subs {
		for _, sn := range st.t.Snapshotters() {
			if err := r.attachSpill(st.s, st.i, sn, nil); err != nil {
				return fmt.Errorf("task %s: %w", st.t.Name(), err)
			}
		}
	}
	return nil
}

// releaseCaptures releases the spill captures of snapshots written or abandoned, and hands their
// buffers back to their tasks.
func releaseCaptures(snaps ...flow.TaskSnapshot) {
	for _, s := range snaps {
		for _, o := range s.States {
			o.Recycle()
			if o.Spill != nil {
				_ = o.Spill.Release()
			}
		}
	}
}

// uploadSpill writes the capture of o's spill store into checkpoint w, linking the tables that
// prev (the last complete checkpoint) holds, and returns the files for the manifest.
func uploadSpill(w *checkpoint.Writer, prev *checkpoint.Checkpoint, o flow.OperatorSnapshot) ([]string, error) {
	c, ok := o.Spill.(*pebble.Capture)
	if !ok {
		return nil, fmt.Errorf("operator %q: a spill capture of type %T", o.UID, o.Spill)
	}
	snap, err := c.Upload(pebble.NewSink(w, prev))
	if err != nil {
		return nil, fmt.Errorf("operator %q: uploading its state store: %w", o.UID, err)
	}
	return snap.Files, nil
}
