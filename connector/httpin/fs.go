package httpin

import (
	"io"
	"os"
)

// segmentFile is the active segment as the log writes it. Tests inject failures (a full disk, a
// failed fsync) through fileSystem.
type segmentFile interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
}

// fileSystem opens segments for appending. Reads go to the os package directly.
type fileSystem interface {
	// OpenSegment opens path for appending; create makes a new file and fails if it exists.
	OpenSegment(path string, create bool) (segmentFile, error)
}

type osFS struct{}

func (osFS) OpenSegment(path string, create bool) (segmentFile, error) {
	flag := os.O_WRONLY | os.O_APPEND
	if create {
		flag |= os.O_CREATE | os.O_EXCL
	}
	return os.OpenFile(path, flag, 0o644)
}

// syncDir fsyncs a directory, so that files created or removed in it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
