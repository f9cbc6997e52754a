package flow

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/window"
)

func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var smallKeys = os.Getenv("SMALL") != ""

func TestZZCPU(t *testing.T) {
	if os.Getenv("ZZCPU") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	for _, tc := range []struct {
		name    string
		spec    window.Spec
		general bool
		clock   func(int) int64
	}{
		{"tumbling-slice", window.NewSpec(window.TumblingMillis(60_000, 0)), false, windowClock},
		{"tumbling-general", window.NewSpec(window.TumblingMillis(60_000, 0)), true, windowClock},
		{"sliding-slice", window.NewSpec(window.SlidingMillis(10_000, 2_000, 0)), false, slidingClock},
		{"sliding-general", window.NewSpec(window.SlidingMillis(10_000, 2_000, 0)), true, slidingClock},
	} {
		fire := func(_ string, _ window.Window, _ window.Pane, acc int64) { benchSink += acc }
		var op Outlet[Keyed[string, int64]]
		if tc.general {
			g := &WindowOp[string, int64, int64]{Name: "w", T: NewTask("b", 0, 1), Spec: tc.spec, Agg: benchCount{}, Fire: fire, Out: Discard[int64]{}, Late: Discard[LateElement[string, int64]]{}}
			g.Init()
			op = g
		} else {
			s := &SliceWindowOp[string, int64, int64]{Name: "w", T: NewTask("b", 0, 1), Spec: tc.spec, Agg: benchCount{}, Fire: fire, Out: Discard[int64]{}, Late: Discard[LateElement[string, int64]]{}}
			s.Init()
			op = s
		}
		feed := func(op Outlet[Keyed[string, int64]], from, to int, clock func(int) int64) {
			for i := from; i < to; i++ {
				e := &benchInput[i&(benchEvents-1)]
				now := clock(i)
				op.Collect(now-e.jitter, Keyed[string, int64]{Key: benchInput[i&1023].key, Value: e.value})
				if i%benchBatch == benchBatch-1 {
					op.Watermark(now - benchDisorder)
				}
			}
		}
		if !smallKeys {
			feed = benchFeed
		}
		feed(op, 0, 2_000_000, tc.clock)
		const n = 2_000_000
		c0, w0 := threadCPU(), time.Now()
		feed(op, 2_000_000, 2_000_000+n, tc.clock)
		c1, w1 := threadCPU(), time.Now()
		t.Logf("%-18s cpu %6.0f ns/ev  wall %6.0f ns/ev", tc.name, float64(c1-c0)/n, float64(w1.Sub(w0))/n)
	}
}

func TestZZRollCPU(t *testing.T) {
	if os.Getenv("ZZCPU") == "" {
		t.Skip()
	}
	runtime.LockOSThread()
	op := &RollingOp[string, int64, int64]{Name: "r", T: NewTask("b", 0, 1), Range: 30 * 60_000,
		Store: RollingSum(func(v int64) int64 { return v })(), Out: benchRolledSink{}, Late: Discard[LateElement[string, int64]]{}}
	op.Init()
	benchFeed(op, 0, 2_000_000, rollingClock)
	const n = 2_000_000
	c0, w0 := threadCPU(), time.Now()
	benchFeed(op, 2_000_000, 2_000_000+n, rollingClock)
	c1, w1 := threadCPU(), time.Now()
	t.Logf("%-18s cpu %6.0f ns/ev  wall %6.0f ns/ev", "rolling-sum", float64(c1-c0)/n, float64(w1.Sub(w0))/n)
}
