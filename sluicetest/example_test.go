package sluicetest_test

import (
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/sluicetest"
	"github.com/sluicehq/sluice/window"
)

type click struct{ Page string }

// A one-minute count per page with early firings every 10 s of processing time, driven step by
// step: every result appears right after the call that caused it.
func Example() {
	p := sluice.NewPipeline("test")
	in := sluicetest.NewInput[click](p, "clicks")
	w := sluice.Window(sluice.KeyBy(in.Stream(), func(c click) string { return c.Page }),
		window.Tumbling(time.Minute), window.EarlyFiringAfter(10*time.Second))
	counts := sluicetest.Capture(sluice.Aggregate(w, agg.Count[click]()).UID("counts"))
	late := sluicetest.Capture(sluice.Late(w))

	d, err := sluicetest.NewDriver(p)
	if err != nil {
		panic(err)
	}
	in.Push(5_000, click{"/home"})
	in.Push(20_000, click{"/home"})
	d.AdvanceProcessingTime(10_000) // 10 s after the first element: an EARLY pane
	d.AdvanceWatermark(59_999)      // the window's max timestamp: the ON_TIME pane
	in.Push(30_000, click{"/home"}) // behind the watermark, no allowed lateness: late
	d.End()

	for _, r := range counts.Values() {
		fmt.Println(r.Key, r.Window, r.Pane.Timing, r.Pane.Index, r.Value)
	}
	for _, l := range late.Values() {
		fmt.Println("late:", l.Key, l.Timestamp)
	}
	// Output:
	// /home [0, 60000) EARLY 0 2
	// /home [0, 60000) ON_TIME 1 2
	// late: /home 30000
}
