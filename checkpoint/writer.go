package checkpoint

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// castagnoli is the CRC-32C table (hardware-accelerated on amd64 and arm64).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Writer writes one checkpoint or savepoint: data files first (Create, from any number of
// goroutines), then the manifest (Commit), or nothing (Abort). Until Commit returns nil the
// folder is partial, and Latest ignores it.
type Writer struct {
	s    *Store
	id   int64
	kind Kind
	dir  string

	mu    sync.Mutex // guards what follows
	files map[string]*fileEntry
	state writerState
}

type writerState uint8

const (
	writerOpen writerState = iota
	writerFailed
	writerCommitted
	writerAborted
)

// fileEntry is the bookkeeping of one data file, guarded by Writer.mu.
type fileEntry struct {
	info   FileInfo
	closed bool
	err    error
}

// Begin starts checkpoint or savepoint id. A partial folder of the same id, left by an earlier
// attempt, is removed. Begin reports ErrExists when that id is already complete, and, for a
// checkpoint, when a complete checkpoint with a greater or equal id exists: ids must grow, or
// Latest would keep returning the older run's newest checkpoint.
func (s *Store) Begin(id int64, kind Kind) (*Writer, error) {
	if kind != KindCheckpoint && kind != KindSavepoint {
		return nil, fmt.Errorf("beginning checkpoint %d: invalid kind %d", id, uint8(kind))
	}
	if id < 0 {
		return nil, fmt.Errorf("beginning %s %d: the id is negative", kind, id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := DirName(id, kind)
	dir := filepath.Join(s.dir, name)
	infos, err := s.list()
	if err != nil {
		return nil, fmt.Errorf("beginning %s: %w", name, err)
	}
	for _, in := range infos {
		switch {
		case in.Kind != kind || !in.Complete:
		case in.ID == id:
			return nil, fmt.Errorf("beginning %s: %w: %s is complete", name, ErrExists, in.Dir)
		case kind == KindCheckpoint && in.ID > id:
			return nil, fmt.Errorf("beginning %s: %w: %s is newer", name, ErrExists, in.Dir)
		}
	}
	if _, err := s.fs.Stat(dir); err == nil {
		s.log.Info("checkpoint: removing a partial checkpoint before retrying it", "path", dir)
		if err := s.fs.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("beginning %s: removing the partial folder: %w", name, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("beginning %s: %w", name, err)
	}
	if err := s.fs.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("beginning %s: %w", name, err)
	}
	return &Writer{s: s, id: id, kind: kind, dir: dir, files: map[string]*fileEntry{}}, nil
}

// ID returns the id of the checkpoint being written.
func (w *Writer) ID() int64 { return w.id }

// Kind returns the kind of the checkpoint being written.
func (w *Writer) Kind() Kind { return w.kind }

// Dir returns the folder the checkpoint is written to.
func (w *Writer) Dir() string { return w.dir }

// register reserves a data file name, or explains why it cannot be created.
func (w *Writer) register(name string) error {
	if err := checkFileName(name); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != writerOpen {
		return fmt.Errorf("the checkpoint is %s", w.stateName())
	}
	if _, dup := w.files[name]; dup {
		return fmt.Errorf("data file %q was already created", name)
	}
	w.files[name] = &fileEntry{info: FileInfo{Name: name}}
	return nil
}

// unregister forgets a name whose file could not be created.
func (w *Writer) unregister(name string) {
	w.mu.Lock()
	delete(w.files, name)
	w.mu.Unlock()
}

func (w *Writer) stateName() string {
	switch w.state {
	case writerFailed:
		return "failed"
	case writerCommitted:
		return "committed"
	case writerAborted:
		return "aborted"
	}
	return "open"
}

// Create creates a data file in the checkpoint's folder. name is one path element (no
// separator), unique within the checkpoint, and not the manifest's. The file's Close syncs it
// and records its size and CRC-32C for the manifest; Commit fails unless every created file was
// closed without error. Create is safe to call from several goroutines; each returned file is
// written by one.
func (w *Writer) Create(name string) (io.WriteCloser, error) {
	if err := w.register(name); err != nil {
		return nil, fmt.Errorf("creating data file of %s: %w", filepath.Base(w.dir), err)
	}
	f, err := w.s.fs.Create(filepath.Join(w.dir, name))
	if err != nil {
		w.unregister(name)
		return nil, fmt.Errorf("creating data file: %w", err)
	}
	return &dataFile{w: w, name: name, f: f}, nil
}

// LinkFrom adds the data file name of an earlier checkpoint prev to this one as a hard link, with
// the size and CRC-32C that prev's manifest records: an incremental checkpoint shares unchanged
// files instead of copying them. Deleting prev later does not affect this checkpoint.
func (w *Writer) LinkFrom(prev *Checkpoint, name string) error {
	info, ok := prev.Manifest.File(name)
	if !ok {
		return fmt.Errorf("linking data file %q: %w in %s", name, ErrNotFound, prev.Dir)
	}
	if err := w.register(name); err != nil {
		return fmt.Errorf("linking data file of %s: %w", filepath.Base(w.dir), err)
	}
	if err := w.s.fs.Link(filepath.Join(prev.Dir, name), filepath.Join(w.dir, name)); err != nil {
		w.unregister(name)
		return fmt.Errorf("linking data file: %w", err)
	}
	w.mu.Lock()
	*w.files[name] = fileEntry{info: info, closed: true}
	w.mu.Unlock()
	return nil
}

// Commit completes the checkpoint. It sets m's Version, ID and Kind (m.ID and m.Kind must be
// zero or match Begin's), CreatedUnixMs when zero, and Files from the data files written
// (m.Files must be empty); validates m; writes it to MANIFEST.json.tmp, syncs it, renames it to
// MANIFEST.json and syncs the folder and the store's directory. Once the rename is durable the
// checkpoint is complete; Commit then prunes checkpoints beyond Options.Retain (never savepoints),
// logging rather than returning pruning failures. After an error the checkpoint is not usable:
// call Abort.
func (w *Writer) Commit(m *Manifest) error {
	name := filepath.Base(w.dir)
	files, err := w.seal(m)
	if err != nil {
		return fmt.Errorf("committing %s: %w", name, err)
	}
	m.Version, m.ID, m.Kind, m.Files = ManifestVersion, w.id, w.kind, files
	if m.CreatedUnixMs == 0 {
		m.CreatedUnixMs = time.Now().UnixMilli()
	}
	b, err := EncodeManifest(m)
	if err != nil {
		w.fail()
		return fmt.Errorf("committing %s: manifest: %w", name, err)
	}
	tmp := filepath.Join(w.dir, manifestTmpName)
	if err := w.writeTmp(tmp, b); err != nil {
		w.fail()
		return fmt.Errorf("committing %s: writing the manifest: %w", name, err)
	}
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	err = w.s.fs.Rename(tmp, filepath.Join(w.dir, ManifestName))
	if err == nil {
		err = w.s.fs.SyncDir(w.dir)
	}
	if err == nil {
		err = w.s.fs.SyncDir(w.s.dir)
	}
	if err != nil {
		w.fail()
		return fmt.Errorf("committing %s: publishing the manifest: %w", name, err)
	}
	w.mu.Lock()
	w.state = writerCommitted
	w.mu.Unlock()
	w.s.prune()
	return nil
}

// seal checks that the writer can commit m and returns the files for the manifest, sorted by
// name. On success the writer no longer accepts files.
func (w *Writer) seal(m *Manifest) ([]FileInfo, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != writerOpen {
		return nil, fmt.Errorf("the checkpoint is %s", w.stateName())
	}
	switch {
	case m == nil:
		return nil, errors.New("nil manifest")
	case m.ID != 0 && m.ID != w.id:
		return nil, fmt.Errorf("the manifest's id %d is not the writer's %d", m.ID, w.id)
	case m.Kind != 0 && m.Kind != w.kind:
		return nil, fmt.Errorf("the manifest's kind %s is not the writer's %s", m.Kind, w.kind)
	case len(m.Files) != 0:
		return nil, errors.New("the manifest's Files must be empty: Commit fills them")
	}
	files := make([]FileInfo, 0, len(w.files))
	for name, e := range w.files {
		switch {
		case e.err != nil:
			return nil, fmt.Errorf("data file %q failed: %w", name, e.err)
		case !e.closed:
			return nil, fmt.Errorf("data file %q is still open", name)
		}
		files = append(files, e.info)
	}
	slices.SortFunc(files, func(a, b FileInfo) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	w.state = writerFailed // until Commit succeeds: no more files, and no second Commit
	return files, nil
}

func (w *Writer) fail() {
	w.mu.Lock()
	w.state = writerFailed
	w.mu.Unlock()
}

// writeTmp writes and syncs the temporary manifest.
func (w *Writer) writeTmp(path string, b []byte) error {
	f, err := w.s.fs.Create(path)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Abort abandons the checkpoint and removes its folder. It is a no-op after a successful Commit,
// so `defer w.Abort()` is safe. Files still being written are discarded; Create fails afterwards.
func (w *Writer) Abort() error {
	w.mu.Lock()
	if w.state == writerCommitted || w.state == writerAborted {
		w.mu.Unlock()
		return nil
	}
	w.state = writerAborted
	w.mu.Unlock()
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if err := w.s.fs.RemoveAll(w.dir); err != nil {
		return fmt.Errorf("aborting %s: %w", filepath.Base(w.dir), err)
	}
	return nil
}

// dataFile is a data file being written: it checksums what it writes.
type dataFile struct {
	w      *Writer
	name   string
	f      File
	size   int64
	crc    uint32
	err    error // the first write error; sticky
	closed bool
}

// Write writes p, updating the size and CRC-32C. After an error every call fails.
func (d *dataFile) Write(p []byte) (int, error) {
	if d.closed {
		return 0, fmt.Errorf("writing data file %q: %w", d.name, fs.ErrClosed)
	}
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.f.Write(p)
	d.size += int64(n)
	d.crc = crc32.Update(d.crc, castagnoli, p[:n])
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		d.err = fmt.Errorf("writing data file %q: %w", d.name, err)
		return n, d.err
	}
	return n, nil
}

// Close syncs and closes the file and records it for the manifest, or records its failure.
func (d *dataFile) Close() error {
	if d.closed {
		return fmt.Errorf("closing data file %q: %w", d.name, fs.ErrClosed)
	}
	d.closed = true
	err := d.err
	if err == nil {
		if err = d.f.Sync(); err != nil {
			err = fmt.Errorf("syncing data file %q: %w", d.name, err)
		}
	}
	if cerr := d.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("closing data file %q: %w", d.name, cerr)
	}
	w := d.w
	w.mu.Lock()
	if e := w.files[d.name]; e != nil {
		e.closed, e.err = true, err
		e.info.Size, e.info.CRC32C = d.size, d.crc
	}
	w.mu.Unlock()
	return err
}
