package flow

import (
	"math"
	"testing"

	"github.com/sluicehq/sluice/window"
)

// TestSliceWindowOpLatenessMatchesSpec: the operator's own isLate and cleanup, which avoid
// copying the Spec, agree with Spec.IsLate and Spec.CleanupTime, extreme times included.
func TestSliceWindowOpLatenessMatchesSpec(t *testing.T) {
	times := []int64{math.MinInt64, math.MinInt64 + 1, -1000, -1, 0, 1, 999, 60_000, math.MaxInt64 - 5, math.MaxInt64}
	for _, lateness := range []int64{0, 1, 5000, math.MaxInt64 / 2, math.MaxInt64} {
		spec := window.NewSpec(window.SlidingMillis(10, 5, 0))
		spec.AllowedLateness = lateness
		o := &SliceWindowOp[string, int64, int64]{Spec: spec}
		o.Init()
		for _, end := range times {
			if end == math.MinInt64 {
				continue // no window ends there: its last timestamp would be before MinInt64
			}
			w := window.Window{Start: end - 10, End: end}
			if got, want := o.cleanup(end), spec.CleanupTime(w); got != want {
				t.Fatalf("lateness %d, end %d: cleanup %d, Spec says %d", lateness, end, got, want)
			}
			for _, wm := range times {
				o.WM = wm
				if got, want := o.isLate(end), spec.IsLate(w, wm); got != want {
					t.Fatalf("lateness %d, end %d, watermark %d: isLate %v, Spec says %v", lateness, end, wm, got, want)
				}
			}
		}
	}
}
