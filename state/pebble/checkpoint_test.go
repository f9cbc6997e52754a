package pebble

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/checkpoint"
	"github.com/sluicehq/sluice/checkpoint/faultfs"
)

// ckptEnv takes checkpoints of stores into a checkpoint.Store, as the runtime will.
type ckptEnv struct {
	t     testing.TB
	store *checkpoint.Store
	id    int64
}

func newCkptEnv(t testing.TB, fsys checkpoint.FS) *ckptEnv {
	t.Helper()
	cs, err := checkpoint.Open(filepath.Join(t.TempDir(), "checkpoints"), checkpoint.Options{FS: fsys, Retain: 2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return &ckptEnv{t: t, store: cs}
}

// take checkpoints every store into one checkpoint, linking from the latest, and returns the
// stores' snapshots and the opened checkpoint.
func (e *ckptEnv) take(stores ...*Store) ([]Snapshot, *checkpoint.Checkpoint) {
	e.t.Helper()
	snaps, err := e.try(stores...)
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := e.store.Latest()
	if err != nil || c == nil || c.Manifest.ID != e.id {
		e.t.Fatalf("Latest after checkpoint %d: %v, %v", e.id, c, err)
	}
	return snaps, c
}

func (e *ckptEnv) try(stores ...*Store) ([]Snapshot, error) {
	prev, err := e.store.Latest()
	if err != nil {
		return nil, err
	}
	e.id++
	w, err := e.store.Begin(e.id, checkpoint.KindCheckpoint)
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	sink := NewSink(w, prev)
	var snaps []Snapshot
	for _, s := range stores {
		snap, err := s.Checkpoint(sink)
		if err != nil {
			return nil, err
		}
		snaps = append(snaps, snap)
	}
	return snaps, w.Commit(&checkpoint.Manifest{Pipeline: "test"})
}

// fillRandom sets n keys with values of size bytes in key groups [kgStart, kgEnd) and returns
// the model.
func fillRandom(t testing.TB, s *Store, seed uint64, n, size, kgStart, kgEnd int) map[[2]string]entry {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	model := map[[2]string]entry{}
	val := make([]byte, size)
	for range n {
		kg := kgStart + rng.IntN(kgEnd-kgStart)
		key := fmt.Sprintf("key-%08x", rng.Uint32())
		for j := range val {
			val[j] = byte(rng.Uint32())
		}
		if err := s.Set(kg, []byte(key), val); err != nil {
			t.Fatal(err)
		}
		model[mkey(kg, key)] = entry{kg, key, string(val)}
	}
	return model
}

func TestCheckpointRestore(t *testing.T) {
	env := newCkptEnv(t, nil)
	s := openTest(t, Options{MemTableSize: 1 << 20})
	model := fillRandom(t, s, 1, 20000/raceScale, 100, 0, 128)
	if err := s.Compact(); err != nil { // settled: the restored store has nothing to compact
		t.Fatal(err)
	}
	snaps, c := env.take(s)
	if snaps[0].Copied == 0 || snaps[0].Linked != 0 {
		t.Fatalf("first checkpoint: %+v: want everything copied", snaps[0])
	}
	// Writes after the checkpoint are not in it.
	if err := s.Set(5, []byte("after"), []byte("x")); err != nil {
		t.Fatal(err)
	}

	r, err := Restore(filepath.Join(t.TempDir(), "restored"), c, snaps[0].Files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	equalEntries(t, "restored store", dump(t, r, 0, MaxKeyGroups), sorted(model, 0, MaxKeyGroups))

	// The restored store is a store: it takes writes and its next checkpoint links the tables
	// it restored.
	if err := r.Set(7, []byte("new"), []byte("value")); err != nil {
		t.Fatal(err)
	}
	model[mkey(7, "new")] = entry{7, "new", "value"}
	snaps, c = env.take(r)
	t.Logf("checkpoint after restore: %+v", snapshotStats(snaps[0]))
	if snaps[0].Linked == 0 || snaps[0].CopiedBytes*5 > snaps[0].LinkedBytes {
		t.Fatalf("checkpoint after restore links too little: %s", snapshotStats(snaps[0]))
	}
	r2, err := Restore(filepath.Join(t.TempDir(), "restored2"), c, snaps[0].Files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	equalEntries(t, "store restored twice", dump(t, r2, 0, MaxKeyGroups), sorted(model, 0, MaxKeyGroups))

	// Restoring files that are not there says which.
	_, err = Restore(filepath.Join(t.TempDir(), "bad"), c, []string{"0123456789abcdef-1-000099.sst"}, Options{})
	if !errors.Is(err, checkpoint.ErrNotFound) || !strings.Contains(err.Error(), "000099.sst") {
		t.Fatalf("Restore of a missing file: %v", err)
	}
	if _, err = Restore(filepath.Join(t.TempDir(), "bad2"), c, []string{"MANIFEST.json"}, Options{}); err == nil {
		t.Fatal("Restore of a file that is not a store's: no error")
	}
}

// The checkpoint store may not be on the local file system: files are then copied, and verified
// against the manifest as they are.
func TestRestoreCopiesFromOtherFS(t *testing.T) {
	env := newCkptEnv(t, faultfs.NewMemFS())
	s := openTest(t, Options{})
	model := fillRandom(t, s, 2, 2000, 50, 0, 16)
	snaps, c := env.take(s)
	r, err := Restore(filepath.Join(t.TempDir(), "restored"), c, snaps[0].Files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	equalEntries(t, "restored from a memory FS", dump(t, r, 0, MaxKeyGroups), sorted(model, 0, MaxKeyGroups))
}

func snapshotStats(s Snapshot) string {
	return fmt.Sprintf("%d files: %d copied (%d B), %d linked (%d B)",
		len(s.Files), s.Copied, s.CopiedBytes, s.Linked, s.LinkedBytes)
}

func TestIncrementalCheckpoint(t *testing.T) {
	env := newCkptEnv(t, nil)
	s := openTest(t, Options{CacheSize: 4 << 20, MemTableSize: 4 << 20})
	n := 200_000 / raceScale
	model := fillRandom(t, s, 3, n, 200, 0, 128)
	// Settle the bulk load: otherwise the compactions it left pending rewrite the tables
	// between the two checkpoints, whatever changed.
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	first, _ := env.take(s)
	// A few changes: 100 updates, 10 deletes, 10 new keys.
	rng := rand.New(rand.NewPCG(9, 9))
	i := 0
	for k, e := range model {
		switch {
		case i < 100:
			e.value = fmt.Sprint("updated", i)
			if err := s.Set(e.kg, []byte(e.key), []byte(e.value)); err != nil {
				t.Fatal(err)
			}
			model[k] = e
		case i < 110:
			if err := s.Delete(e.kg, []byte(e.key)); err != nil {
				t.Fatal(err)
			}
			delete(model, k)
		}
		i++
	}
	for j := range 10 {
		kg, key := rng.IntN(128), fmt.Sprint("fresh", j)
		if err := s.Set(kg, []byte(key), []byte("v")); err != nil {
			t.Fatal(err)
		}
		model[mkey(kg, key)] = entry{kg, key, "v"}
	}
	second, c := env.take(s)
	t.Logf("%d keys × 200 B; first checkpoint: %s", n, snapshotStats(first[0]))
	t.Logf("after 120 changes, second checkpoint: %s", snapshotStats(second[0]))
	if second[0].Linked == 0 || second[0].CopiedBytes*20 > first[0].CopiedBytes {
		t.Fatalf("the second checkpoint copies %d bytes, the first %d: not incremental",
			second[0].CopiedBytes, first[0].CopiedBytes)
	}
	// The incremental checkpoint restores the whole state.
	r, err := Restore(filepath.Join(t.TempDir(), "restored"), c, second[0].Files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	equalEntries(t, "restored from the incremental checkpoint", dump(t, r, 0, MaxKeyGroups), sorted(model, 0, MaxKeyGroups))

	// Over many checkpoints, compactions rewrite tables, which the next checkpoint copies; the
	// small first level (Options.LBaseMaxBytes) bounds that. 0.5% of the keys change each time.
	keys := make([]entry, 0, len(model))
	for _, e := range model {
		keys = append(keys, e)
	}
	var total int64
	const rounds = 10
	for round := range rounds {
		for range len(keys) / 200 {
			e := keys[rng.IntN(len(keys))]
			e.value = fmt.Sprintf("round %d", round)
			if err := s.Set(e.kg, []byte(e.key), []byte(e.value)); err != nil {
				t.Fatal(err)
			}
			model[mkey(e.kg, e.key)] = e
		}
		snaps, _ := env.take(s)
		total += snaps[0].CopiedBytes
	}
	t.Logf("%d more checkpoints, each after updating 0.5%% of the keys, copied %d bytes in all", rounds, total)
	if total*4 > first[0].CopiedBytes {
		t.Fatalf("%d checkpoints with 0.5%% changes copied %d bytes, the full one %d", rounds, total, first[0].CopiedBytes)
	}
}

func TestRestoreRange(t *testing.T) {
	env := newCkptEnv(t, nil)
	// Two subtasks own key groups [0, 64) and [64, 128).
	a := openTest(t, Options{MemTableSize: 1 << 20})
	b := openTest(t, Options{MemTableSize: 1 << 20})
	model := fillRandom(t, a, 4, 10000/raceScale, 64, 0, 64)
	for k, e := range fillRandom(t, b, 5, 20000/raceScale, 64, 64, 128) {
		model[k] = e
	}
	snaps, c := env.take(a, b)
	sources := []Source{{c, snaps[0].Files}, {c, snaps[1].Files}}
	for _, r := range [][2]int{
		{0, 128},  // scale in to one subtask
		{32, 96},  // overlaps both, b has more
		{0, 43},   // scale out: a part of a only
		{85, 128}, // a part of b only
		{60, 70},
		{63, 64},
		{200, 300}, // nothing
	} {
		t.Run(fmt.Sprintf("%d-%d", r[0], r[1]), func(t *testing.T) {
			s, err := RestoreRange(filepath.Join(t.TempDir(), "range"), sources, r[0], r[1], Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			want := sorted(model, r[0], r[1])
			equalEntries(t, "restored range", dump(t, s, 0, MaxKeyGroups), want)
			for _, e := range want[:min(len(want), 50)] {
				if v, ok, err := s.Get(e.kg, []byte(e.key), nil); !ok || err != nil || string(v) != e.value {
					t.Fatalf("Get(%d, %s): %v %v", e.kg, e.key, ok, err)
				}
			}
			// Keys outside the range are gone for Get too.
			checked := 0
			for _, e := range model {
				if e.kg >= r[0] && e.kg < r[1] {
					continue
				}
				if _, ok, err := s.Get(e.kg, []byte(e.key), nil); ok || err != nil {
					t.Fatalf("Get(%d, %s) outside the range: found=%v, %v", e.kg, e.key, ok, err)
				}
				if checked++; checked == 200 {
					break
				}
			}
			// The rescaled store checkpoints and restores like any.
			env := newCkptEnv(t, nil)
			if err := s.Set(r[0], []byte("zz-new"), []byte("1")); err != nil {
				t.Fatal(err)
			}
			want = append(sorted(model, r[0], r[1]), entry{r[0], "zz-new", "1"})
			want = sorted(toModel(want), 0, MaxKeyGroups)
			snaps, c := env.take(s)
			again, err := Restore(filepath.Join(t.TempDir(), "again"), c, snaps[0].Files, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			equalEntries(t, "rescaled store after a checkpoint", dump(t, again, 0, MaxKeyGroups), want)
		})
	}
	if _, err := RestoreRange(filepath.Join(t.TempDir(), "x"), sources, 10, 5, Options{}); err == nil {
		t.Fatal("RestoreRange(10, 5): no error")
	}
}

func toModel(es []entry) map[[2]string]entry {
	m := map[[2]string]entry{}
	for _, e := range es {
		m[mkey(e.kg, e.key)] = e
	}
	return m
}

// memSink keeps checkpoint files in memory; Write fails once failAt bytes were written in all.
type memSink struct {
	prev    map[string][]byte
	files   map[string][]byte
	failAt  int
	written int
}

func newMemSink(prev *memSink) *memSink {
	m := &memSink{files: map[string][]byte{}, failAt: -1}
	if prev != nil {
		m.prev = prev.files
	}
	return m
}

var errDiskBroken = errors.New("disk broken")

func (m *memSink) Create(name string) (io.WriteCloser, error) {
	if _, dup := m.files[name]; dup {
		return nil, fmt.Errorf("%s exists", name)
	}
	m.files[name] = nil
	return &memFile{m: m, name: name}, nil
}

func (m *memSink) Link(name string) error {
	b, ok := m.prev[name]
	if !ok {
		return ErrNotLinkable
	}
	m.files[name] = b
	return nil
}

type memFile struct {
	m    *memSink
	name string
}

func (f *memFile) Write(p []byte) (int, error) {
	if f.m.failAt >= 0 && f.m.written+len(p) > f.m.failAt {
		return 0, errDiskBroken
	}
	f.m.written += len(p)
	f.m.files[f.name] = append(f.m.files[f.name], p...)
	return len(p), nil
}

func (f *memFile) Close() error { return nil }

func TestCheckpointSinkFailure(t *testing.T) {
	s := openTest(t, Options{MemTableSize: 1 << 20})
	model := fillRandom(t, s, 6, 5000, 100, 0, 32)
	good := newMemSink(nil)
	if _, err := s.Checkpoint(good); err != nil {
		t.Fatal(err)
	}
	for k, e := range fillRandom(t, s, 7, 5000, 100, 0, 32) {
		model[k] = e
	}
	bad := newMemSink(good)
	bad.failAt = 1000
	_, err := s.Checkpoint(bad)
	if !errors.Is(err, errDiskBroken) || !strings.Contains(err.Error(), "uploading") {
		t.Fatalf("Checkpoint to a failing sink: %v", err)
	}
	// The live store is unaffected: it reads, writes and checkpoints again.
	equalEntries(t, "store after a failed checkpoint", dump(t, s, 0, MaxKeyGroups), sorted(model, 0, MaxKeyGroups))
	if err := s.Set(1, []byte("after"), []byte("failure")); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.Get(1, []byte("after"), nil); !ok || err != nil || string(v) != "failure" {
		t.Fatalf("Get after a failed checkpoint: %q %v %v", v, ok, err)
	}
	if snap, err := s.Checkpoint(newMemSink(good)); err != nil {
		t.Fatalf("checkpoint after a failed one: %+v, %v", snap, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.Dir(), captureDir)); len(entries) != 0 {
		t.Fatalf("captures left behind: %v", entries)
	}
}

// A full disk under the checkpoint store fails the checkpoint, which is aborted; the store goes
// on and the next checkpoint restores.
func TestCheckpointDiskFull(t *testing.T) {
	fsys := faultfs.New(checkpoint.OSFS())
	env := newCkptEnv(t, fsys)
	s := openTest(t, Options{MemTableSize: 1 << 20})
	model := fillRandom(t, s, 8, 5000, 100, 0, 32)
	env.take(s)
	for k, e := range fillRandom(t, s, 9, 5000, 100, 0, 32) {
		model[k] = e
	}
	fsys.DiskFull(10_000)
	if _, err := env.try(s); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("checkpoint on a full disk: %v", err)
	}
	fsys.Reset()
	if c, _ := env.store.Latest(); c == nil || c.Manifest.ID != 1 {
		t.Fatalf("the failed checkpoint is visible: %v", c)
	}
	snaps, c := env.take(s)
	r, err := Restore(filepath.Join(t.TempDir(), "restored"), c, snaps[0].Files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	equalEntries(t, "restored after a failed checkpoint", dump(t, r, 0, MaxKeyGroups), sorted(model, 0, MaxKeyGroups))
}

func TestLocalName(t *testing.T) {
	for name, want := range map[string]string{
		"0123456789abcdef-3-000012.sst":                            "000012.sst",
		"0123456789abcdef-12-MANIFEST-000005":                      "MANIFEST-000005",
		"0123456789abcdef-1-marker.manifest.000001.MANIFEST-00001": "marker.manifest.000001.MANIFEST-00001",
		"0123456789abcdef-x-000012.sst":                            "",
		"short-1-000012.sst":                                       "",
		"0123456789abcdef-1-":                                      "",
		"0123456789abcdef-1-..":                                    "",
	} {
		got, err := localName(name)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("localName(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
}
