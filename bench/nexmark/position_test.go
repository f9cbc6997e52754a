package nexmark

import (
	"context"
	"io"
	"testing"
)

// TestSplitResumesFromPosition: a split sought to a position taken after any number of events
// produces exactly the events the original produced after it, for bounded and unbounded streams.
func TestSplitResumesFromPosition(t *testing.T) {
	for _, max := range []int64{0, 5_000} {
		src := NewSource(GeneratorConfig{MaxEvents: max}, Splits(2), BlockSize(300))
		for _, cut := range []int{0, 1, 299, 300, 301, 1234} {
			orig := openSplit(t, src, 1)
			head := readN(t, orig, cut)
			pos, err := orig.(*genSplit).Position()
			if err != nil {
				t.Fatal(err)
			}
			want := readN(t, orig, 700)
			resumed := openSplit(t, src, 1)
			if err := resumed.(*genSplit).Seek(pos); err != nil {
				t.Fatal(err)
			}
			got := readN(t, resumed, 700)
			if len(got) != len(want) {
				t.Fatalf("max %d cut %d: resumed %d events, want %d", max, cut, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("max %d cut %d: event %d differs after resume (head %d)", max, cut, i, len(head))
				}
			}
		}
	}
}

func openSplit(t *testing.T, src *Source, i int) interface {
	Read(context.Context, []Event) ([]Event, error)
} {
	t.Helper()
	rs, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rs[i]
}

func readN(t *testing.T, r interface {
	Read(context.Context, []Event) ([]Event, error)
}, n int) []Event {
	t.Helper()
	var out []Event
	for len(out) < n {
		buf, err := r.Read(context.Background(), make([]Event, 0, min(64, n-len(out))))
		out = append(out, buf...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}
