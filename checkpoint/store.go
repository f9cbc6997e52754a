// Package checkpoint stores checkpoints and savepoints in a local directory: one folder per
// checkpoint holding the data files its tasks wrote and a MANIFEST.json, written last and
// atomically, whose presence makes the checkpoint complete. The layout and the manifest are
// specified in docs/format/checkpoint.md.
//
// One coordinator drives a Store: Begin a checkpoint, let the tasks Create their data files (in
// parallel), then Commit the manifest or Abort. Recovery asks for the Latest complete checkpoint;
// a checkpoint that is partial or corrupt (a missing or torn manifest, a data file missing or
// with the wrong size or CRC-32C) is skipped with a warning naming it, and the previous one is
// used. Complete checkpoints beyond Options.Retain are pruned on Commit; savepoints are kept until
// DeleteSavepoint.
//
// The store reaches the disk only through FS, so tests inject faults with package faultfs.
package checkpoint

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Errors reported by the store; match them with errors.Is.
var (
	// ErrNotFound reports a checkpoint, savepoint or data file that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists reports a Begin with the id of a checkpoint or savepoint that is already
	// complete, or of a checkpoint not newer than a complete one.
	ErrExists = errors.New("already exists")
	// ErrIncomplete reports a checkpoint folder without a manifest: its commit did not finish.
	ErrIncomplete = errors.New("incomplete checkpoint")
	// ErrCorrupt reports a checkpoint whose manifest cannot be decoded, or whose data file has
	// the wrong size or CRC-32C.
	ErrCorrupt = errors.New("corrupt checkpoint")
)

const (
	checkpointPrefix = "chk-"
	savepointPrefix  = "savepoint-"
	dirPerm          = 0o755
)

// Options configures a Store. The zero value is valid: every field has a default.
type Options struct {
	// FS is the file system. Default: OSFS().
	FS FS
	// Retain is the number of complete checkpoints kept; older ones are deleted on Commit.
	// Savepoints are never pruned, and the newest complete checkpoint is never deleted. Must not
	// be negative. Default (0): 3 (Flink: state.checkpoints.num-retained, whose default is 1).
	Retain int
	// Logger receives the store's warnings (a skipped checkpoint, a failed prune) and infos (a
	// pruned checkpoint). Default: slog.Default().
	Logger *slog.Logger
}

// DefaultRetain is the number of complete checkpoints kept when Options.Retain is zero.
const DefaultRetain = 3

// EnsureDefaults fills the zero fields of o with their defaults.
func (o *Options) EnsureDefaults() {
	if o.FS == nil {
		o.FS = OSFS()
	}
	if o.Retain == 0 {
		o.Retain = DefaultRetain
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Store keeps the checkpoints and savepoints of one pipeline in a directory. Its methods are safe
// for concurrent use, but it expects one coordinator: at most one Writer per id.
type Store struct {
	dir    string
	fs     FS
	retain int
	log    *slog.Logger

	// mu orders changes to the directory (Begin, Commit's rename and prune, Abort,
	// DeleteSavepoint) against readers (List, Latest, Savepoint). Writers' data files are written
	// without it.
	mu sync.RWMutex
}

// Open opens the checkpoint directory dir, creating it if needed.
func Open(dir string, opts Options) (*Store, error) {
	opts.EnsureDefaults()
	if opts.Retain < 0 {
		return nil, fmt.Errorf("opening the checkpoint dir: Retain is %d: must not be negative", opts.Retain)
	}
	if err := mkdirAllSynced(opts.FS, dir); err != nil {
		return nil, fmt.Errorf("opening the checkpoint dir: %w", err)
	}
	return &Store{dir: dir, fs: opts.FS, retain: opts.Retain, log: opts.Logger}, nil
}

// mkdirAllSynced creates dir and its missing parents, and syncs the parent of each directory it
// created, so that the whole path survives a crash.
func mkdirAllSynced(fsys FS, dir string) error {
	var created []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		_, err := fsys.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(created) == 0 {
		return nil
	}
	if err := fsys.MkdirAll(dir, dirPerm); err != nil {
		return err
	}
	for _, d := range created {
		if err := fsys.SyncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Info describes a checkpoint or savepoint folder, as listed by List.
type Info struct {
	// ID is the checkpoint id, from the folder's name.
	ID int64
	// Kind is checkpoint or savepoint, from the folder's name.
	Kind Kind
	// Complete reports that the folder holds a manifest. List does not read it: Latest,
	// Savepoint and OpenCheckpoint validate a checkpoint before they return it.
	Complete bool
	// Dir is the folder's path.
	Dir string
}

// DirName returns the name of the folder of a checkpoint or savepoint: chk-<id in 20 digits> or
// savepoint-<id>.
func DirName(id int64, kind Kind) string {
	if kind == KindSavepoint {
		return savepointPrefix + strconv.FormatInt(id, 10)
	}
	return fmt.Sprintf("%s%020d", checkpointPrefix, id)
}

// parseDirName is the inverse of DirName; ok is false for any other name.
func parseDirName(name string) (id int64, kind Kind, ok bool) {
	var digits string
	switch {
	case strings.HasPrefix(name, checkpointPrefix):
		digits, kind = name[len(checkpointPrefix):], KindCheckpoint
		if len(digits) != 20 {
			return 0, 0, false
		}
	case strings.HasPrefix(name, savepointPrefix):
		digits, kind = name[len(savepointPrefix):], KindSavepoint
		if len(digits) > 1 && digits[0] == '0' {
			return 0, 0, false
		}
	default:
		return 0, 0, false
	}
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, 0, false
	}
	id, err := strconv.ParseInt(digits, 10, 64)
	return id, kind, err == nil
}

// List returns every checkpoint and savepoint folder, complete or not, ordered by id (a
// checkpoint before a savepoint of the same id). Other entries of the directory are ignored.
func (s *Store) List() ([]Info, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.list()
}

func (s *Store) list() ([]Info, error) {
	entries, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("listing the checkpoint dir: %w", err)
	}
	var infos []Info
	for _, e := range entries {
		id, kind, ok := parseDirName(e.Name())
		if !ok || !e.IsDir() {
			continue
		}
		dir := filepath.Join(s.dir, e.Name())
		_, err := s.fs.Stat(filepath.Join(dir, ManifestName))
		infos = append(infos, Info{ID: id, Kind: kind, Complete: err == nil, Dir: dir})
	}
	slices.SortFunc(infos, func(a, b Info) int {
		if a.ID != b.ID {
			return cmpInt(a.ID, b.ID)
		}
		return int(a.Kind) - int(b.Kind)
	})
	return infos, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Latest returns the newest complete and valid checkpoint, savepoints aside, or nil and no error
// when there is none. It validates the manifest and the size and CRC-32C of every data file (it
// reads them all). A checkpoint that fails validation is skipped with a warning naming its folder
// and the reason, and the previous one is tried.
func (s *Store) Latest() (*Checkpoint, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	infos, err := s.list()
	if err != nil {
		return nil, err
	}
	for i := len(infos) - 1; i >= 0; i-- {
		in := infos[i]
		if in.Kind != KindCheckpoint {
			continue
		}
		c, err := s.open(in)
		if err != nil {
			s.log.Warn("checkpoint: skipping an unusable checkpoint", "path", in.Dir, "reason", err.Error())
			continue
		}
		return c, nil
	}
	return nil, nil
}

// open validates the checkpoint of a listed folder, checking that its manifest matches the name.
func (s *Store) open(in Info) (*Checkpoint, error) {
	c, err := OpenCheckpoint(s.fs, in.Dir)
	if err != nil {
		return nil, err
	}
	if c.Manifest.ID != in.ID || c.Manifest.Kind != in.Kind {
		return nil, fmt.Errorf("%s: %w: the manifest is for %s %d", in.Dir, ErrCorrupt, c.Manifest.Kind, c.Manifest.ID)
	}
	return c, nil
}

// Savepoint returns the savepoint with the given id, validated like Latest does. It reports
// ErrNotFound when there is no such folder, ErrIncomplete or ErrCorrupt when it is not usable.
func (s *Store) Savepoint(id int64) (*Checkpoint, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	dir := filepath.Join(s.dir, DirName(id, KindSavepoint))
	if _, err := s.fs.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("savepoint %d: %w in %s", id, ErrNotFound, s.dir)
		}
		return nil, fmt.Errorf("opening savepoint %d: %w", id, err)
	}
	return s.open(Info{ID: id, Kind: KindSavepoint, Dir: dir})
}

// DeleteSavepoint deletes the savepoint with the given id, complete or not. It reports
// ErrNotFound when there is no such folder.
func (s *Store) DeleteSavepoint(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := filepath.Join(s.dir, DirName(id, KindSavepoint))
	if _, err := s.fs.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("savepoint %d: %w in %s", id, ErrNotFound, s.dir)
		}
		return fmt.Errorf("deleting savepoint %d: %w", id, err)
	}
	if err := s.fs.RemoveAll(dir); err != nil {
		return fmt.Errorf("deleting savepoint %d: %w", id, err)
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("deleting savepoint %d: %w", id, err)
	}
	return nil
}

// prune deletes the complete checkpoints beyond the newest s.retain, and the partial checkpoint
// folders older than the newest complete one (left by failed or subsumed attempts). Savepoints
// are never touched. Failures are logged: the checkpoint just committed stands. Called with s.mu
// held.
func (s *Store) prune() {
	infos, err := s.list()
	if err != nil {
		s.log.Warn("checkpoint: pruning failed", "path", s.dir, "reason", err.Error())
		return
	}
	kept, newest := 0, int64(-1)
	var doomed []Info
	for i := len(infos) - 1; i >= 0; i-- {
		in := infos[i]
		switch {
		case in.Kind != KindCheckpoint:
		case in.Complete && kept < max(s.retain, 1):
			kept++
			newest = max(newest, in.ID)
		case in.Complete || in.ID < newest:
			doomed = append(doomed, in)
		}
	}
	if len(doomed) == 0 {
		return
	}
	for _, in := range doomed {
		if err := s.fs.RemoveAll(in.Dir); err != nil {
			s.log.Warn("checkpoint: pruning failed", "path", in.Dir, "reason", err.Error())
			continue
		}
		s.log.Info("checkpoint: pruned", "path", in.Dir, "complete", in.Complete)
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		s.log.Warn("checkpoint: pruning failed", "path", s.dir, "reason", err.Error())
	}
}
