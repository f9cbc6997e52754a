package flow

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestTimerQueueOrder: buckets pop in time order with every key added at their time, whether
// added one by one (Add) or in runs (AddAll), with pops and recycled arrays in between.
func TestTimerQueueOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var q TimerQueue[int]
	want := map[int64][]int{}
	n, key := 0, 0
	check := func(upTo int64) {
		for q.Len() > 0 && q.Next() <= upTo {
			at := q.Next()
			tm, keys := q.Pop()
			if tm != at {
				t.Fatalf("Pop returned time %d, Next said %d", tm, at)
			}
			for w := range want {
				if w < tm {
					t.Fatalf("bucket %d popped before %d", tm, w)
				}
			}
			if !slices.Equal(keys, want[tm]) {
				t.Fatalf("bucket %d: keys %v, want %v", tm, keys, want[tm])
			}
			n -= len(keys)
			delete(want, tm)
			q.Recycle(keys)
		}
		if q.Len() != n {
			t.Fatalf("Len %d, want %d", q.Len(), n)
		}
	}
	for round := range 2000 {
		tm := int64(round/4 + r.IntN(20))
		if r.IntN(2) == 0 {
			q.Add(tm, key)
			want[tm] = append(want[tm], key)
			key++
			n++
		} else {
			ks := make([]int, r.IntN(5))
			for i := range ks {
				ks[i] = key
				key++
			}
			q.AddAll(tm, ks)
			if len(ks) > 0 {
				want[tm] = append(want[tm], ks...)
			}
			n += len(ks)
		}
		if r.IntN(10) == 0 {
			check(int64(round / 4))
		}
	}
	check(MaxTime)
	if len(want) != 0 {
		t.Fatalf("buckets never popped: %v", want)
	}
}
