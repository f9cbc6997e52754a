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
