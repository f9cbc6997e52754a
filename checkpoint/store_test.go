package checkpoint_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/checkpoint"
)

// logBuffer collects a store's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// open opens a store in dir with a logger writing into the returned buffer.
func open(t *testing.T, dir string, opts checkpoint.Options) (*checkpoint.Store, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := checkpoint.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

// files is the content of a checkpoint's data files, by name.
type files map[string]string

// content returns the data files of checkpoint id: every checkpoint's files differ.
func content(id int64) files {
	return files{"op-0": fmt.Sprintf("state of subtask 0 at %d", id), "op-1": strings.Repeat("x", int(id))}
}

func manifest() *checkpoint.Manifest {
	return &checkpoint.Manifest{Pipeline: "p", MaxParallelism: 4,
		Operators: []checkpoint.OperatorState{{UID: "op", Parallelism: 2, Parts: []checkpoint.Part{
			{Subtask: 0, KeyGroupStart: 0, KeyGroupEnd: 1, File: "op-0"},
			{Subtask: 1, KeyGroupStart: 2, KeyGroupEnd: 3, File: "op-1"},
		}}},
		Sources: []checkpoint.SourceState{{UID: "src", Splits: []checkpoint.SplitOffset{{Split: 0, Offset: []byte("42")}}}},
	}
}

// write writes the files of a checkpoint through w.
func write(t *testing.T, w *checkpoint.Writer, fs files) error {
	t.Helper()
	for name, data := range fs {
		f, err := w.Create(name)
		if err != nil {
			return err
		}
		_, err = io.WriteString(f, data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// take takes a complete checkpoint (or savepoint) id with content(id).
func take(t *testing.T, s *checkpoint.Store, id int64, kind checkpoint.Kind) {
	t.Helper()
	w, err := s.Begin(id, kind)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(t, w, content(id)); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(manifest()); err != nil {
		t.Fatal(err)
	}
}

// check verifies that c is checkpoint id and that its files read back as content(id).
func check(t *testing.T, c *checkpoint.Checkpoint, id int64) {
	t.Helper()
	if c == nil {
		t.Fatalf("no checkpoint, want %d", id)
	}
	if c.Manifest.ID != id {
		t.Fatalf("checkpoint %d, want %d", c.Manifest.ID, id)
	}
	for name, want := range content(id) {
		r, err := c.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || string(got) != want {
			t.Fatalf("%s: got %q, %v; want %q", name, got, err, want)
		}
	}
}

func latest(t *testing.T, s *checkpoint.Store) *checkpoint.Checkpoint {
	t.Helper()
	c, err := s.Latest()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCommitAndLatest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt") // Open creates it
	s, _ := open(t, dir, checkpoint.Options{})
	if c := latest(t, s); c != nil {
		t.Fatalf("an empty store has checkpoint %d", c.Manifest.ID)
	}
	take(t, s, 1, checkpoint.KindCheckpoint)
	take(t, s, 2, checkpoint.KindCheckpoint)
	c := latest(t, s)
	check(t, c, 2)
	m := c.Manifest
	if m.Version != checkpoint.ManifestVersion || m.Kind != checkpoint.KindCheckpoint || m.CreatedUnixMs == 0 ||
		len(m.Files) != 2 || m.Files[0].Name != "op-0" || m.Files[1].Size != 2 {
		t.Fatalf("manifest %+v", m)
	}
	if c.Dir != filepath.Join(dir, "chk-00000000000000000002") {
		t.Fatalf("dir %s", c.Dir)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "MANIFEST.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Open("nope"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("opening a file the manifest does not list: %v", err)
	}
	// A second store on the same directory sees the same.
	s2, _ := open(t, dir, checkpoint.Options{})
	check(t, latest(t, s2), 2)
}

func TestRetention(t *testing.T) {
	for _, retain := range []int{0, 1, 2, 5} {
		t.Run(fmt.Sprint(retain), func(t *testing.T) {
			s, logs := open(t, t.TempDir(), checkpoint.Options{Retain: retain})
			take(t, s, 3, checkpoint.KindSavepoint)
			for id := int64(1); id <= 8; id++ {
				take(t, s, id, checkpoint.KindCheckpoint)
			}
			take(t, s, 9, checkpoint.KindSavepoint)
			want := retain
			if retain == 0 {
				want = checkpoint.DefaultRetain
			}
			list, err := s.List()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, in := range list {
				got = append(got, fmt.Sprintf("%s-%d", in.Kind, in.ID))
			}
			var exp []string
			for id := int64(9 - want); id <= 8; id++ {
				exp = append(exp, fmt.Sprintf("checkpoint-%d", id))
				if id == 3 {
					exp = append(exp, "savepoint-3")
				}
			}
			if 9-want > 3 {
				exp = append([]string{"savepoint-3"}, exp...)
			}
			exp = append(exp, "savepoint-9")
			if strings.Join(got, " ") != strings.Join(exp, " ") {
				t.Fatalf("kept %v, want %v", got, exp)
			}
			check(t, latest(t, s), 8)
			if !strings.Contains(logs.String(), "pruned") {
				t.Fatalf("no log of pruning: %s", logs)
			}
		})
	}
}

func TestRetainNegative(t *testing.T) {
	if _, err := checkpoint.Open(t.TempDir(), checkpoint.Options{Retain: -1}); err == nil {
		t.Fatal("a negative Retain was accepted")
	}
}

func TestPruneRemovesOldPartials(t *testing.T) {
	s, _ := open(t, t.TempDir(), checkpoint.Options{Retain: 5})
	take(t, s, 1, checkpoint.KindCheckpoint)
	w, err := s.Begin(2, checkpoint.KindCheckpoint) // left partial: the process "crashed"
	if err != nil {
		t.Fatal(err)
	}
	if err := write(t, w, content(2)); err != nil {
		t.Fatal(err)
	}
	take(t, s, 3, checkpoint.KindCheckpoint)
	w4, err := s.Begin(4, checkpoint.KindCheckpoint) // in progress while 3 commits: kept
	if err != nil {
		t.Fatal(err)
	}
	defer w4.Abort()
	take(t, s, 5, checkpoint.KindCheckpoint) // 4 is now older than the newest complete: pruned
	list, _ := s.List()
	var got []string
	for _, in := range list {
		got = append(got, fmt.Sprintf("%d:%v", in.ID, in.Complete))
	}
	if strings.Join(got, " ") != "1:true 3:true 5:true" {
		t.Fatalf("listed %v", got)
	}
}

func TestSavepoints(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, checkpoint.Options{Retain: 1})
	take(t, s, 4, checkpoint.KindSavepoint)
	take(t, s, 5, checkpoint.KindCheckpoint)
	take(t, s, 6, checkpoint.KindCheckpoint)
	sp, err := s.Savepoint(4)
	if err != nil {
		t.Fatal(err)
	}
	check(t, sp, 4)
	if sp.Dir != filepath.Join(dir, "savepoint-4") || sp.Manifest.Kind != checkpoint.KindSavepoint {
		t.Fatalf("savepoint %s %v", sp.Dir, sp.Manifest.Kind)
	}
	check(t, latest(t, s), 6) // savepoints are not candidates for Latest

	// A savepoint folder copied elsewhere opens by path.
	moved := filepath.Join(t.TempDir(), "backup")
	if err := os.Rename(sp.Dir, moved); err != nil {
		t.Fatal(err)
	}
	c, err := checkpoint.OpenCheckpoint(checkpoint.OSFS(), moved)
	if err != nil {
		t.Fatal(err)
	}
	check(t, c, 4)
	if _, err := s.Savepoint(4); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("a moved savepoint: %v", err)
	}
	if err := s.DeleteSavepoint(4); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("deleting a missing savepoint: %v", err)
	}
	take(t, s, 7, checkpoint.KindSavepoint)
	if err := s.DeleteSavepoint(7); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Savepoint(7); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("a deleted savepoint: %v", err)
	}
	if _, err := checkpoint.OpenCheckpoint(checkpoint.OSFS(), filepath.Join(dir, "nope")); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("opening a missing folder: %v", err)
	}
}

func TestBeginRules(t *testing.T) {
	dir := t.TempDir()
	s, logs := open(t, dir, checkpoint.Options{})
	take(t, s, 5, checkpoint.KindCheckpoint)
	take(t, s, 5, checkpoint.KindSavepoint) // its own folder
	for _, c := range []struct {
		id   int64
		kind checkpoint.Kind
	}{{5, checkpoint.KindCheckpoint}, {4, checkpoint.KindCheckpoint}, {5, checkpoint.KindSavepoint}} {
		if _, err := s.Begin(c.id, c.kind); !errors.Is(err, checkpoint.ErrExists) {
			t.Errorf("Begin(%d, %s): %v, want ErrExists", c.id, c.kind, err)
		}
	}
	if _, err := s.Begin(-1, checkpoint.KindCheckpoint); err == nil {
		t.Error("Begin accepted a negative id")
	}
	if _, err := s.Begin(6, 0); err == nil {
		t.Error("Begin accepted an invalid kind")
	}
	// A partial folder of the same id is replaced.
	w, _ := s.Begin(6, checkpoint.KindCheckpoint)
	if err := write(t, w, files{"stale": "old"}); err != nil {
		t.Fatal(err)
	}
	take(t, s, 6, checkpoint.KindCheckpoint)
	if _, err := os.Stat(filepath.Join(dir, "chk-00000000000000000006", "stale")); !os.IsNotExist(err) {
		t.Fatalf("the stale file survived: %v", err)
	}
	if !strings.Contains(logs.String(), "removing a partial checkpoint") {
		t.Fatalf("no log of the replaced partial folder: %s", logs)
	}
}

func TestWriterMisuse(t *testing.T) {
	s, _ := open(t, t.TempDir(), checkpoint.Options{})
	w, err := s.Begin(1, checkpoint.KindCheckpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for _, name := range []string{"", ".", "..", "a/b", `a\b`, "MANIFEST.json", "MANIFEST.json.tmp"} {
		if _, err := w.Create(name); err == nil {
			t.Errorf("Create(%q) succeeded", name)
		}
	}
	f, err := w.Create("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Create("a"); err == nil {
		t.Error("created a file twice")
	}
	if err := w.Commit(manifest()); err == nil || !strings.Contains(err.Error(), `"a" is still open`) {
		t.Errorf("committed with an open file: %v", err)
	}
	f.Close()
	if err := f.Close(); err == nil {
		t.Error("closed a file twice")
	}
	if _, err := f.Write([]byte("x")); err == nil {
		t.Error("wrote to a closed file")
	}

	w2, _ := s.Begin(2, checkpoint.KindCheckpoint)
	defer w2.Abort()
	m := manifest()
	m.ID = 3
	if err := w2.Commit(m); err == nil {
		t.Error("committed a manifest with another id")
	}
	w3, _ := s.Begin(3, checkpoint.KindCheckpoint)
	defer w3.Abort()
	if err := w3.Commit(manifest()); err == nil || !strings.Contains(err.Error(), `"op-0" is not among the checkpoint's files`) {
		t.Errorf("committed a manifest naming a file not written: %v", err)
	}
	if err := write(t, w3, content(3)); err == nil {
		t.Error("created a file after a failed Commit")
	}
}

func TestAbort(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, checkpoint.Options{})
	take(t, s, 1, checkpoint.KindCheckpoint)
	w, _ := s.Begin(2, checkpoint.KindCheckpoint)
	if err := write(t, w, content(2)); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(w.Dir()); !os.IsNotExist(err) {
		t.Fatalf("the aborted folder is still there: %v", err)
	}
	if err := w.Commit(manifest()); err == nil {
		t.Fatal("committed after Abort")
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	check(t, latest(t, s), 1)
	// Abort after Commit is a no-op.
	w3, _ := s.Begin(3, checkpoint.KindCheckpoint)
	if err := write(t, w3, content(3)); err != nil {
		t.Fatal(err)
	}
	if err := w3.Commit(manifest()); err != nil {
		t.Fatal(err)
	}
	if err := w3.Abort(); err != nil {
		t.Fatal(err)
	}
	check(t, latest(t, s), 3)
}

// TestParallelCreate writes many files from many goroutines into one checkpoint (run it with
// -race).
func TestParallelCreate(t *testing.T) {
	s, _ := open(t, t.TempDir(), checkpoint.Options{})
	w, err := s.Begin(1, checkpoint.KindCheckpoint)
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	m := &checkpoint.Manifest{MaxParallelism: n}
	op := checkpoint.OperatorState{UID: "op", Parallelism: n}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		op.Parts = append(op.Parts, checkpoint.Part{Subtask: i, KeyGroupStart: i, KeyGroupEnd: i, File: fmt.Sprint("part-", i)})
		wg.Go(func() {
			f, err := w.Create(fmt.Sprint("part-", i))
			if err != nil {
				errs[i] = err
				return
			}
			for range 100 {
				fmt.Fprintf(f, "subtask %d writes a line\n", i)
			}
			errs[i] = f.Close()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	m.Operators = []checkpoint.OperatorState{op}
	if err := w.Commit(m); err != nil {
		t.Fatal(err)
	}
	c := latest(t, s)
	if len(c.Manifest.Files) != n {
		t.Fatalf("%d files", len(c.Manifest.Files))
	}
	r, _ := c.Open("part-7")
	b, err := io.ReadAll(r)
	if err != nil || !strings.HasPrefix(string(b), "subtask 7 writes") || len(b) != 100*len("subtask 7 writes a line\n") {
		t.Fatalf("read %d bytes, %v", len(b), err)
	}
}

func TestLinkFrom(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, checkpoint.Options{Retain: 1})
	take(t, s, 1, checkpoint.KindCheckpoint)
	prev := latest(t, s)
	w, _ := s.Begin(2, checkpoint.KindCheckpoint)
	if err := w.LinkFrom(prev, "op-0"); err != nil {
		t.Fatal(err)
	}
	if err := w.LinkFrom(prev, "missing"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("linking a file prev does not have: %v", err)
	}
	if err := write(t, w, files{"op-1": "new"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(manifest()); err != nil {
		t.Fatal(err)
	}
	// Checkpoint 1 is pruned (Retain 1); the linked file lives on in checkpoint 2.
	if _, err := os.Stat(prev.Dir); !os.IsNotExist(err) {
		t.Fatalf("checkpoint 1 was not pruned: %v", err)
	}
	c := latest(t, s)
	r, _ := c.Open("op-0")
	b, err := io.ReadAll(r)
	if err != nil || string(b) != content(1)["op-0"] {
		t.Fatalf("linked file: %q, %v", b, err)
	}
}

// corrupt applies a change to a file of a checkpoint folder.
type corruption struct {
	name   string
	file   string // in the newest checkpoint's folder
	change func(path string) error
	reason string // in the log line
}

func flipByte(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b[len(b)/2] ^= 0x20
	return os.WriteFile(path, b, 0o644)
}

func truncate(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b[:len(b)/2], 0o644)
}

// TestCorruptCheckpointSkipped damages the newest checkpoint in each way a crash or a bad disk
// could, and checks that Latest skips it with a warning naming it and the reason, and returns the
// previous one.
func TestCorruptCheckpointSkipped(t *testing.T) {
	cases := []corruption{
		{"flipped byte in a data file", "op-0", flipByte, "CRC-32C"},
		{"truncated data file", "op-1", truncate, "size 1, the manifest says 3"},
		{"missing data file", "op-0", os.Remove, "the data file is missing"},
		{"appended to a data file", "op-1", func(p string) error {
			return os.WriteFile(p, []byte("xxxx"), 0o644)
		}, "size 4, the manifest says 3"},
		{"torn manifest", "MANIFEST.json", truncate, "unexpected EOF"},
		{"manifest not JSON", "MANIFEST.json", func(p string) error {
			return os.WriteFile(p, []byte("garbage"), 0o644)
		}, "invalid character"},
		{"manifest of another checkpoint", "MANIFEST.json", func(p string) error {
			b, _ := os.ReadFile(p)
			return os.WriteFile(p, bytes.Replace(b, []byte(`"id": 3`), []byte(`"id": 1`), 1), 0o644)
		}, "the manifest is for checkpoint 1"},
		{"manifest only as tmp", "MANIFEST.json", func(p string) error {
			return os.Rename(p, p+".tmp")
		}, "MANIFEST.json.tmp is present: the commit did not finish"},
		{"empty folder", "MANIFEST.json", func(p string) error {
			return os.RemoveAll(filepath.Dir(p) + "/")
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s, logs := open(t, dir, checkpoint.Options{})
			take(t, s, 2, checkpoint.KindCheckpoint)
			take(t, s, 3, checkpoint.KindCheckpoint)
			folder := filepath.Join(dir, "chk-00000000000000000003")
			if err := c.change(filepath.Join(folder, c.file)); err != nil {
				t.Fatal(err)
			}
			if c.name == "empty folder" {
				os.Mkdir(folder, 0o755)
			}
			check(t, latest(t, s), 2)
			if !strings.Contains(logs.String(), "skipping an unusable checkpoint") ||
				!strings.Contains(logs.String(), folder) || !strings.Contains(logs.String(), c.reason) {
				t.Fatalf("log does not name %s and %q:\n%s", folder, c.reason, logs)
			}
		})
	}
}

func TestAllCorrupt(t *testing.T) {
	dir := t.TempDir()
	s, logs := open(t, dir, checkpoint.Options{})
	take(t, s, 1, checkpoint.KindCheckpoint)
	if err := flipByte(filepath.Join(dir, "chk-00000000000000000001", "op-0")); err != nil {
		t.Fatal(err)
	}
	if c := latest(t, s); c != nil {
		t.Fatalf("got checkpoint %d", c.Manifest.ID)
	}
	if !strings.Contains(logs.String(), "chk-00000000000000000001") {
		t.Fatalf("no log naming the skipped checkpoint: %s", logs)
	}
}

// TestOpenVerifies checks that a data file damaged after validation is caught as it is read.
func TestOpenVerifies(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, checkpoint.Options{})
	take(t, s, 3, checkpoint.KindCheckpoint)
	c := latest(t, s)
	for _, damage := range []func(string) error{flipByte, truncate, func(p string) error {
		return os.WriteFile(p, []byte("yyyyyyyyy"), 0o644)
	}} {
		take(t, s, c.Manifest.ID+1, checkpoint.KindCheckpoint)
		c = latest(t, s)
		if err := damage(filepath.Join(c.Dir, "op-1")); err != nil {
			t.Fatal(err)
		}
		r, err := c.Open("op-1")
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(r)
		r.Close()
		if !errors.Is(err, checkpoint.ErrCorrupt) {
			t.Fatalf("reading a damaged file: %v", err)
		}
	}
}

func TestDirNames(t *testing.T) {
	s, _ := open(t, t.TempDir(), checkpoint.Options{})
	for _, name := range []string{"chk-1", "chk-0000000000000000000x", "savepoint-01", "savepoint--1",
		"savepoint-", "chk-99999999999999999999", "other"} {
		if err := os.Mkdir(filepath.Join(s.Dir(), name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(s.Dir(), "chk-00000000000000000009"), nil, 0o644) // a file, not a folder
	take(t, s, 0, checkpoint.KindSavepoint)
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != 0 || list[0].Kind != checkpoint.KindSavepoint || !list[0].Complete {
		t.Fatalf("listed %+v", list)
	}
	if checkpoint.DirName(42, checkpoint.KindCheckpoint) != "chk-00000000000000000042" ||
		checkpoint.DirName(42, checkpoint.KindSavepoint) != "savepoint-42" {
		t.Fatal("unexpected folder names")
	}
}
