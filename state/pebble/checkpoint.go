package pebble

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	pebbledb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/sluicehq/sluice/checkpoint"
)

// Checkpoints
//
// A checkpoint of a store is a Pebble checkpoint: the store's tables (immutable files), its
// MANIFEST (the list of live tables), its OPTIONS and two marker files. Capture makes one in
// dir/capture/N — the tables hard-linked, so it costs a directory entry per table plus a copy of
// the MANIFEST — after committing buffered writes and flushing the memtable, so it holds every
// write made before it. Upload then hands its files to a CheckpointSink:
//
//   - a table the store already handed to an earlier checkpoint under the same name is linked
//     (CheckpointSink.Link) from the previous checkpoint: unchanged tables cost nothing;
//   - the other files are copied (CheckpointSink.Create).
//
// File names in checkpoints are "<incarnation>-<capture>-<pebble name>": the incarnation is
// random per opened store, so two stores never give one name to different contents, and a name
// seen in the previous checkpoint always means the same bytes. A restored store keeps the names
// of the tables it restored (so its next checkpoint links them); its new tables and every other
// file get names of its own incarnation.

// CheckpointSink receives the files of one store's checkpoint. Names are single path elements,
// unique among all stores.
type CheckpointSink interface {
	// Create creates a file; the store writes it and closes it. An error of Write or Close fails
	// the checkpoint.
	Create(name string) (io.WriteCloser, error)
	// Link adds the file name of the previous checkpoint to this one, without copying it. An
	// error (ErrNotLinkable when the previous checkpoint does not have it) makes the store copy
	// the file instead.
	Link(name string) error
}

// ErrNotLinkable is returned by a CheckpointSink's Link when there is nothing to link from.
var ErrNotLinkable = errors.New("not in the previous checkpoint")

// NewSink returns a CheckpointSink that writes into checkpoint w and links from prev, the last
// complete checkpoint (nil when there is none).
func NewSink(w *checkpoint.Writer, prev *checkpoint.Checkpoint) CheckpointSink {
	return writerSink{w: w, prev: prev}
}

type writerSink struct {
	w    *checkpoint.Writer
	prev *checkpoint.Checkpoint
}

func (s writerSink) Create(name string) (io.WriteCloser, error) { return s.w.Create(name) }

func (s writerSink) Link(name string) error {
	if s.prev == nil {
		return fmt.Errorf("linking %s: %w: there is none", name, ErrNotLinkable)
	}
	if err := s.w.LinkFrom(s.prev, name); err != nil {
		if errors.Is(err, checkpoint.ErrNotFound) {
			return fmt.Errorf("%w: %w", ErrNotLinkable, err)
		}
		return err
	}
	return nil
}

// Snapshot describes an uploaded checkpoint of a store.
type Snapshot struct {
	// Files are the names given to the sink, sorted. Record them with the operator's
	// checkpointed state: Restore and RestoreRange need them.
	Files []string
	// Copied and CopiedBytes count the files written through Create; Linked and LinkedBytes
	// those linked from the previous checkpoint.
	Copied, Linked           int
	CopiedBytes, LinkedBytes int64
}

// Capture is a consistent local checkpoint of a store, waiting to be uploaded.
type Capture struct {
	dir   string
	files []captureFile
}

type captureFile struct {
	local  string // name in the capture directory (Pebble's)
	name   string // name in checkpoints
	size   int64
	shared bool // an immutable table: linkable from an earlier checkpoint
}

// isTable reports whether a Pebble file is immutable data (a table or a blob file) rather than
// metadata rewritten by every checkpoint.
func isTable(local string) bool {
	return strings.HasSuffix(local, ".sst") || strings.HasSuffix(local, ".blob")
}

// Checkpoint takes a checkpoint of the store and uploads it to w: Capture, Upload, Release. To
// snapshot asynchronously, call Capture at the barrier and Upload on another goroutine.
func (s *Store) Checkpoint(w CheckpointSink) (Snapshot, error) {
	c, err := s.Capture()
	if err != nil {
		return Snapshot{}, err
	}
	snap, err := c.Upload(w)
	if rerr := c.Release(); err == nil && rerr != nil {
		return snap, rerr
	}
	return snap, err
}

// Capture commits buffered writes, flushes the memtable and makes a Pebble checkpoint of the
// store in its directory (hard links to the tables): the synchronous part of a checkpoint, whose
// cost is the memtable flush (at most Options.MemTableSize of writes) and a link per table. The
// store may be used again as soon as it returns; the capture is unaffected.
func (s *Store) Capture() (*Capture, error) {
	if s.db == nil {
		return nil, ErrClosed
	}
	if err := s.Flush(); err != nil {
		return nil, err
	}
	if err := s.db.Flush(); err != nil {
		return nil, fmt.Errorf("pebble store %s: checkpoint: flushing the memtable: %w", s.dir, err)
	}
	s.seq++
	dir := filepath.Join(s.dir, captureDir, strconv.Itoa(s.seq))
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("pebble store %s: checkpoint: %w", s.dir, err)
	}
	if err := s.db.Checkpoint(dir); err != nil {
		return nil, fmt.Errorf("pebble store %s: checkpoint: %w", s.dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("pebble store %s: checkpoint: %w", s.dir, err)
	}
	c := &Capture{dir: dir}
	names := make(map[string]string, len(s.names))
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("pebble store %s: checkpoint: unexpected entry %s in the capture: %v", s.dir, e.Name(), err)
		}
		f := captureFile{local: e.Name(), size: info.Size(), shared: isTable(e.Name())}
		if f.shared {
			f.name = s.names[f.local]
		}
		if f.name == "" {
			f.name = s.incarnation + "-" + strconv.Itoa(s.seq) + "-" + f.local
		}
		if f.shared {
			names[f.local] = f.name
		}
		c.files = append(c.files, f)
	}
	s.names = names // tables no longer live are forgotten
	return c, nil
}

// Upload hands the capture's files to w (see CheckpointSink) and describes what it did. It may run
// on any goroutine, concurrently with the store's use. On error, the files already handed to w
// are w's to discard (a checkpoint that fails is aborted as a whole).
func (c *Capture) Upload(w CheckpointSink) (Snapshot, error) {
	var snap Snapshot
	for _, f := range c.files {
		snap.Files = append(snap.Files, f.name)
		if f.shared && w.Link(f.name) == nil {
			snap.Linked++
			snap.LinkedBytes += f.size
			continue
		}
		n, err := c.copyOut(w, f)
		if err != nil {
			return snap, fmt.Errorf("pebble checkpoint: uploading %s: %w", f.name, err)
		}
		snap.Copied++
		snap.CopiedBytes += n
	}
	slices.Sort(snap.Files)
	return snap, nil
}

func (c *Capture) copyOut(w CheckpointSink, f captureFile) (int64, error) {
	src, err := os.Open(filepath.Join(c.dir, f.local))
	if err != nil {
		return 0, err
	}
	defer src.Close()
	dst, err := w.Create(f.name)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// Release removes the capture's local files. Call it once the upload is done, whatever its
// outcome.
func (c *Capture) Release() error {
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("pebble checkpoint: removing the capture %s: %w", c.dir, err)
	}
	return nil
}

// localName returns the Pebble file name of a checkpoint file name.
func localName(name string) (string, error) {
	parts := strings.SplitN(name, "-", 3)
	if len(parts) != 3 || len(parts[0]) != 16 || parts[2] == "" || parts[2] == "." || parts[2] == ".." ||
		filepath.Base(parts[2]) != parts[2] {
		return "", fmt.Errorf("%q is not the name of a pebble checkpoint file", name)
	}
	if _, err := strconv.Atoi(parts[1]); err != nil {
		return "", fmt.Errorf("%q is not the name of a pebble checkpoint file", name)
	}
	return parts[2], nil
}

// restoreFiles rebuilds a Pebble directory db from the checkpoint files of one store: tables are
// hard-linked from the checkpoint's folder when it can be done (the checkpoint was verified when
// opened, and tables are never written again), or copied, verifying their checksum; the other
// files are always copied, since Pebble may append to them. It returns the table names to keep.
func restoreFiles(db string, from *checkpoint.Checkpoint, files []string) (map[string]string, error) {
	if from == nil {
		return nil, errors.New("no checkpoint to restore from")
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no files to restore from %s", from.Dir)
	}
	if err := os.MkdirAll(db, 0o755); err != nil {
		return nil, err
	}
	names := make(map[string]string)
	for _, name := range files {
		local, err := localName(name)
		if err != nil {
			return nil, err
		}
		if _, ok := from.Manifest.File(name); !ok {
			return nil, fmt.Errorf("%s: %w in %s", name, checkpoint.ErrNotFound, from.Dir)
		}
		dst := filepath.Join(db, local)
		if _, dup := names[local]; dup {
			return nil, fmt.Errorf("%s: two files restore to %s", name, local)
		}
		if isTable(local) {
			names[local] = name
			if os.Link(filepath.Join(from.Dir, name), dst) == nil {
				continue
			}
		} else {
			names[local] = "" // only for the duplicate check
		}
		if err := copyVerified(dst, from, name); err != nil {
			return nil, err
		}
	}
	for local, name := range names {
		if name == "" {
			delete(names, local)
		}
	}
	return names, nil
}

// copyVerified copies the checkpoint file name to dst, failing if it does not match the manifest.
func copyVerified(dst string, from *checkpoint.Checkpoint, name string) error {
	r, err := from.Open(name)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := copyFile(dst, r); err != nil {
		return fmt.Errorf("restoring %s: %w", name, err)
	}
	return nil
}

// Restore rebuilds a store in dir from a checkpoint's files: files are Snapshot.Files of the
// checkpoint that from is. Whatever dir held is replaced, as by Open. The cost is a hard link per
// table (a copy when from is on another file system) plus a copy of the small metadata files:
// independent of the state's size. The restored store links its tables into its next checkpoint.
func Restore(dir string, from *checkpoint.Checkpoint, files []string, opts Options) (*Store, error) {
	if err := prepareDir(dir); err != nil {
		return nil, fmt.Errorf("restoring pebble store %s: %w", dir, err)
	}
	names, err := restoreFiles(filepath.Join(dir, dbDir), from, files)
	if err == nil {
		var s *Store
		if s, err = open(dir, opts, names); err == nil {
			return s, nil
		}
	}
	_ = os.RemoveAll(filepath.Join(dir, dbDir))
	return nil, fmt.Errorf("restoring pebble store %s: %w", dir, err)
}

// Source is one store's checkpoint, for RestoreRange: the checkpoint and the store's
// Snapshot.Files.
type Source struct {
	From  *checkpoint.Checkpoint
	Files []string
}

// RestoreRange builds a store in dir holding exactly the key groups [kgStart, kgEnd) of the
// sources: the checkpoints of the stores that held them before a rescale (their key-group ranges
// are disjoint). Whatever dir held is replaced, as by Open.
//
// Cost: every source is first restored to scratch (links, as Restore). The source with the most
// data in the range becomes the store — no data is copied — and a range deletion hides the keys
// outside the range (their disk space is reclaimed by later compactions). The range of each other
// source is read and written to one table, ingested without going through the memtable: their
// in-range bytes are read and written once. Scaling out therefore copies nothing; scaling in
// copies the data of all but one of the merged stores. The restored store's first checkpoint
// copies all its files (it shares no name with an earlier checkpoint, since several new stores
// may start from the same old one).
func RestoreRange(dir string, sources []Source, kgStart, kgEnd int, opts Options) (*Store, error) {
	s, err := restoreRange(dir, sources, kgStart, kgEnd, opts)
	if err != nil {
		return nil, fmt.Errorf("restoring key groups [%d, %d) into pebble store %s: %w", kgStart, kgEnd, dir, err)
	}
	return s, nil
}

func restoreRange(dir string, sources []Source, kgStart, kgEnd int, opts Options) (_ *Store, err error) {
	if kgStart < 0 || kgEnd > MaxKeyGroups || kgStart > kgEnd {
		return nil, fmt.Errorf("not a key-group range within [0, %d)", MaxKeyGroups)
	}
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	scratch := filepath.Join(dir, restoreDir)
	defer func() {
		if rerr := os.RemoveAll(scratch); rerr != nil && err == nil {
			err = fmt.Errorf("removing the scratch directory: %w", rerr)
		}
	}()
	opts.ensureDefaults()
	lo, hi := kgPrefix(kgStart), kgPrefix(kgEnd)

	// Restore every source to scratch and measure its data in the range.
	dbs := make([]string, len(sources))
	base, baseSize := -1, uint64(0)
	for i, src := range sources {
		dbs[i] = filepath.Join(scratch, strconv.Itoa(i))
		if _, err := restoreFiles(dbs[i], src.From, src.Files); err != nil {
			return nil, fmt.Errorf("source %d: %w", i, err)
		}
		size, err := inRange(dbs[i], opts, lo, hi)
		if err != nil {
			return nil, fmt.Errorf("source %d: %w", i, err)
		}
		if base < 0 || size > baseSize {
			base, baseSize = i, size
		}
	}
	if base >= 0 {
		if err := os.Rename(dbs[base], filepath.Join(dir, dbDir)); err != nil {
			return nil, err
		}
	}
	s, err := open(dir, opts, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Close()
			_ = os.RemoveAll(filepath.Join(dir, dbDir))
		}
	}()
	if base < 0 {
		return s, nil
	}
	if kgStart > 0 {
		if err := s.db.DeleteRange(kgPrefix(0), lo, pebbledb.NoSync); err != nil {
			return nil, fmt.Errorf("deleting the key groups below the range: %w", err)
		}
	}
	if err := s.db.DeleteRange(hi, kgPrefix(MaxKeyGroups), pebbledb.NoSync); err != nil {
		return nil, fmt.Errorf("deleting the key groups above the range: %w", err)
	}
	var ingest []string
	for i := range sources {
		if i == base {
			continue
		}
		path := filepath.Join(scratch, strconv.Itoa(i)+".sst")
		n, err := s.extract(dbs[i], path, lo, hi)
		if err != nil {
			return nil, fmt.Errorf("source %d: %w", i, err)
		}
		if n > 0 {
			ingest = append(ingest, path)
		}
	}
	if len(ingest) > 0 {
		if err := s.db.Ingest(context.Background(), ingest); err != nil {
			return nil, fmt.Errorf("ingesting the other sources' key groups: %w", err)
		}
	}
	return s, nil
}

// openReadOnly opens a restored Pebble directory for reading.
func openReadOnly(db string, opts Options) (*pebbledb.DB, error) {
	po := opts.pebbleOptions(true)
	d, err := pebbledb.Open(db, po)
	po.Cache.Unref()
	return d, err
}

// inRange estimates the disk bytes of a restored directory's keys in [lo, hi).
func inRange(db string, opts Options, lo, hi []byte) (uint64, error) {
	d, err := openReadOnly(db, opts)
	if err != nil {
		return 0, err
	}
	size, err := d.EstimateDiskUsage(lo, hi)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return size, err
}

// extract writes the keys in [lo, hi) of the restored directory db to a table at path, in the
// store's table format, and returns how many it wrote (with none, it writes no file).
func (s *Store) extract(db, path string, lo, hi []byte) (n int, err error) {
	d, err := openReadOnly(db, s.opts)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := d.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	it, err := d.NewIter(&pebbledb.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.First() {
		return 0, it.Error()
	}
	f, err := vfs.Default.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return 0, err
	}
	w := sstable.NewWriter(objstorageprovider.NewFileWritable(f), s.popts.MakeWriterOptions(0, s.db.TableFormat()))
	for ok := true; ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err == nil {
			err = w.Set(it.Key(), v)
		}
		if err != nil {
			_ = w.Close()
			return 0, err
		}
		n++
	}
	if err := it.Error(); err != nil {
		_ = w.Close()
		return 0, err
	}
	return n, w.Close()
}
