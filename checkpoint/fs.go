package checkpoint

import (
	"io"
	"os"
)

// File is a file being written: the store writes it, syncs it and closes it. Implementations need
// not be safe for concurrent use; the store writes each file from one goroutine.
type File interface {
	io.Writer
	// Sync makes the written bytes durable (fsync).
	Sync() error
	// Close releases the file. It does not imply Sync.
	Close() error
}

// FS is the subset of file-system operations the store uses. The store reaches the disk only
// through it, so tests can inject faults (package faultfs) or simulate a crash that loses what was
// not synced. Paths are in the host's syntax, joined with path/filepath.
//
// Implementations must be safe for concurrent use: tasks write their files in parallel.
type FS interface {
	// MkdirAll creates a directory and any missing parents, like os.MkdirAll.
	MkdirAll(path string, perm os.FileMode) error
	// Create creates or truncates a file for writing, like os.Create.
	Create(name string) (File, error)
	// Open opens a file for reading.
	Open(name string) (io.ReadCloser, error)
	// Rename renames a file or directory, replacing newpath atomically if it exists.
	Rename(oldpath, newpath string) error
	// Remove removes a file or an empty directory.
	Remove(path string) error
	// RemoveAll removes a path and everything it contains; a missing path is not an error.
	RemoveAll(path string) error
	// ReadDir lists a directory, sorted by file name, like os.ReadDir.
	ReadDir(name string) ([]os.DirEntry, error)
	// SyncDir makes a directory's entries durable (fsync of the directory): needed after
	// creating, renaming or removing an entry in it.
	SyncDir(name string) error
	// Link creates newname as a hard link to oldname.
	Link(oldname, newname string) error
	// Stat describes a file, like os.Stat.
	Stat(name string) (os.FileInfo, error)
}

// OSFS returns the FS of the operating system.
func OSFS() FS { return osFS{} }

type osFS struct{}

func (osFS) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }
func (osFS) Create(name string) (File, error)             { return os.Create(name) }
func (osFS) Open(name string) (io.ReadCloser, error)      { return os.Open(name) }
func (osFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (osFS) Remove(path string) error                     { return os.Remove(path) }
func (osFS) RemoveAll(path string) error                  { return os.RemoveAll(path) }
func (osFS) ReadDir(name string) ([]os.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) Link(oldname, newname string) error           { return os.Link(oldname, newname) }
func (osFS) Stat(name string) (os.FileInfo, error)        { return os.Stat(name) }

func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
