package file

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ExactlyOnceSink writes one JSON object per line to a file exactly once, even if the process is
// killed at any moment and restarted from its last checkpoint. It is a two-phase-commit sink
// (sluice.TwoPhaseCommitSink):
//
//   - records go to a pending file in the folder PATH.pending/;
//   - at a checkpoint barrier the pending file is fsynced and sealed as part-<id> (pre-commit);
//     the checkpoint stores the file's committed length and the sealed parts;
//   - when the checkpoint completes, the sealed parts are appended to PATH and fsynced, then
//     deleted (commit);
//   - on restore, PATH is cut back to what the checkpoint committed, or completed from the parts
//     the checkpoint sealed, and every newer part is discarded (recover).
//
// Readers see PATH grow by whole checkpoints; a line is never duplicated or lost. Without
// checkpoints it behaves as a plain file sink that truncates PATH at start and completes it on
// Close. Close commits everything written: at the end of a bounded input the file is complete.
type ExactlyOnceSink[T any] struct {
	path    string
	dir     string
	cur     *os.File
	w       *bufio.Writer
	curSize int64
	// committed is PATH's length with every committed part appended.
	committed   int64
	uncommitted []sealedPart
	ready       bool
	line        []byte
}

type sealedPart struct {
	ID   int64 `json:"id"`
	Size int64 `json:"size"`
}

type txState struct {
	Base  int64        `json:"base"`
	Parts []sealedPart `json:"parts"`
}

// ExactlyOnceJSONLines returns an exactly-once JSON-lines sink writing to path.
func ExactlyOnceJSONLines[T any](path string) *ExactlyOnceSink[T] {
	return &ExactlyOnceSink[T]{path: path, dir: path + ".pending"}
}

// Write appends v as one JSON line to the pending file.
func (s *ExactlyOnceSink[T]) Write(v T) error {
	if err := s.start(); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding a record for %s: %w", s.path, err)
	}
	s.line = append(append(s.line[:0], b...), '\n')
	n, err := s.w.Write(s.line)
	s.curSize += int64(n)
	return err
}

// start prepares a fresh run when Recover was not called (no checkpoints).
func (s *ExactlyOnceSink[T]) start() error {
	if s.ready {
		return nil
	}
	return s.Recover(nil)
}

// PreCommit seals what was written since the previous checkpoint as part id.
func (s *ExactlyOnceSink[T]) PreCommit(id int64) ([]byte, error) {
	if err := s.start(); err != nil {
		return nil, err
	}
	if err := s.seal(id); err != nil {
		return nil, err
	}
	return json.Marshal(txState{Base: s.committed, Parts: s.uncommitted})
}

func (s *ExactlyOnceSink[T]) seal(id int64) error {
	if err := s.w.Flush(); err != nil {
		return err
	}
	if s.curSize > 0 {
		if err := s.cur.Sync(); err != nil {
			return err
		}
		if err := s.cur.Close(); err != nil {
			return err
		}
		if err := os.Rename(s.cur.Name(), s.partPath(id)); err != nil {
			return err
		}
		if err := syncDir(s.dir); err != nil {
			return err
		}
		s.uncommitted = append(s.uncommitted, sealedPart{ID: id, Size: s.curSize})
		return s.openCurrent()
	}
	return nil
}

// Commit appends every sealed part up to id to the file.
func (s *ExactlyOnceSink[T]) Commit(id int64) error {
	if err := s.start(); err != nil {
		return err
	}
	out, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	for len(s.uncommitted) > 0 && s.uncommitted[0].ID <= id {
		p := s.uncommitted[0]
		if err := appendFrom(out, s.partPath(p.ID), 0); err != nil {
			return err
		}
		if err := out.Sync(); err != nil {
			return err
		}
		s.committed += p.Size
		s.uncommitted = s.uncommitted[1:]
		if err := os.Remove(s.partPath(p.ID)); err != nil {
			return err
		}
	}
	return nil
}

// Recover restores the file to what the checkpoint's state committed (nil: an empty file).
func (s *ExactlyOnceSink[T]) Recover(state []byte) error {
	var st txState
	if state != nil {
		if err := json.Unmarshal(state, &st); err != nil {
			return fmt.Errorf("recovering %s: bad sink state: %w", s.path, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := s.complete(f, st); err != nil {
		return fmt.Errorf("recovering %s: %w", s.path, err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := s.discardPending(); err != nil {
		return err
	}
	s.committed, s.uncommitted, s.ready = st.Base+total(st.Parts), nil, true
	return s.openCurrent()
}

// complete cuts f back to the state's target length, or appends the missing tail of its parts.
func (s *ExactlyOnceSink[T]) complete(f *os.File, st txState) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	target := st.Base + total(st.Parts)
	cur := fi.Size()
	if cur >= target {
		return f.Truncate(target)
	}
	if cur < st.Base {
		return fmt.Errorf("the file has %d bytes but %d were committed: it was changed outside Sluice", cur, st.Base)
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return err
	}
	missing := cur - st.Base // bytes of the parts already in the file
	var off int64
	for _, p := range st.Parts {
		if off+p.Size > missing {
			if err := appendFrom(f, s.partPath(p.ID), max(0, missing-off)); err != nil {
				return fmt.Errorf("completing the commit of checkpoint %d: %w", p.ID, err)
			}
		}
		off += p.Size
	}
	return nil
}

func (s *ExactlyOnceSink[T]) discardPending() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func (s *ExactlyOnceSink[T]) openCurrent() error {
	f, err := os.OpenFile(filepath.Join(s.dir, "current"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	s.cur, s.curSize = f, 0
	if s.w == nil {
		s.w = bufio.NewWriterSize(f, 64<<10)
	} else {
		s.w.Reset(f)
	}
	return nil
}

func (s *ExactlyOnceSink[T]) partPath(id int64) string {
	return filepath.Join(s.dir, fmt.Sprintf("part-%020d", id))
}

// Flush writes buffered lines to the pending file (they are not visible until committed).
func (s *ExactlyOnceSink[T]) Flush() error {
	if s.w == nil {
		return nil
	}
	return s.w.Flush()
}

// Close seals and commits everything written: at the end of the input the file is complete.
func (s *ExactlyOnceSink[T]) Close() error {
	if err := s.start(); err != nil {
		return err
	}
	const final = int64(1<<63 - 1)
	if err := s.seal(final); err != nil {
		return err
	}
	if err := s.Commit(final); err != nil {
		return err
	}
	if err := s.cur.Close(); err != nil {
		return err
	}
	return os.RemoveAll(s.dir)
}

func total(ps []sealedPart) int64 {
	var n int64
	for _, p := range ps {
		n += p.Size
	}
	return n
}

func appendFrom(dst io.Writer, path string, skip int64) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	if _, err := src.Seek(skip, io.SeekStart); err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// parts lists the sealed part ids in dir (for tests and tools).
func parts(dir string) ([]int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, e := range entries {
		if id, ok := strings.CutPrefix(e.Name(), "part-"); ok {
			n, err := strconv.ParseInt(id, 10, 64)
			if err == nil {
				ids = append(ids, n)
			}
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}
