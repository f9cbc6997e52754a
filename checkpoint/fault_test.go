package checkpoint_test

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/checkpoint"
	"github.com/sluicehq/sluice/checkpoint/faultfs"
)

// faulty opens a store over the OS file system with fault injection, holding checkpoint 1.
func faulty(t *testing.T) (*checkpoint.Store, *faultfs.FS, *logBuffer) {
	t.Helper()
	fsys := faultfs.New(checkpoint.OSFS())
	s, logs := open(t, t.TempDir(), checkpoint.Options{FS: fsys})
	take(t, s, 1, checkpoint.KindCheckpoint)
	return s, fsys, logs
}

// attempt tries checkpoint 2 the way the runtime does: tasks write their files, and the
// coordinator commits only when every task succeeded, aborting otherwise. An error of Abort is
// joined to the error returned.
func attempt(t *testing.T, s *checkpoint.Store) (writeErr, commitErr error) {
	t.Helper()
	w, err := s.Begin(2, checkpoint.KindCheckpoint)
	if err != nil {
		return err, nil
	}
	if err := write(t, w, content(2)); err != nil {
		return errors.Join(err, w.Abort()), nil
	}
	if err := w.Commit(manifest()); err != nil {
		return nil, errors.Join(err, w.Abort())
	}
	return nil, nil
}

// wantOnly checks that the store holds checkpoint 1 and nothing else: the failed attempt left no
// folder behind.
func wantOnly1(t *testing.T, s *checkpoint.Store) {
	t.Helper()
	check(t, latest(t, s), 1)
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("the failed attempt left folders: %+v", list)
	}
}

func TestFailedDataFile(t *testing.T) {
	for _, rule := range []faultfs.Rule{
		{Ops: faultfs.OpWrite, Path: "op-1"},
		{Ops: faultfs.OpWrite, Path: "op-1", Torn: true},
		{Ops: faultfs.OpSync, Path: "op-0"},
		{Ops: faultfs.OpClose, Path: "op-0"},
		{Ops: faultfs.OpCreate, Path: "op-1"},
	} {
		t.Run(rule.Ops.String(), func(t *testing.T) {
			s, fsys, _ := faulty(t)
			fsys.Inject(rule)
			writeErr, commitErr := attempt(t, s)
			if !errors.Is(writeErr, faultfs.ErrInjected) || commitErr != nil {
				t.Fatalf("write error %v, commit error %v", writeErr, commitErr)
			}
			wantOnly1(t, s)
		})
	}
}

// TestCommitRefusesFailedFile checks that Commit refuses a checkpoint one of whose files failed,
// even if the coordinator missed the task's error.
func TestCommitRefusesFailedFile(t *testing.T) {
	s, fsys, _ := faulty(t)
	fsys.Inject(faultfs.Rule{Ops: faultfs.OpSync, Path: "op-0"})
	w, err := s.Begin(2, checkpoint.KindCheckpoint)
	if err != nil {
		t.Fatal(err)
	}
	write(t, w, content(2)) // the error is ignored
	if err := w.Commit(manifest()); !errors.Is(err, faultfs.ErrInjected) || !strings.Contains(err.Error(), `data file "op-0" failed`) {
		t.Fatalf("commit: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	wantOnly1(t, s)
}

func TestDiskFull(t *testing.T) {
	for _, space := range []int64{0, 10, 30, 200} { // in the data files, at their end, in the manifest
		t.Run("", func(t *testing.T) {
			s, fsys, _ := faulty(t)
			fsys.DiskFull(space)
			writeErr, commitErr := attempt(t, s)
			err := errors.Join(writeErr, commitErr)
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("with %d bytes free: %v", space, err)
			}
			wantOnly1(t, s)
			fsys.DiskFull(-1) // space is freed: the next checkpoint succeeds
			if w, c := attempt(t, s); w != nil || c != nil {
				t.Fatal(w, c)
			}
			check(t, latest(t, s), 2)
		})
	}
}

// TestTornManifest tears the write of the manifest and then "crashes": nothing aborts the
// attempt. Latest must skip it, saying why, and use checkpoint 1.
func TestTornManifest(t *testing.T) {
	for _, rule := range []faultfs.Rule{
		{Ops: faultfs.OpWrite, Path: "MANIFEST", Torn: true},
		{Ops: faultfs.OpSync, Path: "MANIFEST"},
		{Ops: faultfs.OpRename, Path: "MANIFEST"},
	} {
		t.Run(rule.Ops.String(), func(t *testing.T) {
			s, fsys, logs := faulty(t)
			fsys.Inject(rule)
			w, err := s.Begin(2, checkpoint.KindCheckpoint)
			if err != nil {
				t.Fatal(err)
			}
			if err := write(t, w, content(2)); err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(manifest()); !errors.Is(err, faultfs.ErrInjected) {
				t.Fatalf("commit: %v", err)
			}
			// The process dies here: the partial folder stays.
			check(t, latest(t, s), 1)
			log := logs.String()
			if !strings.Contains(log, "chk-00000000000000000002") || !strings.Contains(log, "MANIFEST.json.tmp is present") {
				t.Fatalf("no log line naming the partial checkpoint:\n%s", log)
			}
			// The next attempt at id 2 replaces the partial folder.
			fsys.Reset()
			if w, c := attempt(t, s); w != nil || c != nil {
				t.Fatal(w, c)
			}
			check(t, latest(t, s), 2)
		})
	}
}

// TestFailedPublish fails the directory syncs after the rename: Commit reports the failure and
// Abort removes the checkpoint, which then does not count.
func TestFailedPublish(t *testing.T) {
	s, fsys, _ := faulty(t)
	fsys.Inject(faultfs.Rule{Ops: faultfs.OpSyncDir, Path: "chk-00000000000000000002"})
	writeErr, commitErr := attempt(t, s)
	if writeErr != nil || !errors.Is(commitErr, faultfs.ErrInjected) {
		t.Fatalf("write error %v, commit error %v", writeErr, commitErr)
	}
	wantOnly1(t, s)
}

// TestReadFaults checks the reading side: an unreadable newest checkpoint is skipped; an
// unreadable directory is an error, not "no checkpoint".
func TestReadFaults(t *testing.T) {
	s, fsys, logs := faulty(t)
	if w, c := attempt(t, s); w != nil || c != nil {
		t.Fatal(w, c)
	}
	fsys.Inject(faultfs.Rule{Ops: faultfs.OpRead, Path: filepath.Join("chk-00000000000000000002", "op-1"), Times: 1})
	check(t, latest(t, s), 1)
	if !strings.Contains(logs.String(), "injected fault") {
		t.Fatalf("the log does not give the reason:\n%s", logs)
	}
	check(t, latest(t, s), 2) // the fault is gone
	fsys.Inject(faultfs.Rule{Ops: faultfs.OpReadDir})
	if c, err := s.Latest(); !errors.Is(err, faultfs.ErrInjected) || c != nil {
		t.Fatalf("Latest with an unreadable directory: %v, %v", c, err)
	}
}

// TestCrashAtEveryStep runs checkpoint 2 on a MemFS, crashing after each file-system operation in
// turn: everything after the operation fails, then the unsynced state is lost. After each crash,
// Latest must return a valid checkpoint: 2 if Commit had returned nil, else 1 or 2. This checks
// the order of the syncs and the rename.
func TestCrashAtEveryStep(t *testing.T) {
	const dir = "/data/ckpt"
	for step := 0; ; step++ {
		mem := faultfs.NewMemFS()
		fsys := faultfs.New(mem)
		s, _ := open(t, dir, checkpoint.Options{FS: fsys, Retain: 1})
		take(t, s, 1, checkpoint.KindCheckpoint)
		fsys.Reset()
		fsys.Inject(faultfs.Rule{Ops: faultfs.OpAll, After: step})
		writeErr, commitErr := attempt(t, s)
		committed := writeErr == nil && commitErr == nil
		crashed := fsys.Injected() > 0
		mem.Crash()
		fsys.Reset()

		s, _ = open(t, dir, checkpoint.Options{FS: fsys, Retain: 1})
		c := latest(t, s)
		if c == nil {
			t.Fatalf("crash after %d operations: no checkpoint survived", step)
		}
		t.Logf("crash after %d operations: checkpoint %d survived (committed: %v)", step, c.Manifest.ID, committed)
		switch {
		case committed:
			check(t, c, 2)
		case c.Manifest.ID == 2:
			check(t, c, 2) // the rename was durable before the failure was seen
		default:
			check(t, c, 1)
		}
		// A new attempt succeeds after the crash, whatever was left.
		if w, cerr := attempt(t, s); w != nil || cerr != nil {
			if !errors.Is(w, checkpoint.ErrExists) { // 2 survived
				t.Fatalf("after a crash at step %d: %v, %v", step, w, cerr)
			}
		}
		if !crashed {
			if step < 10 {
				t.Fatalf("only %d operations", step)
			}
			return
		}
	}
}
