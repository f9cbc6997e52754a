// Package pebble is the Pebble state layer: a keyed "spill store" for one operator subtask,
// holding state larger than memory on local disk, with incremental checkpoints.
//
// A Store maps (key group, key) to a value. Keys are stored as the key group in two big-endian
// bytes followed by the key's bytes, so the keys of a key group, and of a range of key groups,
// are contiguous and sorted by key group: a rescale reads exactly the range a subtask now owns
// (Iterate, RestoreRange).
//
// # Durability
//
// The write-ahead log is disabled and no write is ever synced. The store is the spill area of an
// operator whose durable state is its checkpoints: after a crash the operator restores from the
// last complete checkpoint (Restore) and the source replays what came after it, so whatever the
// local directory held is discarded anyway (Open starts empty). A WAL would write every update
// twice and a sync would cost a disk flush per batch, for data that no recovery reads. A
// checkpoint flushes the memtable first (Capture), so the checkpoint holds every write before
// it.
//
// # Concurrency
//
// A Store belongs to one goroutine, the subtask's. The only exception is a Capture: its Upload
// may run on another goroutine while the store goes on (an asynchronous snapshot).
//
// # Layout
//
// Open(dir) owns dir: the database lives in dir/db, checkpoint captures in dir/capture, restore
// scratch in dir/restore, and dir/SLUICE-PEBBLE-STORE marks the directory as a store's (Open
// refuses a non-empty directory without it, rather than delete what it holds).
package pebble

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	pebbledb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// MaxKeyGroups bounds key groups: a key group is in [0, MaxKeyGroups). The prefix 0xFFFF is kept
// free as the exclusive upper bound of every range.
const MaxKeyGroups = 1<<16 - 1

// Defaults of Options.
const (
	DefaultCacheSize           = 64 << 20
	DefaultMemTableSize        = 16 << 20 // the largest default; see Options.MemTableSize
	MinDefaultMemTableSize     = 256 << 10
	DefaultWriteBufferSize     = 512 << 10
	DefaultBloomBitsPerKey     = 10
	DefaultLBaseMaxBytes       = 8 << 20
	DefaultMaxManifestFileSize = 4 << 20
)

// ErrClosed is returned by the methods of a closed Store.
var ErrClosed = errors.New("the pebble store is closed")

// Options configures a Store. The zero value is valid: each field documents its default.
type Options struct {
	// CacheSize is the size in bytes of the block cache (uncompressed blocks of the on-disk
	// tables). Ignored when Cache is set. Default: 64 MiB.
	CacheSize int64
	// Cache is a block cache shared by several stores (NewCache), for example every subtask of a
	// pipeline, so that memory is bounded once rather than per subtask. The store takes its own
	// reference; the creator still calls Unref when it no longer needs the cache. Default: nil, a
	// cache of CacheSize for this store alone.
	Cache *Cache
	// MemTableSize is the size in bytes of a memtable: writes are collected there and written
	// out as a table when it is full, and at each checkpoint. A larger memtable absorbs more
	// updates of hot keys but makes the flush at a checkpoint longer. Pebble charges memtables
	// to the block cache (up to two at a time: one filling, one being written out), so the cache
	// holds table blocks only in what remains: keep MemTableSize well below CacheSize/2.
	// Default: CacheSize/8 (the cache's size when Cache is set), between 256 KiB and 16 MiB.
	MemTableSize uint64
	// WriteBufferSize is the size in bytes at which buffered writes (Set, Delete) are committed
	// to the database, counting keys, values and 64 bytes per write for the memtable's index.
	// Buffered writes are visible to Get and Iterate at once. Committing writes one by one would
	// cost a trip through Pebble's commit pipeline each. At most MemTableSize/8 (a larger batch
	// would be flushed on its own). Default: 512 KiB, or MemTableSize/8 when that is smaller.
	WriteBufferSize int
	// BloomBitsPerKey sizes the Bloom filter of each table, so that a Get of a missing key
	// usually reads no data block: 10 bits give about 1% false positives. Negative: no filter.
	// Default (0): 10.
	BloomBitsPerKey int
	// LBaseMaxBytes is the size of the first level below L0 (each further level is 10 times
	// larger). Each checkpoint flushes the memtable to a new L0 table, and compacting L0 tables
	// into that level rewrites it whole when the updated keys are spread over the key space, as
	// they are in keyed state: a checkpoint then copies what the compactions since the last one
	// wrote. A small first level bounds that rewrite. Measured with 43 MB of state and 0.5% of
	// the keys updated between checkpoints, 20 checkpoints copied 82 MB with Pebble's default of
	// 64 MiB (the whole state, periodically) and 3.4 MB with 8 MiB. Default: 8 MiB.
	LBaseMaxBytes int64
	// MaxManifestFileSize is the size at which Pebble starts a new MANIFEST (the log of table
	// additions and removals). Every checkpoint copies the MANIFEST, so a small one keeps
	// incremental checkpoints small. Default: 4 MiB (Pebble's own default is 128 MiB).
	MaxManifestFileSize int64
	// Logger receives Pebble's messages: its information (opens, flushes, compactions) at debug
	// level, its errors at error level. Default: slog.Default().
	Logger *slog.Logger
}

func (o *Options) ensureDefaults() {
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.MemTableSize == 0 {
		size := o.CacheSize
		if o.Cache != nil {
			size = o.Cache.MaxSize()
		}
		o.MemTableSize = uint64(min(max(size/8, MinDefaultMemTableSize), DefaultMemTableSize))
	}
	if o.WriteBufferSize <= 0 {
		o.WriteBufferSize = DefaultWriteBufferSize
	}
	o.WriteBufferSize = min(o.WriteBufferSize, int(o.MemTableSize/8))
	if o.BloomBitsPerKey == 0 {
		o.BloomBitsPerKey = DefaultBloomBitsPerKey
	}
	if o.LBaseMaxBytes <= 0 {
		o.LBaseMaxBytes = DefaultLBaseMaxBytes
	}
	if o.MaxManifestFileSize <= 0 {
		o.MaxManifestFileSize = DefaultMaxManifestFileSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Cache is a block cache that several stores may share.
type Cache = pebbledb.Cache

// NewCache returns a block cache of size bytes, with one reference held by the caller: call its
// Unref when done (stores using it hold their own references).
func NewCache(size int64) *Cache { return pebbledb.NewCache(size) }

// pebbleOptions translates o, with its defaults set, to Pebble's options. The caller owns the
// cache reference of the result (unref it after Open, as Pebble's documentation says).
func (o *Options) pebbleOptions(readOnly bool) *pebbledb.Options {
	cache := o.Cache
	if cache == nil {
		cache = pebbledb.NewCache(o.CacheSize)
	} else {
		cache.Ref()
	}
	po := &pebbledb.Options{
		Cache:               cache,
		MemTableSize:        o.MemTableSize,
		DisableWAL:          true,
		MaxManifestFileSize: o.MaxManifestFileSize,
		LBaseMaxBytes:       o.LBaseMaxBytes,
		FormatMajorVersion:  pebbledb.FormatNewest,
		ReadOnly:            readOnly,
		Logger:              slogLogger{o.Logger},
	}
	for i := range po.Levels {
		if o.BloomBitsPerKey > 0 {
			po.Levels[i].FilterPolicy = bloom.FilterPolicy(o.BloomBitsPerKey)
		}
	}
	po.EnsureDefaults()
	return po
}

// slogLogger adapts a slog.Logger to Pebble's Logger.
type slogLogger struct{ l *slog.Logger }

// Infof logs at debug level: Pebble reports every open, flush and compaction this way.
func (s slogLogger) Infof(format string, args ...any) {
	if s.l.Enabled(context.Background(), slog.LevelDebug) {
		s.l.Debug("pebble: " + fmt.Sprintf(format, args...))
	}
}
func (s slogLogger) Errorf(format string, args ...any) {
	s.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf is called by Pebble for an unrecoverable inconsistency; it must not return.
func (s slogLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	s.l.Error(msg)
	panic(msg)
}

// Store is a keyed spill store for one operator subtask. See the package documentation.
type Store struct {
	dir   string
	opts  Options
	popts *pebbledb.Options
	db    *pebbledb.DB

	// buf holds writes not yet committed; it is indexed, so reads see them.
	buf     *pebbledb.Batch
	bufSize int    // what buf will take in a memtable, estimated
	key     []byte // scratch for composite keys

	// incarnation names this store's checkpoint files: random, so that no two stores (nor a
	// store and its restored successor) give one name to different contents.
	incarnation string
	seq         int               // captures taken
	names       map[string]string // live table file -> its name in checkpoints
}

const (
	markerName = "SLUICE-PEBBLE-STORE"
	dbDir      = "db"
	captureDir = "capture"
	restoreDir = "restore"
)

// Open opens an empty store in dir, creating dir if needed. Whatever an earlier store left in dir
// is deleted (a store's contents are meaningful only with its operator's in-memory state; after
// a restart, use Restore). A non-empty dir that is not a store's is refused.
func Open(dir string, opts Options) (*Store, error) {
	if err := prepareDir(dir); err != nil {
		return nil, fmt.Errorf("opening pebble store %s: %w", dir, err)
	}
	s, err := open(dir, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("opening pebble store %s: %w", dir, err)
	}
	return s, nil
}

// prepareDir makes dir an empty store directory: it creates it, or checks that it is a store's,
// and removes the database and scratch a previous store left.
func prepareDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	case err != nil:
		return err
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(dir, markerName)); err != nil {
			return fmt.Errorf("the directory is not empty and has no %s file: not a pebble store's directory, so it is left alone", markerName)
		}
	}
	for _, sub := range []string{dbDir, captureDir, restoreDir} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return fmt.Errorf("removing the previous store's files: %w", err)
		}
	}
	return os.WriteFile(filepath.Join(dir, markerName), []byte("state/pebble spill store: Open deletes what it holds\n"), 0o644)
}

// open opens the database in dir/db (which may hold restored files); names maps its table files
// to their names in checkpoints.
func open(dir string, opts Options, names map[string]string) (*Store, error) {
	opts.ensureDefaults()
	po := opts.pebbleOptions(false)
	db, err := pebbledb.Open(filepath.Join(dir, dbDir), po)
	po.Cache.Unref() // the DB holds its own reference
	if err != nil {
		return nil, err
	}
	var inc [8]byte
	if _, err := rand.Read(inc[:]); err != nil {
		db.Close()
		return nil, fmt.Errorf("naming the store: %w", err)
	}
	if names == nil {
		names = map[string]string{}
	}
	return &Store{
		dir:         dir,
		opts:        opts,
		popts:       po,
		db:          db,
		buf:         db.NewIndexedBatchWithSize(min(2*opts.WriteBufferSize, 1<<20)),
		incarnation: hex.EncodeToString(inc[:]),
		names:       names,
	}, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// checkKG checks a key group.
func checkKG(kg int) error {
	if kg < 0 || kg >= MaxKeyGroups {
		return fmt.Errorf("key group %d is not in [0, %d)", kg, MaxKeyGroups)
	}
	return nil
}

// kgPrefix returns the two-byte prefix of key group kg (kg may be MaxKeyGroups: the end bound).
func kgPrefix(kg int) []byte { return []byte{byte(kg >> 8), byte(kg)} }

// makeKey builds the composite key in the store's scratch buffer.
func (s *Store) makeKey(kg int, key []byte) []byte {
	s.key = append(s.key[:0], byte(kg>>8), byte(kg))
	s.key = append(s.key, key...)
	return s.key
}

// Get appends the value of key in key group kg to dst and returns it with true, or returns dst
// unchanged and false when the key is absent. It sees buffered writes. Pass dst[:0] to reuse a
// buffer: a hit on a key in the block cache then allocates nothing.
func (s *Store) Get(kg int, key []byte, dst []byte) ([]byte, bool, error) {
	if s.db == nil {
		return dst, false, ErrClosed
	}
	if err := checkKG(kg); err != nil {
		return dst, false, fmt.Errorf("pebble store %s: get: %w", s.dir, err)
	}
	k := s.makeKey(kg, key)
	var v []byte
	var closer io.Closer
	var err error
	if s.buf.Empty() {
		v, closer, err = s.db.Get(k) // cheaper: no iterator over the buffer
	} else {
		v, closer, err = s.buf.Get(k)
	}
	if errors.Is(err, pebbledb.ErrNotFound) {
		return dst, false, nil
	}
	if err != nil {
		return dst, false, fmt.Errorf("pebble store %s: get in key group %d: %w", s.dir, kg, err)
	}
	dst = append(dst, v...)
	if err := closer.Close(); err != nil {
		return dst, false, fmt.Errorf("pebble store %s: get in key group %d: %w", s.dir, kg, err)
	}
	return dst, true, nil
}

// Set sets the value of key in key group kg. The write is buffered (see
// Options.WriteBufferSize); key and value may be reused when Set returns.
func (s *Store) Set(kg int, key, value []byte) error {
	if s.db == nil {
		return ErrClosed
	}
	if err := checkKG(kg); err != nil {
		return fmt.Errorf("pebble store %s: set: %w", s.dir, err)
	}
	if err := s.buf.Set(s.makeKey(kg, key), value, nil); err != nil {
		return fmt.Errorf("pebble store %s: set in key group %d: %w", s.dir, kg, err)
	}
	return s.maybeCommit(len(key) + len(value))
}

// Delete removes key from key group kg; deleting an absent key is not an error. The write is
// buffered like Set's.
func (s *Store) Delete(kg int, key []byte) error {
	if s.db == nil {
		return ErrClosed
	}
	if err := checkKG(kg); err != nil {
		return fmt.Errorf("pebble store %s: delete: %w", s.dir, err)
	}
	if err := s.buf.Delete(s.makeKey(kg, key), nil); err != nil {
		return fmt.Errorf("pebble store %s: delete in key group %d: %w", s.dir, kg, err)
	}
	return s.maybeCommit(len(key))
}

// entryOverhead approximates what an entry costs in a memtable beyond its key and value (a
// skiplist node and the key's trailer), so that buffered writes are measured as Pebble will: a
// batch above half a memtable would be applied as a separate "large batch", sorted and flushed
// on its own.
const entryOverhead = 64

func (s *Store) maybeCommit(n int) error {
	s.bufSize += n + entryOverhead
	if s.bufSize < s.opts.WriteBufferSize {
		return nil
	}
	return s.Flush()
}

// Flush commits the buffered writes to the database (to its memtable: nothing is synced).
func (s *Store) Flush() error {
	if s.db == nil {
		return ErrClosed
	}
	if s.buf.Empty() {
		return nil
	}
	if err := s.buf.Commit(pebbledb.NoSync); err != nil {
		return fmt.Errorf("pebble store %s: committing buffered writes: %w", s.dir, err)
	}
	s.buf.Reset() // keeps its memory (up to 1 MiB: Pebble's limit for reuse)
	s.bufSize = 0
	return nil
}

// Iterate calls f for every key of the key groups [kgStart, kgEnd), in key-group order and, within
// a key group, in byte order of the keys; buffered writes included. key and value are valid only
// during the call, and f must not write to the store. An error of f stops the iteration and is
// returned as it is.
func (s *Store) Iterate(kgStart, kgEnd int, f func(kg int, key, value []byte) error) error {
	if s.db == nil {
		return ErrClosed
	}
	if kgStart < 0 || kgEnd > MaxKeyGroups || kgStart > kgEnd {
		return fmt.Errorf("pebble store %s: iterate: key groups [%d, %d) is not a range within [0, %d)", s.dir, kgStart, kgEnd, MaxKeyGroups)
	}
	if kgStart == kgEnd {
		return nil
	}
	it, err := s.buf.NewIter(&pebbledb.IterOptions{LowerBound: kgPrefix(kgStart), UpperBound: kgPrefix(kgEnd)})
	if err != nil {
		return fmt.Errorf("pebble store %s: iterating key groups [%d, %d): %w", s.dir, kgStart, kgEnd, err)
	}
	ferr := iterate(it, f)
	if err := it.Close(); err != nil && ferr == nil {
		return fmt.Errorf("pebble store %s: iterating key groups [%d, %d): %w", s.dir, kgStart, kgEnd, err)
	}
	return ferr
}

// iterate runs f over it; errors of f are returned unwrapped, the iterator's are wrapped.
func iterate(it *pebbledb.Iterator, f func(kg int, key, value []byte) error) error {
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) < 2 {
			return fmt.Errorf("a key of %d bytes has no key-group prefix", len(k))
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("reading a value: %w", err)
		}
		if err := f(int(k[0])<<8|int(k[1]), k[2:], v); err != nil {
			return err
		}
	}
	return it.Error()
}

// Compact commits buffered writes and rewrites every table so that each key has one version and
// deleted keys and ranges take no space. Pebble compacts in the background anyway, so this is
// never needed for correctness; it settles a store after a bulk load or a RestoreRange. It
// rewrites everything: the next checkpoint copies everything.
func (s *Store) Compact() error {
	if err := s.Flush(); err != nil {
		return err
	}
	if err := s.db.Compact(context.Background(), kgPrefix(0), kgPrefix(MaxKeyGroups), true); err != nil {
		return fmt.Errorf("pebble store %s: compacting: %w", s.dir, err)
	}
	return nil
}

// Close releases the store. Buffered writes are discarded: a store's contents outlive it only
// through a checkpoint. Close is idempotent.
func (s *Store) Close() error {
	if s.db == nil {
		return nil
	}
	_ = s.buf.Close()
	err := s.db.Close()
	s.db, s.buf = nil, nil
	if err != nil {
		return fmt.Errorf("closing pebble store %s: %w", s.dir, err)
	}
	return nil
}

// copyFile copies src to a new file dst and syncs nothing (a restore that fails is redone).
func copyFile(dst string, src io.Reader) (int64, error) {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}
