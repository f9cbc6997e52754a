package checkpoint

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"path/filepath"
)

// maxManifestSize bounds the manifest read into memory; a larger one is reported as corrupt.
const maxManifestSize = 64 << 20

// Checkpoint is a complete, validated checkpoint or savepoint, opened for restoring.
type Checkpoint struct {
	// Dir is the checkpoint's folder.
	Dir string
	// Manifest is its decoded manifest. Treat it as read-only.
	Manifest *Manifest

	fs FS
}

// OpenCheckpoint opens the checkpoint or savepoint folder dir (any path, such as a savepoint
// copied elsewhere) and validates it: the manifest must decode strictly, and every data file
// must exist with the size and CRC-32C the manifest records, which reads every file. It reports
// ErrNotFound when dir does not exist, ErrIncomplete when the manifest is missing and ErrCorrupt
// when validation fails; the error names the folder or file and the reason.
func OpenCheckpoint(fsys FS, dir string) (*Checkpoint, error) {
	if _, err := fsys.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", dir, ErrNotFound)
		}
		return nil, fmt.Errorf("opening checkpoint %s: %w", dir, err)
	}
	b, err := readManifest(fsys, dir)
	if err != nil {
		return nil, err
	}
	m, err := DecodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", filepath.Join(dir, ManifestName), ErrCorrupt, err)
	}
	c := &Checkpoint{Dir: dir, Manifest: m, fs: fsys}
	for _, f := range m.Files {
		if err := c.verify(f); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func readManifest(fsys FS, dir string) ([]byte, error) {
	path := filepath.Join(dir, ManifestName)
	r, err := fsys.Open(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		why := "no " + ManifestName
		if _, err := fsys.Stat(filepath.Join(dir, manifestTmpName)); err == nil {
			why += " (" + manifestTmpName + " is present: the commit did not finish)"
		}
		return nil, fmt.Errorf("%s: %w: %s", dir, ErrIncomplete, why)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) > maxManifestSize {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", path, ErrCorrupt, maxManifestSize)
	}
	return b, nil
}

// verify checks one data file's size and CRC-32C.
func (c *Checkpoint) verify(f FileInfo) error {
	path := filepath.Join(c.Dir, f.Name)
	st, err := c.fs.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w: the data file is missing", path, ErrCorrupt)
	case err != nil:
		return fmt.Errorf("checking %s: %w", path, err)
	case st.Size() != f.Size:
		return fmt.Errorf("%s: %w: size %d, the manifest says %d", path, ErrCorrupt, st.Size(), f.Size)
	}
	r, err := c.open(f)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	return nil
}

// Open opens a data file of the checkpoint for reading. The reader verifies the file as it is
// read: the Read that reaches the end returns an ErrCorrupt error instead of io.EOF when the size
// or the CRC-32C does not match the manifest, so read to io.EOF before trusting the contents. A
// name the manifest does not list is reported as ErrNotFound.
func (c *Checkpoint) Open(name string) (io.ReadCloser, error) {
	f, ok := c.Manifest.File(name)
	if !ok {
		return nil, fmt.Errorf("data file %q: %w in %s", name, ErrNotFound, c.Dir)
	}
	return c.open(f)
}

func (c *Checkpoint) open(f FileInfo) (io.ReadCloser, error) {
	path := filepath.Join(c.Dir, f.Name)
	r, err := c.fs.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w: the data file is missing", path, ErrCorrupt)
		}
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return &verifyingReader{r: r, path: path, want: f}, nil
}

// verifyingReader checks the size and CRC-32C of what it reads against the manifest.
type verifyingReader struct {
	r    io.ReadCloser
	path string
	want FileInfo
	size int64
	crc  uint32
	err  error // sticky corruption error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.size += int64(n)
	v.crc = crc32.Update(v.crc, castagnoli, p[:n])
	if v.size > v.want.Size {
		v.err = fmt.Errorf("%s: %w: longer than the %d bytes the manifest says", v.path, ErrCorrupt, v.want.Size)
		return n, v.err
	}
	if err == io.EOF {
		switch {
		case v.size != v.want.Size:
			v.err = fmt.Errorf("%s: %w: size %d, the manifest says %d", v.path, ErrCorrupt, v.size, v.want.Size)
		case v.crc != v.want.CRC32C:
			v.err = fmt.Errorf("%s: %w: CRC-32C %08x, the manifest says %08x", v.path, ErrCorrupt, v.crc, v.want.CRC32C)
		default:
			return n, io.EOF
		}
		return n, v.err
	}
	if err != nil {
		return n, fmt.Errorf("reading %s: %w", v.path, err)
	}
	return n, nil
}

func (v *verifyingReader) Close() error { return v.r.Close() }
