package flow

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestKeyCacheMatchesEncoding: snapshots of a sliced window operator whose keys come and go
// (windows fire and free their slots, new keys take them) encode the same bytes through the key
// cache as without it, for synchronous views and for frozen views written to afterwards.
func TestKeyCacheMatchesEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	op := newSlicedCountOp(NewTask("w", 0, 1))
	now := int64(0)
	for round := range 60 {
		for range 50 + r.IntN(3000) {
			k := "k" + strconv.Itoa(r.IntN(5000))
			op.Collect(now+r.Int64N(1000), Keyed[string, string]{Key: k, Value: k})
		}
		now += 20_000
		op.Watermark(now - 1000) // fires and frees the keys of ended windows
		sync := op.tab.view()
		checkKeyCache(t, op, sync, round)
		frozen, xv, rv := op.tab.freeze(), op.ext.freeze(), op.ring.freeze()
		for range 200 { // written after the freeze: new keys in new and freed slots
			k := "n" + strconv.Itoa(r.IntN(1_000_000))
			op.Collect(now+r.Int64N(1000), Keyed[string, string]{Key: k, Value: k})
		}
		var cached, plain StateWriter
		if err := op.encode(frozen, xv, rv, &cached); err != nil {
			t.Fatal(err)
		}
		frozen.keys = nil
		if err := op.encode(frozen, xv, rv, &plain); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(cached.Bytes(), plain.Bytes()) {
			t.Fatalf("round %d: the frozen view's snapshot through the key cache differs from its plain encoding", round)
		}
	}
	if len(op.tab.keys.chunks) == 0 {
		t.Fatal("the key cache was never used")
	}
}

func checkKeyCache(t *testing.T, op *SliceWindowOp[string, string, int64], v ktView[string, swEnt[int64]], round int) {
	t.Helper()
	var cached, plain StateWriter
	if err := op.encode(v, op.ext.view(), op.ring.view(), &cached); err != nil {
		t.Fatal(err)
	}
	v.keys = nil
	if err := op.encode(v, op.ext.view(), op.ring.view(), &plain); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cached.Bytes(), plain.Bytes()) {
		t.Fatalf("round %d: the snapshot through the key cache differs from the plain encoding (%d vs %d bytes)",
			round, len(cached.Bytes()), len(plain.Bytes()))
	}
}
