package pebble

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// benchStore returns a store holding n keys (8 bytes, in 128 key groups) with values of size
// bytes, compacted.
func benchStore(b *testing.B, n, size int, opts Options) *Store {
	b.Helper()
	s := openTest(b, opts)
	key := make([]byte, 8)
	val := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range n {
		binary.BigEndian.PutUint64(key, uint64(i))
		for j := range val {
			val[j] = byte(rng.Uint32())
		}
		if err := s.Set(i%128, key, val); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Compact(); err != nil {
		b.Fatal(err)
	}
	return s
}

// randomKeys returns m keys drawn from [base, base+n), with their key groups.
func randomKeys(n, m int, base uint64) ([][]byte, []int) {
	rng := rand.New(rand.NewPCG(2, 2))
	keys, kgs := make([][]byte, m), make([]int, m)
	for i := range keys {
		k := base + uint64(rng.IntN(n))
		keys[i] = binary.BigEndian.AppendUint64(nil, k)
		kgs[i] = int(k % 128)
	}
	return keys, kgs
}

// BenchmarkGetHit reads present keys whose blocks are in the cache.
func BenchmarkGetHit(b *testing.B) {
	const n = 100_000
	s := benchStore(b, n, 100, Options{})
	keys, kgs := randomKeys(n, 1<<16, 0)
	var buf []byte
	for i := range keys { // warm the cache
		buf, _, _ = s.Get(kgs[i], keys[i], buf[:0])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		j := i & (len(keys) - 1)
		var ok bool
		var err error
		if buf, ok, err = s.Get(kgs[j], keys[j], buf[:0]); !ok || err != nil {
			b.Fatal("miss", err)
		}
	}
}

// BenchmarkGetMiss reads absent keys, which the Bloom filters answer without reading data
// blocks; nobloom shows the cost without them.
func BenchmarkGetMiss(b *testing.B) {
	const n = 100_000
	for _, bc := range []struct {
		name string
		bits int
	}{{"bloom", 0}, {"nobloom", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			s := benchStore(b, n, 100, Options{BloomBitsPerKey: bc.bits})
			keys, kgs := randomKeys(n, 1<<16, 1<<40) // none of them was written
			var buf []byte
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				j := i & (len(keys) - 1)
				var ok bool
				var err error
				if buf, ok, err = s.Get(kgs[j], keys[j], buf[:0]); ok || err != nil {
					b.Fatal("hit", err)
				}
			}
		})
	}
}

// BenchmarkSet writes random keys (8 bytes) with 100-byte values, memtable flushes and
// compactions included.
func BenchmarkSet(b *testing.B) {
	s := openTest(b, Options{})
	val := make([]byte, 100)
	rng := rand.New(rand.NewPCG(3, 3))
	key := make([]byte, 8)
	b.ReportAllocs()
	b.SetBytes(int64(len(key) + len(val)))
	for range b.N {
		k := rng.Uint64()
		binary.BigEndian.PutUint64(key, k)
		if err := s.Set(int(k%128), key, val); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCountPerKey is a tumbling count per key on Pebble: read the key's count, add one,
// write it back, over 1M keys (uniformly) with a 4 MiB cache, far less than the data.
func BenchmarkCountPerKey(b *testing.B) {
	const n = 1_000_000
	s := benchStore(b, n, 8, Options{CacheSize: 4 << 20})
	keys, kgs := randomKeys(n, 1<<20, 0)
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		j := i & (len(keys) - 1)
		var ok bool
		var err error
		buf, ok, err = s.Get(kgs[j], keys[j], buf[:0])
		if err != nil {
			b.Fatal(err)
		}
		var c uint64
		if ok {
			c = binary.LittleEndian.Uint64(buf)
		}
		buf = binary.LittleEndian.AppendUint64(buf[:0], c+1)
		if err := s.Set(kgs[j], keys[j], buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	m := s.db.Metrics()
	b.ReportMetric(100*float64(m.BlockCache.Hits)/float64(max(1, m.BlockCache.Hits+m.BlockCache.Misses)), "%cache-hits")
}

// BenchmarkCapture measures the synchronous part of a checkpoint (commit the write buffer, flush
// the memtable, link the tables) of a store of 1M keys after 10k updates: the processing pause
// an operator sees.
func BenchmarkCapture(b *testing.B) {
	const n = 1_000_000
	s := benchStore(b, n, 8, Options{CacheSize: 16 << 20})
	keys, kgs := randomKeys(n, 10_000, 0)
	val := make([]byte, 8)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		for j := range keys {
			binary.LittleEndian.PutUint64(val, uint64(i))
			if err := s.Set(kgs[j], keys[j], val); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		c, err := s.Capture()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := c.Release(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
