// Package window holds the pure semantics of event-time windows: the window type, the assigners
// (tumbling, sliding, session), the trigger and lateness settings, and pane metadata.
//
// It follows the Dataflow/Flink model exactly: a window is [Start, End), its maximum timestamp is
// End-1, the event-time trigger fires when the watermark reaches End-1, and an element is too late
// for a window once End-1+AllowedLateness <= watermark. All times are epoch milliseconds.
//
// The package imports only the standard library; the runtime that executes windows lives elsewhere.
package window

import (
	"fmt"
	"math"
	"strconv"
)

// Window is the half-open event-time interval [Start, End) in epoch milliseconds.
type Window struct {
	Start int64
	End   int64
}

// MaxTimestamp is the largest timestamp inside the window, End-1. A window's results carry it.
func (w Window) MaxTimestamp() int64 { return w.End - 1 }

// Contains reports whether ts lies in [Start, End).
func (w Window) Contains(ts int64) bool { return ts >= w.Start && ts < w.End }

// Intersects reports whether the two windows overlap or touch, the session merge rule.
func (w Window) Intersects(o Window) bool { return w.Start <= o.End && o.Start <= w.End }

// Cover returns the smallest window holding both.
func (w Window) Cover(o Window) Window {
	return Window{Start: min(w.Start, o.Start), End: max(w.End, o.End)}
}

// String formats the window as [start, end).
func (w Window) String() string {
	return "[" + strconv.FormatInt(w.Start, 10) + ", " + strconv.FormatInt(w.End, 10) + ")"
}

// Timing says why a pane fired.
type Timing uint8

const (
	// Early is a speculative pane fired before the watermark reached the window's end.
	Early Timing = iota
	// OnTime is the pane fired when the watermark reached the window's maximum timestamp.
	OnTime
	// Late is a pane fired for elements that arrived after the on-time pane, within allowed lateness.
	Late
)

// String returns EARLY, ON_TIME or LATE, the names Beam and Flink use.
func (t Timing) String() string {
	switch t {
	case Early:
		return "EARLY"
	case OnTime:
		return "ON_TIME"
	case Late:
		return "LATE"
	}
	return "Timing(" + strconv.Itoa(int(t)) + ")"
}

// MarshalText encodes the timing by name.
func (t Timing) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Pane describes one firing of a window: its timing and its 0-based index within the window.
type Pane struct {
	Timing Timing
	Index  int
}

// MaxWatermark is the watermark of a finished input: every window fires when it arrives.
const MaxWatermark int64 = math.MaxInt64

// MinWatermark is the watermark before any event has been seen.
const MinWatermark int64 = math.MinInt64

// ErrInvalid is wrapped by every validation error of this package.
var ErrInvalid = fmt.Errorf("invalid window")
