package flow

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestKeyTable drives the table with random adds, lookups and removals (enough to grow it and to
// rebuild it over its tombstones) and checks it against a map after every operation, with
// frozen views that must keep the values they saw.
func TestKeyTable(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tab := newKeyTable[string, int64]()
	ref := map[string]int32{} // key → slot
	type frozen struct {
		v    ktView[string, int64]
		want map[int32]int64
	}
	var views []frozen
	for i := range 200_000 {
		k := "k" + strconv.Itoa(r.IntN(3000))
		h := tab.hash(k)
		s, ok := tab.find(h, k)
		if rs, rok := ref[k]; ok != rok || (ok && s != rs) {
			t.Fatalf("op %d: find(%q) = %d, %v; want %d, %v", i, k, s, ok, rs, rok)
		}
		switch {
		case !ok:
			s = tab.add(h, k)
			if tab.at(s).val != 0 || tab.at(s).key != k {
				t.Fatalf("op %d: a new slot holds %q, %d", i, tab.at(s).key, tab.at(s).val)
			}
			ref[k] = s
			tab.at(s).val = int64(i)
		case r.IntN(3) == 0:
			tab.remove(s)
			delete(ref, k)
		default:
			tab.at(s).val = int64(i)
		}
		if tab.len() != len(ref) {
			t.Fatalf("op %d: len %d, want %d", i, tab.len(), len(ref))
		}
		if i%20_000 == 0 {
			f := frozen{v: tab.freeze(), want: map[int32]int64{}}
			for _, s := range ref {
				v := tab.view()
				f.want[s] = v.at(s).val
			}
			views = append(views, f)
		}
	}
	n := 0
	tab.each(func(s int32) {
		if ref[tab.at(s).key] != s {
			t.Fatalf("each: slot %d holds %q, which the map has in %d", s, tab.at(s).key, ref[tab.at(s).key])
		}
		n++
	})
	if n != len(ref) {
		t.Fatalf("each saw %d keys, want %d", n, len(ref))
	}
	for j, f := range views {
		for s, v := range f.want {
			if got := f.v.at(s).val; got != v {
				t.Fatalf("view %d: slot %d changed from %d to %d after the freeze", j, s, v, got)
			}
		}
	}
}

// TestKeyTableFloatKeys: keys equal under == are one key, as in a map (-0 and +0).
func TestKeyTableFloatKeys(t *testing.T) {
	tab := newKeyTable[float64, int]()
	pos, neg := 0.0, math.Copysign(0, -1)
	s := tab.add(tab.hash(pos), pos)
	if got, ok := tab.find(tab.hash(neg), neg); !ok || got != s {
		t.Fatalf("find(-0) = %d, %v; want the slot of +0, %d", got, ok, s)
	}
}

// TestKeyTableReusesReleasedChunks: after a frozen view is released, the chunks it alone read
// become the copies of the next freeze's writes; a view not released keeps its chunks, whatever
// the table does after.
func TestKeyTableReusesReleasedChunks(t *testing.T) {
	tab := newKeyTable[int, int]()
	// 16 chunks: under -race a sync.Pool drops a quarter of what is put in it, at random, so
	// with 3 chunks all of them were dropped about once in 64 runs.
	const n = 16 * ktChunkLen
	for k := range n {
		tab.at(tab.add(tab.hash(k), k)).val = k
	}
	writeAll := func(add int) {
		for s := int32(0); s < n; s++ {
			tab.at(s).val += add
		}
	}
	v1 := tab.freeze()
	writeAll(1) // copies every chunk; v1's are retired
	old := map[*ktChunk[int, int]]bool{}
	for _, c := range v1.chunks {
		old[c] = true
	}
	v1.release()
	held := tab.freeze() // v1 released: its chunks are spare
	writeAll(1)
	reused := 0
	for _, c := range tab.chunks {
		if old[c] {
			reused++
		}
	}
	if reused == 0 { // a sync.Pool may drop some (-race, a collection), not all 16 here
		t.Fatalf("the writes after the release allocated every chunk instead of reusing released ones")
	}
	for range 5 { // held is never released: its chunks must stay as they were
		v := tab.freeze()
		writeAll(1)
		v.release()
	}
	for s := int32(0); s < n; s++ {
		if got, want := held.at(s).val, int(s)+1; got != want {
			t.Fatalf("slot %d of an unreleased view reads %d, want %d: its chunk was reused", s, got, want)
		}
		if got, want := tab.peek(s).val, int(s)+7; got != want {
			t.Fatalf("slot %d reads %d, want %d", s, got, want)
		}
	}
}
