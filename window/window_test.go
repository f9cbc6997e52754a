package window

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAssign(t *testing.T) {
	cases := []struct {
		name string
		a    Assigner
		ts   int64
		want []Window
	}{
		{"tumbling", Tumbling(10 * time.Second), 12_345, []Window{{10_000, 20_000}}},
		{"tumbling at a boundary", Tumbling(10 * time.Second), 20_000, []Window{{20_000, 30_000}}},
		{"tumbling negative", Tumbling(10 * time.Second), -1, []Window{{-10_000, 0}}},
		{"tumbling offset", Tumbling(10*time.Second, 3*time.Second), 2_500, []Window{{-7_000, 3_000}}},
		{"sliding", Sliding(10*time.Second, 5*time.Second), 12_000, []Window{{10_000, 20_000}, {5_000, 15_000}}},
		{"sliding uneven", Sliding(10*time.Second, 3*time.Second), 9_000, []Window{{9_000, 19_000}, {6_000, 16_000}, {3_000, 13_000}, {0, 10_000}}},
		{"sliding negative", Sliding(4*time.Second, 2*time.Second), -1, []Window{{-2_000, 2_000}, {-4_000, 0}}},
		{"session", Session(time.Minute), 5, []Window{{5, 60_005}}},
	}
	for _, c := range cases {
		if got := c.a.Assign(nil, c.ts); !slices.Equal(got, c.want) {
			t.Errorf("%s: Assign(%d) = %v, want %v", c.name, c.ts, got, c.want)
		}
	}
}

// TestSlicesTileWindows: every sliding window is the union of whole slices, and an element's
// slice lies inside each of its windows.
func TestSlicesTileWindows(t *testing.T) {
	for _, a := range []Assigner{Sliding(10*time.Second, 3*time.Second, time.Second), Sliding(6*time.Second, 4*time.Second), Tumbling(time.Minute, -time.Second)} {
		for ts := int64(-20_000); ts < 20_000; ts += 777 {
			s := a.Slice(ts)
			if !s.Contains(ts) || s.End-s.Start != a.SliceLen() {
				t.Fatalf("%+v: slice %v of %d", a, s, ts)
			}
			for _, w := range a.Assign(nil, ts) {
				if s.Start < w.Start || s.End > w.End || (w.Start-s.Start)%a.SliceLen() != 0 {
					t.Fatalf("%+v: slice %v not a whole part of window %v", a, s, w)
				}
			}
		}
	}
}

func TestValidateNamesTheParameter(t *testing.T) {
	cases := map[string]Assigner{
		"tumbling size must be > 0": Tumbling(0),
		"|offset| must be < size":   Tumbling(time.Second, -time.Second),
		"sliding size must be > 0":  Sliding(-time.Second, time.Second),
		"slide must be > 0":         Sliding(time.Second, 0),
		"must not exceed size":      Sliding(time.Second, 2*time.Second),
		"|offset| must be < slide":  Sliding(4*time.Second, 2*time.Second, 2*time.Second),
		"session gap must be > 0":   Session(0),
		"no window assigner set":    {},
	}
	for want, a := range cases {
		err := a.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want an ErrInvalid containing %q", a, err, want)
		}
	}
	if err := NewSpec(Tumbling(time.Second), LateEveryCount(0)).Validate(); err == nil {
		t.Error("late-every-count 0 accepted")
	}
	if err := NewSpec(Tumbling(time.Second), AllowedLateness(-time.Second)).Validate(); err == nil {
		t.Error("negative lateness accepted")
	}
}

func TestLatenessAndCleanup(t *testing.T) {
	s := NewSpec(Tumbling(10*time.Second), AllowedLateness(5*time.Second))
	w := Window{0, 10_000}
	if s.IsLate(w, 14_998) || !s.IsLate(w, 14_999) {
		t.Fatal("a window is late exactly when end-1+lateness <= watermark")
	}
	if s.CleanupTime(w) != 14_999 {
		t.Fatalf("cleanup %d", s.CleanupTime(w))
	}
	huge := NewSpec(Tumbling(time.Second))
	huge.AllowedLateness = MaxWatermark
	if huge.CleanupTime(w) != MaxWatermark {
		t.Fatal("cleanup time must saturate, not overflow")
	}
	if (Window{0, 10}).Intersects(Window{11, 20}) || !(Window{0, 10}).Intersects(Window{10, 20}) {
		t.Fatal("sessions merge when they overlap or touch")
	}
	if OnTime.String() != "ON_TIME" || Early.String() != "EARLY" || Late.String() != "LATE" {
		t.Fatal("pane timing names")
	}
}
