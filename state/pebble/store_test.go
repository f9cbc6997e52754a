package pebble

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// entry is one key of a model of a store.
type entry struct {
	kg    int
	key   string
	value string
}

// dump returns the store's keys in [kgStart, kgEnd), in iteration order.
func dump(t testing.TB, s *Store, kgStart, kgEnd int) []entry {
	t.Helper()
	var out []entry
	err := s.Iterate(kgStart, kgEnd, func(kg int, key, value []byte) error {
		out = append(out, entry{kg, string(key), string(value)})
		return nil
	})
	if err != nil {
		t.Fatalf("Iterate(%d, %d): %v", kgStart, kgEnd, err)
	}
	return out
}

// sorted returns the model's entries in [kgStart, kgEnd) in the store's order.
func sorted(model map[[2]string]entry, kgStart, kgEnd int) []entry {
	var out []entry
	for _, e := range model {
		if e.kg >= kgStart && e.kg < kgEnd {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b entry) int {
		if a.kg != b.kg {
			return a.kg - b.kg
		}
		return strings.Compare(a.key, b.key)
	})
	return out
}

func mkey(kg int, key string) [2]string { return [2]string{fmt.Sprint(kg), key} }

func equalEntries(t testing.TB, what string, got, want []entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: entry %d is %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "store"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRoundTrip(t *testing.T) {
	s := openTest(t, Options{WriteBufferSize: 256}) // commits every few writes
	var buf []byte
	for i := range 1000 {
		if err := s.Set(i%7, fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1000 {
		v, ok, err := s.Get(i%7, fmt.Appendf(nil, "k%d", i), buf[:0])
		if err != nil || !ok || string(v) != fmt.Sprintf("v%d", i) {
			t.Fatalf("Get k%d = %q, %v, %v", i, v, ok, err)
		}
		buf = v
		// The same key in another key group is another key.
		if _, ok, err := s.Get(i%7+1, fmt.Appendf(nil, "k%d", i), nil); ok || err != nil {
			t.Fatalf("Get k%d in key group %d: found=%v err=%v, want absent", i, i%7+1, ok, err)
		}
	}
	// Get appends to dst.
	v, ok, err := s.Get(0, []byte("k0"), []byte("x:"))
	if err != nil || !ok || string(v) != "x:v0" {
		t.Fatalf("Get with a prefix = %q, %v, %v", v, ok, err)
	}
	// Overwrite and delete, before and after a flush.
	if err := s.Set(0, []byte("k0"), []byte("new")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(1, []byte("k1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(1, []byte("never-set")); err != nil {
		t.Fatal(err)
	}
	for _, flush := range []bool{false, true} {
		if flush {
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if v, ok, _ := s.Get(0, []byte("k0"), nil); !ok || string(v) != "new" {
			t.Fatalf("after overwrite (flushed %v): %q %v", flush, v, ok)
		}
		if v, ok, _ := s.Get(1, []byte("k1"), []byte("keep")); ok || string(v) != "keep" {
			t.Fatalf("after delete (flushed %v): %q %v; a miss must return dst unchanged", flush, v, ok)
		}
	}
	// Empty keys and values are keys and values.
	if err := s.Set(3, nil, nil); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.Get(3, nil, nil); !ok || err != nil || len(v) != 0 {
		t.Fatalf("empty key: %q %v %v", v, ok, err)
	}
	// Key groups out of range are errors that say so.
	for _, kg := range []int{-1, MaxKeyGroups} {
		if err := s.Set(kg, []byte("a"), nil); err == nil || !strings.Contains(err.Error(), "key group") {
			t.Fatalf("Set in key group %d: %v", kg, err)
		}
		if _, _, err := s.Get(kg, []byte("a"), nil); err == nil {
			t.Fatalf("Get in key group %d: no error", kg)
		}
		if err := s.Delete(kg, []byte("a")); err == nil {
			t.Fatalf("Delete in key group %d: no error", kg)
		}
	}
	if err := s.Iterate(5, 4, func(int, []byte, []byte) error { return nil }); err == nil {
		t.Fatal("Iterate(5, 4): no error")
	}
	// The highest key group works.
	if err := s.Set(MaxKeyGroups-1, []byte{0xff, 0xff}, []byte("top")); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, s, MaxKeyGroups-1, MaxKeyGroups); len(got) != 1 || got[0].value != "top" {
		t.Fatalf("highest key group: %+v", got)
	}
	// A closed store says so.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := s.Get(0, []byte("k0"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := s.Set(0, []byte("k0"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close: %v", err)
	}
	if _, err := s.Checkpoint(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Checkpoint after Close: %v", err)
	}
}

func TestIterateKeyGroupOrder(t *testing.T) {
	s := openTest(t, Options{WriteBufferSize: 4 << 10})
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[[2]string]entry{}
	for i := range 20000 {
		kg := rng.IntN(300)
		key := fmt.Sprintf("%x", rng.Uint32())
		val := fmt.Sprint(i)
		if rng.IntN(10) == 0 && len(model) > 0 {
			// Delete a key that exists.
			for k, e := range model {
				if err := s.Delete(e.kg, []byte(e.key)); err != nil {
					t.Fatal(err)
				}
				delete(model, k)
				break
			}
			continue
		}
		if err := s.Set(kg, []byte(key), []byte(val)); err != nil {
			t.Fatal(err)
		}
		model[mkey(kg, key)] = entry{kg, key, val}
		if i == 10000 {
			if err := s.db.Flush(); err != nil { // some keys in a table, some in the memtable
				t.Fatal(err)
			}
		}
	}
	// Some writes still buffered: Iterate sees them.
	for _, r := range [][2]int{{0, 300}, {0, 1}, {17, 18}, {100, 200}, {250, 400}, {299, 300}, {42, 42}, {0, MaxKeyGroups}} {
		equalEntries(t, fmt.Sprintf("Iterate(%d, %d)", r[0], r[1]), dump(t, s, r[0], r[1]), sorted(model, r[0], r[1]))
	}
	// An error of f stops the iteration and comes back as it is.
	stop := errors.New("stop")
	calls := 0
	err := s.Iterate(0, 300, func(int, []byte, []byte) error {
		calls++
		if calls == 5 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 5 {
		t.Fatalf("Iterate with a failing f: err %v after %d calls", err, calls)
	}
}

func TestLargerThanCache(t *testing.T) {
	n := 200_000 / raceScale
	const valueSize = 200
	s := openTest(t, Options{CacheSize: 4 << 20}) // and the default memtable: 512 KiB
	val := make([]byte, valueSize)
	key := make([]byte, 8)
	fill := func(i int) {
		rng := rand.New(rand.NewPCG(uint64(i), 7)) // incompressible, reproducible
		for j := 0; j < valueSize; j += 8 {
			binary.LittleEndian.PutUint64(val[j:], rng.Uint64())
		}
	}
	for i := range n {
		binary.BigEndian.PutUint64(key, uint64(i))
		fill(i)
		if err := s.Set(i%128, key, val); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	for _, i := range rand.New(rand.NewPCG(3, 4)).Perm(n) {
		binary.BigEndian.PutUint64(key, uint64(i))
		fill(i)
		var ok bool
		var err error
		buf, ok, err = s.Get(i%128, key, buf[:0])
		if err != nil || !ok || !bytes.Equal(buf, val) {
			t.Fatalf("key %d: found=%v err=%v equal=%v", i, ok, err, bytes.Equal(buf, val))
		}
	}
	count := 0
	if err := s.Iterate(0, 128, func(kg int, k, v []byte) error {
		if len(v) != valueSize || int(binary.BigEndian.Uint64(k))%128 != kg {
			return fmt.Errorf("bad entry in key group %d", kg)
		}
		count++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Fatalf("iterated %d keys, want %d", count, n)
	}
	m := s.db.Metrics()
	t.Logf("%d keys × %d B: %d MiB on disk in %d tables, block cache %d KiB (4 MiB max), %d hits, %d misses",
		n, valueSize, m.DiskSpaceUsage()>>20, m.Total().TablesCount, m.BlockCache.Size>>10, m.BlockCache.Hits, m.BlockCache.Misses)
	if m.BlockCache.Size > 4<<20 {
		t.Fatalf("block cache holds %d bytes, more than its 4 MiB", m.BlockCache.Size)
	}
	if int64(m.DiskSpaceUsage()) < int64(n)*valueSize {
		t.Fatalf("only %d bytes on disk for %d bytes of values", m.DiskSpaceUsage(), n*valueSize)
	}
}

func TestOpenDirectory(t *testing.T) {
	// A foreign, non-empty directory is left alone.
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "precious"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(foreign, Options{}); err == nil || !strings.Contains(err.Error(), "not a pebble store") {
		t.Fatalf("Open of a foreign directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(foreign, "precious")); err != nil {
		t.Fatal(err)
	}
	// A store's directory is reopened empty.
	dir := filepath.Join(t.TempDir(), "s")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(1, []byte("a"), []byte("b")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Capture(); err != nil { // leaves a capture behind
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := dump(t, s, 0, MaxKeyGroups); len(got) != 0 {
		t.Fatalf("reopened store holds %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, captureDir)); !os.IsNotExist(err) {
		t.Fatalf("the old capture is still there: %v", err)
	}
}
