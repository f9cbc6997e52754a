package faultfs

import (
	"bytes"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/checkpoint"
)

// MemFS is an in-memory checkpoint.FS that models what a crash keeps: a file's contents are
// durable as of its last Sync, and a directory's entries (created, renamed, removed or linked
// files and directories) as of its last SyncDir. Crash drops everything else, so a test can check
// that data written and acknowledged survives and that nothing half-written is mistaken for
// complete. Paths are slash-separated (host paths are converted); "/" always exists and is
// durable. It is safe for concurrent use.
type MemFS struct {
	mu   sync.Mutex
	root *memNode
}

// memNode is a file (an inode: hard links share it) or a directory.
type memNode struct {
	dir     bool
	entries map[string]*memNode // a directory's current entries
	synced  map[string]*memNode // its entries as of the last SyncDir
	data    []byte              // a file's current contents
	durable []byte              // its contents as of the last Sync
}

// NewMemFS returns an empty MemFS.
func NewMemFS() *MemFS { return &MemFS{root: newDir()} }

func newDir() *memNode {
	return &memNode{dir: true, entries: map[string]*memNode{}, synced: map[string]*memNode{}}
}

// Crash simulates a power failure: every directory reverts to the entries of its last SyncDir,
// every file to the contents of its last Sync. Files and readers opened before it must not be used
// after it.
func (m *MemFS) Crash() {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[*memNode]bool{}
	var revert func(n *memNode)
	revert = func(n *memNode) {
		if seen[n] {
			return
		}
		seen[n] = true
		if !n.dir {
			n.data = slices.Clone(n.durable)
			return
		}
		n.entries = maps.Clone(n.synced)
		for _, c := range n.entries {
			revert(c)
		}
	}
	revert(m.root)
}

// split cleans a path into its elements.
func split(name string) []string {
	p := path.Clean("/" + filepath.ToSlash(name))
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// lookup finds the node at name; m.mu must be held.
func (m *MemFS) lookup(name string) (*memNode, bool) {
	n := m.root
	for _, e := range split(name) {
		if !n.dir {
			return nil, false
		}
		c, ok := n.entries[e]
		if !ok {
			return nil, false
		}
		n = c
	}
	return n, true
}

// parent finds the directory holding name and name's last element; m.mu must be held.
func (m *MemFS) parent(op, name string) (*memNode, string, error) {
	els := split(name)
	if len(els) == 0 {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	dir, ok := m.lookup(strings.Join(els[:len(els)-1], "/"))
	if !ok || !dir.dir {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return dir, els[len(els)-1], nil
}

// MkdirAll implements checkpoint.FS.
func (m *MemFS) MkdirAll(name string, _ os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for _, e := range split(name) {
		c, ok := n.entries[e]
		if !ok {
			c = newDir()
			n.entries[e] = c
		} else if !c.dir {
			return &fs.PathError{Op: "mkdir", Path: name, Err: syscall.ENOTDIR}
		}
		n = c
	}
	return nil
}

// Create implements checkpoint.FS.
func (m *MemFS) Create(name string) (checkpoint.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("open", name)
	if err != nil {
		return nil, err
	}
	n, ok := dir.entries[base]
	switch {
	case ok && n.dir:
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	case ok:
		n.data = nil
	default:
		n = &memNode{}
		dir.entries[base] = n
	}
	return &memFile{fs: m, n: n, name: name}, nil
}

// Open implements checkpoint.FS. The reader sees the contents as of the call.
func (m *MemFS) Open(name string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.lookup(name)
	switch {
	case !ok:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case n.dir:
		return nil, &fs.PathError{Op: "read", Path: name, Err: syscall.EISDIR}
	}
	return io.NopCloser(bytes.NewReader(slices.Clone(n.data))), nil
}

// Rename implements checkpoint.FS.
func (m *MemFS) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	od, ob, err := m.parent("rename", oldpath)
	if err != nil {
		return err
	}
	nd, nb, err := m.parent("rename", newpath)
	if err != nil {
		return err
	}
	n, ok := od.entries[ob]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrNotExist}
	}
	if t, ok := nd.entries[nb]; ok && t != n {
		if t.dir != n.dir || (t.dir && len(t.entries) > 0) {
			return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrExist}
		}
	}
	delete(od.entries, ob)
	nd.entries[nb] = n
	return nil
}

// Remove implements checkpoint.FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("remove", name)
	if err != nil {
		return err
	}
	n, ok := dir.entries[base]
	switch {
	case !ok:
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	case n.dir && len(n.entries) > 0:
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	delete(dir.entries, base)
	return nil
}

// RemoveAll implements checkpoint.FS.
func (m *MemFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.parent("removeall", name)
	if err != nil {
		if len(split(name)) == 0 {
			return err
		}
		return nil // a missing parent: nothing to remove
	}
	delete(dir.entries, base)
	return nil
}

// ReadDir implements checkpoint.FS.
func (m *MemFS) ReadDir(name string) ([]os.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.lookup(name)
	switch {
	case !ok:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case !n.dir:
		return nil, &fs.PathError{Op: "readdirent", Path: name, Err: syscall.ENOTDIR}
	}
	names := slices.Sorted(maps.Keys(n.entries))
	out := make([]os.DirEntry, len(names))
	for i, e := range names {
		out[i] = fs.FileInfoToDirEntry(info(e, n.entries[e]))
	}
	return out, nil
}

// SyncDir implements checkpoint.FS: the directory's current entries become durable.
func (m *MemFS) SyncDir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.lookup(name)
	switch {
	case !ok:
		return &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case !n.dir:
		return &fs.PathError{Op: "sync", Path: name, Err: syscall.ENOTDIR}
	}
	n.synced = maps.Clone(n.entries)
	return nil
}

// Link implements checkpoint.FS.
func (m *MemFS) Link(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.lookup(oldname)
	if !ok {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	if n.dir {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fs.ErrPermission}
	}
	dir, base, err := m.parent("link", newname)
	if err != nil {
		return err
	}
	if _, ok := dir.entries[base]; ok {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fs.ErrExist}
	}
	dir.entries[base] = n
	return nil
}

// Stat implements checkpoint.FS.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.lookup(name)
	if !ok {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	els := split(name)
	base := "/"
	if len(els) > 0 {
		base = els[len(els)-1]
	}
	return info(base, n), nil
}

// memFile is a file of a MemFS open for writing.
type memFile struct {
	fs     *MemFS
	n      *memNode
	name   string
	closed bool
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrClosed}
	}
	f.n.data = append(f.n.data, p...)
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "sync", Path: f.name, Err: fs.ErrClosed}
	}
	f.n.durable = slices.Clone(f.n.data)
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.closed = true
	return nil
}

// memInfo describes a node for Stat and ReadDir.
type memInfo struct {
	name string
	size int64
	dir  bool
}

func info(name string, n *memNode) memInfo {
	return memInfo{name: name, size: int64(len(n.data)), dir: n.dir}
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

var _ checkpoint.FS = (*MemFS)(nil)
