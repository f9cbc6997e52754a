// Package faultfs injects faults into a checkpoint.FS, for tests: chosen operations fail (by
// kind and path, after a number of successful calls), the disk fills up (ENOSPC after a number of
// bytes), and writes tear (half the buffer reaches the file, then an error). MemFS, an in-memory
// FS that loses on Crash whatever was not synced, lets a test check what survives a crash at any
// step.
//
//	fsys := faultfs.New(faultfs.NewMemFS())
//	fsys.Inject(faultfs.Rule{Ops: faultfs.OpRename, Path: "MANIFEST"}) // every rename of a manifest fails
//	store, _ := checkpoint.Open("/ckpt", checkpoint.Options{FS: fsys})
package faultfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/sluicehq/sluice/checkpoint"
)

// ErrInjected is the error of an injected fault, unless the Rule names another.
var ErrInjected = errors.New("faultfs: injected fault")

// Op is a set of file-system operations, for matching them in a Rule.
type Op uint32

// The operations of checkpoint.FS, and of the files and readers it returns.
const (
	OpMkdirAll Op = 1 << iota
	OpCreate
	OpWrite // File.Write
	OpSync  // File.Sync
	OpClose // File.Close and the Close of a reader
	OpOpen
	OpRead // Read of a reader returned by Open
	OpRename
	OpRemove
	OpRemoveAll
	OpReadDir
	OpSyncDir
	OpLink
	OpStat

	// OpAll matches every operation.
	OpAll Op = 1<<iota - 1
	// OpMutate matches the operations that change the file system.
	OpMutate = OpMkdirAll | OpCreate | OpWrite | OpSync | OpClose | OpRename | OpRemove |
		OpRemoveAll | OpSyncDir | OpLink
)

var opNames = []string{"mkdirall", "create", "write", "sync", "close", "open", "read", "rename",
	"remove", "removeall", "readdir", "syncdir", "link", "stat"}

// String names the operations of the set, joined by "|".
func (o Op) String() string {
	var names []string
	for i, n := range opNames {
		if o&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "|")
}

// Rule makes matching operations fail.
type Rule struct {
	// Ops is the set of operations the rule matches. Required.
	Ops Op
	// Path is a substring of the path the operation touches (for Rename and Link, either
	// path); empty matches every path.
	Path string
	// After is the number of matching calls that succeed before the rule fires.
	After int
	// Times is the number of calls that fail once the rule fires; 0 means every later call.
	Times int
	// Err is the error of a failed call, wrapped in an *fs.PathError naming the operation and
	// the path. Default: ErrInjected.
	Err error
	// Torn makes a failing Write tear: the first half of the buffer reaches the file before the
	// error (a short write).
	Torn bool
}

// rule is a Rule with its counters.
type rule struct {
	Rule
	seen, fired int
}

// FS wraps a checkpoint.FS and injects faults into it. Rules and the space limit can change while
// the FS is in use; it is safe for concurrent use.
type FS struct {
	inner checkpoint.FS

	mu       sync.Mutex
	rules    []*rule
	space    int64 // bytes that may still be written; < 0 means unlimited
	ops      int   // calls seen
	injected int   // faults injected
}

// New returns an FS that forwards to inner until rules say otherwise.
func New(inner checkpoint.FS) *FS { return &FS{inner: inner, space: -1} }

// Inject adds rules. Rules are checked in the order they were added; the first that fires
// decides the failure.
func (f *FS) Inject(rules ...Rule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range rules {
		if r.Err == nil {
			r.Err = ErrInjected
		}
		f.rules = append(f.rules, &rule{Rule: r})
	}
}

// DiskFull limits the bytes that may still be written, across all files, to n: the write that
// would exceed it writes what fits and fails with ENOSPC, as do the writes after it. A negative n
// lifts the limit.
func (f *FS) DiskFull(n int64) {
	f.mu.Lock()
	f.space = n
	f.mu.Unlock()
}

// Reset removes every rule and the space limit and zeroes the counters.
func (f *FS) Reset() {
	f.mu.Lock()
	f.rules, f.space, f.ops, f.injected = nil, -1, 0, 0
	f.mu.Unlock()
}

// Ops returns the number of operations seen, failed or not.
func (f *FS) Ops() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops
}

// Injected returns the number of faults injected (including ENOSPC).
func (f *FS) Injected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected
}

// check counts the call and returns the rule that fails it, or nil.
func (f *FS) check(op Op, paths ...string) *rule {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops++
	for _, r := range f.rules {
		if r.Ops&op == 0 || !matches(r.Path, paths) {
			continue
		}
		r.seen++
		if r.seen <= r.After || (r.Times > 0 && r.fired >= r.Times) {
			continue
		}
		r.fired++
		f.injected++
		return r
	}
	return nil
}

func matches(sub string, paths []string) bool {
	for _, p := range paths {
		if strings.Contains(p, sub) {
			return true
		}
	}
	return false
}

func (f *FS) fail(op Op, path string) error {
	if r := f.check(op, path); r != nil {
		return &fs.PathError{Op: op.String(), Path: path, Err: r.Err}
	}
	return nil
}

// MkdirAll implements checkpoint.FS.
func (f *FS) MkdirAll(path string, perm os.FileMode) error {
	if err := f.fail(OpMkdirAll, path); err != nil {
		return err
	}
	return f.inner.MkdirAll(path, perm)
}

// Create implements checkpoint.FS; the file's Write, Sync and Close are subject to the rules.
func (f *FS) Create(name string) (checkpoint.File, error) {
	if err := f.fail(OpCreate, name); err != nil {
		return nil, err
	}
	file, err := f.inner.Create(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, name: name, f: file}, nil
}

// Open implements checkpoint.FS; the reader's Read and Close are subject to the rules.
func (f *FS) Open(name string) (io.ReadCloser, error) {
	if err := f.fail(OpOpen, name); err != nil {
		return nil, err
	}
	r, err := f.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &faultReader{fs: f, name: name, r: r}, nil
}

// Rename implements checkpoint.FS.
func (f *FS) Rename(oldpath, newpath string) error {
	if r := f.check(OpRename, oldpath, newpath); r != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: r.Err}
	}
	return f.inner.Rename(oldpath, newpath)
}

// Remove implements checkpoint.FS.
func (f *FS) Remove(path string) error {
	if err := f.fail(OpRemove, path); err != nil {
		return err
	}
	return f.inner.Remove(path)
}

// RemoveAll implements checkpoint.FS.
func (f *FS) RemoveAll(path string) error {
	if err := f.fail(OpRemoveAll, path); err != nil {
		return err
	}
	return f.inner.RemoveAll(path)
}

// ReadDir implements checkpoint.FS.
func (f *FS) ReadDir(name string) ([]os.DirEntry, error) {
	if err := f.fail(OpReadDir, name); err != nil {
		return nil, err
	}
	return f.inner.ReadDir(name)
}

// SyncDir implements checkpoint.FS.
func (f *FS) SyncDir(name string) error {
	if err := f.fail(OpSyncDir, name); err != nil {
		return err
	}
	return f.inner.SyncDir(name)
}

// Link implements checkpoint.FS.
func (f *FS) Link(oldname, newname string) error {
	if r := f.check(OpLink, oldname, newname); r != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: r.Err}
	}
	return f.inner.Link(oldname, newname)
}

// Stat implements checkpoint.FS.
func (f *FS) Stat(name string) (os.FileInfo, error) {
	if err := f.fail(OpStat, name); err != nil {
		return nil, err
	}
	return f.inner.Stat(name)
}

// faultFile is a file whose operations are subject to the rules and the space limit.
type faultFile struct {
	fs   *FS
	name string
	f    checkpoint.File
}

func (w *faultFile) Write(p []byte) (int, error) {
	if r := w.fs.check(OpWrite, w.name); r != nil {
		n := 0
		if r.Torn {
			n, _ = w.f.Write(p[:len(p)/2])
		}
		return n, &fs.PathError{Op: "write", Path: w.name, Err: r.Err}
	}
	allowed := w.fs.reserve(len(p))
	n, err := w.f.Write(p[:allowed])
	if err == nil && allowed < len(p) {
		err = &fs.PathError{Op: "write", Path: w.name, Err: syscall.ENOSPC}
	}
	return n, err
}

// reserve takes up to n bytes from the space left and returns how many it took.
func (f *FS) reserve(n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.space < 0 {
		return n
	}
	if int64(n) > f.space {
		n = int(f.space)
		f.injected++
	}
	f.space -= int64(n)
	return n
}

func (w *faultFile) Sync() error {
	if err := w.fs.fail(OpSync, w.name); err != nil {
		return err
	}
	return w.f.Sync()
}

func (w *faultFile) Close() error {
	if err := w.fs.fail(OpClose, w.name); err != nil {
		w.f.Close() // release it anyway: the fault is in what the caller sees
		return err
	}
	return w.f.Close()
}

// faultReader is a reader whose operations are subject to the rules.
type faultReader struct {
	fs   *FS
	name string
	r    io.ReadCloser
}

func (r *faultReader) Read(p []byte) (int, error) {
	if err := r.fs.fail(OpRead, r.name); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func (r *faultReader) Close() error {
	if err := r.fs.fail(OpClose, r.name); err != nil {
		r.r.Close()
		return err
	}
	return r.r.Close()
}

var _ checkpoint.FS = (*FS)(nil)
