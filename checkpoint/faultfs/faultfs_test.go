package faultfs_test

import (
	"errors"
	"io"
	"os"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/checkpoint/faultfs"
)

func readFile(t *testing.T, m *faultfs.MemFS, name string) (string, error) {
	t.Helper()
	r, err := m.Open(name)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

func TestRules(t *testing.T) {
	fsys := faultfs.New(faultfs.NewMemFS())
	boom := errors.New("boom")
	fsys.Inject(faultfs.Rule{Ops: faultfs.OpMkdirAll | faultfs.OpStat, Path: "/b", After: 1, Times: 2, Err: boom})
	results := make([]error, 5)
	for i := range results {
		results[i] = fsys.MkdirAll("/a/b", 0o755)
	}
	if results[0] != nil || !errors.Is(results[1], boom) || !errors.Is(results[2], boom) || results[3] != nil {
		t.Fatalf("results %v", results)
	}
	var pe *os.PathError
	if !errors.As(results[1], &pe) || pe.Op != "mkdirall" || pe.Path != "/a/b" {
		t.Fatalf("error %#v", results[1])
	}
	if err := fsys.MkdirAll("/c", 0o755); err != nil { // another path
		t.Fatal(err)
	}
	if fsys.Injected() != 2 || fsys.Ops() != 6 {
		t.Fatalf("injected %d, ops %d", fsys.Injected(), fsys.Ops())
	}
	fsys.Inject(faultfs.Rule{Ops: faultfs.OpRename, Path: "dst"})
	if err := fsys.Rename("/c", "/dst"); !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("rename matching the new path: %v", err)
	}
	fsys.Reset()
	if err := fsys.Rename("/c", "/dst"); err != nil {
		t.Fatal(err)
	}
	if fsys.Ops() != 1 {
		t.Fatalf("ops after Reset: %d", fsys.Ops())
	}
}

func TestTornWrite(t *testing.T) {
	mem := faultfs.NewMemFS()
	fsys := faultfs.New(mem)
	fsys.Inject(faultfs.Rule{Ops: faultfs.OpWrite, After: 1, Times: 1, Torn: true})
	f, err := fsys.Create("/f")
	if err != nil {
		t.Fatal(err)
	}
	n1, err1 := f.Write([]byte("first "))
	n2, err2 := f.Write([]byte("0123456789"))
	n3, err3 := f.Write([]byte(" third"))
	if n1 != 6 || err1 != nil || n2 != 5 || !errors.Is(err2, faultfs.ErrInjected) || n3 != 6 || err3 != nil {
		t.Fatalf("writes: %d %v, %d %v, %d %v", n1, err1, n2, err2, n3, err3)
	}
	if got, _ := readFile(t, mem, "/f"); got != "first 01234 third" {
		t.Fatalf("contents %q", got)
	}
}

func TestDiskFull(t *testing.T) {
	mem := faultfs.NewMemFS()
	fsys := faultfs.New(mem)
	fsys.DiskFull(8)
	a, _ := fsys.Create("/a")
	b, _ := fsys.Create("/b")
	if n, err := a.Write([]byte("12345")); n != 5 || err != nil {
		t.Fatal(n, err)
	}
	n, err := b.Write([]byte("12345"))
	if n != 3 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write past the limit: %d, %v", n, err)
	}
	if n, err := a.Write([]byte("1")); n != 0 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %d, %v", n, err)
	}
	fsys.DiskFull(-1)
	if n, err := a.Write([]byte("6")); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	if got, _ := readFile(t, mem, "/b"); got != "123" {
		t.Fatalf("contents %q", got)
	}
	if fsys.Injected() != 2 {
		t.Fatalf("injected %d", fsys.Injected())
	}
}

// TestMemFSCrash checks what survives a crash: synced file contents and synced directory entries.
func TestMemFSCrash(t *testing.T) {
	m := faultfs.NewMemFS()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(m.MkdirAll("/d/e", 0o755))
	must(m.SyncDir("/"))
	must(m.SyncDir("/d"))
	f, err := m.Create("/d/e/synced")
	must(err)
	f.Write([]byte("durable"))
	must(f.Sync())
	f.Write([]byte(" lost"))
	must(f.Close())
	g, _ := m.Create("/d/e/unsynced")
	g.Write([]byte("lost"))
	g.Close()
	h, _ := m.Create("/d/e/renamed.tmp")
	h.Write([]byte("x"))
	h.Sync()
	h.Close()
	must(m.SyncDir("/d/e"))
	must(m.Link("/d/e/synced", "/d/link"))             // the entry in /d is not synced
	must(m.Rename("/d/e/renamed.tmp", "/d/e/renamed")) // not synced either

	if got, _ := readFile(t, m, "/d/e/synced"); got != "durable lost" {
		t.Fatalf("before the crash: %q", got)
	}
	m.Crash()
	if got, err := readFile(t, m, "/d/e/synced"); got != "durable" || err != nil {
		t.Fatalf("after the crash: %q, %v", got, err)
	}
	if got, err := readFile(t, m, "/d/e/unsynced"); got != "" || err != nil {
		t.Fatalf("an unsynced file: %q, %v (its entry was synced, its data not)", got, err)
	}
	for _, gone := range []string{"/d/link", "/d/e/renamed"} {
		if _, err := m.Stat(gone); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s survived: %v", gone, err)
		}
	}
	if got, err := readFile(t, m, "/d/e/renamed.tmp"); got != "x" || err != nil {
		t.Fatalf("the rename's source was durable: %q, %v", got, err)
	}
	// Directories created but not synced in their parent vanish.
	must(m.MkdirAll("/new/sub", 0o755))
	m.Crash()
	if _, err := m.Stat("/new"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("/new survived: %v", err)
	}
}

func TestMemFSOps(t *testing.T) {
	m := faultfs.NewMemFS()
	if _, err := m.Create("/missing/f"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	m.MkdirAll("/d", 0o755)
	f, _ := m.Create("/d/f")
	f.Write([]byte("abc"))
	f.Close()
	if _, err := f.Write(nil); !errors.Is(err, os.ErrClosed) {
		t.Fatal(err)
	}
	if err := m.Remove("/d"); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatal(err)
	}
	if err := m.MkdirAll("/d/f/g", 0o755); !errors.Is(err, syscall.ENOTDIR) {
		t.Fatal(err)
	}
	st, err := m.Stat("/d/f")
	if err != nil || st.Size() != 3 || st.IsDir() || st.Name() != "f" {
		t.Fatal(st, err)
	}
	m.MkdirAll("/d/a", 0o755)
	entries, err := m.ReadDir("/d")
	if err != nil || len(entries) != 2 || entries[0].Name() != "a" || !entries[0].IsDir() || entries[1].Name() != "f" {
		t.Fatal(entries, err)
	}
	if err := m.Link("/d/f", "/d/a/g"); err != nil {
		t.Fatal(err)
	}
	if err := m.Link("/d/f", "/d/a/g"); !errors.Is(err, os.ErrExist) {
		t.Fatal(err)
	}
	if err := m.RemoveAll("/d"); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveAll("/d/x/y"); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("/d"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if got := (faultfs.OpWrite | faultfs.OpSync).String(); got != "write|sync" {
		t.Fatal(got)
	}
}
