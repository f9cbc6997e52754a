package sluice_test

import (
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sluicetest"
	"github.com/sluicehq/sluice/window"
)

type reading struct {
	Sensor string
	Temp   int
}

type summary struct {
	Sensor     string
	Start, End int64
	Temps      []int
	Pane       string
}

// TestProcessWindowSeesAllElementsAndMetadata: the function gets every element of the pane in
// arrival order and the window's bounds and pane; it may emit several results, which carry the
// window's timestamp.
func TestProcessWindowSeesAllElementsAndMetadata(t *testing.T) {
	p := sluice.NewPipeline("pw")
	in := sluicetest.NewInput[reading](p, "readings")
	w := sluice.Window(sluice.KeyBy(in.Stream(), func(r reading) string { return r.Sensor }), window.Tumbling(10*time.Second))
	out := sluicetest.Capture(sluice.ProcessWindow(w, func(ctx sluice.WindowContext[string], elems []reading, emit func(summary)) {
		s := summary{Sensor: ctx.Key, Start: ctx.Window.Start, End: ctx.Window.End, Pane: ctx.Pane.Timing.String()}
		for _, e := range elems {
			s.Temps = append(s.Temps, e.Temp)
		}
		emit(s)
		if len(elems) > 2 {
			emit(summary{Sensor: ctx.Key + "/busy", Start: ctx.Window.Start, End: ctx.Window.End})
		}
	}).UID("pw"))
	d, err := sluicetest.NewDriver(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		ts int64
		v  reading
	}{{1000, reading{"a", 20}}, {3000, reading{"b", 5}}, {2000, reading{"a", 22}}, {9999, reading{"a", 21}}, {10000, reading{"a", 30}}} {
		if err := in.Push(r.ts, r.v); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.AdvanceWatermark(9999); err != nil {
		t.Fatal(err)
	}
	got := out.Drain()
	slices.SortFunc(got, func(x, y summary) int {
		if x.Sensor < y.Sensor {
			return -1
		}
		return 1
	})
	want := []summary{
		{Sensor: "a", Start: 0, End: 10000, Temps: []int{20, 22, 21}, Pane: "ON_TIME"},
		{Sensor: "a/busy", Start: 0, End: 10000},
		{Sensor: "b", Start: 0, End: 10000, Temps: []int{5}, Pane: "ON_TIME"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Sensor != want[i].Sensor || got[i].Start != want[i].Start || got[i].End != want[i].End ||
			!slices.Equal(got[i].Temps, want[i].Temps) || got[i].Pane != want[i].Pane {
			t.Fatalf("result %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if err := d.End(); err != nil {
		t.Fatal(err)
	}
	if rest := out.Drain(); len(rest) != 1 || rest[0].Sensor != "a" || rest[0].Start != 10000 || !slices.Equal(rest[0].Temps, []int{30}) {
		t.Fatalf("at end of input: %+v", rest)
	}
}

func TestReduceKeepsTheMaximum(t *testing.T) {
	p := sluice.NewPipeline("reduce")
	in := sluicetest.NewInput[reading](p, "readings")
	w := sluice.Window(sluice.KeyBy(in.Stream(), func(r reading) string { return r.Sensor }), window.Sliding(10*time.Second, 5*time.Second))
	out := sluicetest.Capture(sluice.Reduce(w, func(a, b reading) reading {
		if b.Temp > a.Temp {
			return b
		}
		return a
	}).UID("max"))
	d, _ := sluicetest.NewDriver(p)
	in.Push(1000, reading{"a", 3})
	in.Push(6000, reading{"a", 9})
	in.Push(12000, reading{"a", 4})
	d.End()
	got := map[[2]int64]int{}
	for _, r := range out.Values() {
		got[[2]int64{r.Window.Start, r.Window.End}] = r.Value.Temp
	}
	want := map[[2]int64]int{{-5000, 5000}: 3, {0, 10000}: 9, {5000, 15000}: 9, {10000, 20000}: 4}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("window %v: got %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}
