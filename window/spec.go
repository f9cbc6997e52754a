package window

import (
	"fmt"
	"time"
)

// Spec is a complete window definition: how elements are assigned, when panes fire and how late
// data is treated. The zero value of every field but Assigner is the Flink default: event-time
// trigger, no allowed lateness, accumulating panes.
type Spec struct {
	// Assigner assigns elements to windows. Required.
	Assigner Assigner
	// AllowedLateness keeps a window's state this long (ms) after its end so that late elements
	// re-fire it as LATE panes. Default 0 (Flink: allowedLateness).
	AllowedLateness int64
	// EarlyAfter fires EARLY panes this long (ms) in processing time after the first element of a
	// pane. Default 0: no early firings (Beam: AfterProcessingTime.pastFirstElementInPane).
	EarlyAfter int64
	// LateEveryCount fires a LATE pane after this many late elements. Default 1.
	LateEveryCount int
	// Count replaces the event-time trigger by a count trigger firing when a pane holds Count
	// elements. Default 0: event-time trigger (Flink: CountTrigger.of).
	Count int
	// Discarding makes each pane hold only the elements since the previous pane. Default false:
	// accumulating panes.
	Discarding bool
}

// Option adjusts a Spec.
type Option func(*Spec)

// AllowedLateness keeps windows open for late elements for d after their end. Default 0.
func AllowedLateness(d time.Duration) Option {
	return func(s *Spec) { s.AllowedLateness = d.Milliseconds() }
}

// EarlyFiringAfter fires EARLY panes d of processing time after the first element of each pane,
// repeatedly until the on-time pane. Default: no early panes.
func EarlyFiringAfter(d time.Duration) Option {
	return func(s *Spec) { s.EarlyAfter = d.Milliseconds() }
}

// LateEveryCount fires a LATE pane every n late elements. Default 1.
func LateEveryCount(n int) Option { return func(s *Spec) { s.LateEveryCount = n } }

// CountTrigger replaces the event-time trigger: a pane fires when the window holds n elements.
func CountTrigger(n int) Option { return func(s *Spec) { s.Count = n } }

// Discarding makes panes discard their contents once fired. Default: accumulating.
func Discarding() Option { return func(s *Spec) { s.Discarding = true } }

// Accumulating makes each pane include all earlier elements of its window. This is the default.
func Accumulating() Option { return func(s *Spec) { s.Discarding = false } }

// NewSpec builds a Spec from an assigner and options, filling defaults.
func NewSpec(a Assigner, opts ...Option) Spec {
	s := Spec{Assigner: a, LateEveryCount: 1}
	for _, o := range opts {
		o(&s)
	}
	return s
}

// Validate checks the assigner and every setting and names the wrong one.
func (s Spec) Validate() error {
	if err := s.Assigner.Validate(); err != nil {
		return err
	}
	switch {
	case s.AllowedLateness < 0:
		return fmt.Errorf("%w: allowed lateness must be >= 0, got %dms", ErrInvalid, s.AllowedLateness)
	case s.EarlyAfter < 0:
		return fmt.Errorf("%w: early firing delay must be >= 0, got %dms", ErrInvalid, s.EarlyAfter)
	case s.LateEveryCount < 1:
		return fmt.Errorf("%w: late firing count must be >= 1, got %d", ErrInvalid, s.LateEveryCount)
	case s.Count < 0:
		return fmt.Errorf("%w: count trigger must be >= 0, got %d", ErrInvalid, s.Count)
	}
	return nil
}

// IsLate reports whether a window is past its allowed lateness at watermark wm: its state is gone
// and elements for it go to the late side output.
func (s Spec) IsLate(w Window, wm int64) bool {
	return w.MaxTimestamp()+s.AllowedLateness <= wm && wm != MinWatermark
}

// CleanupTime is the watermark at which a window's state is purged: End-1+AllowedLateness,
// saturating at MaxWatermark.
func (s Spec) CleanupTime(w Window) int64 {
	t := w.MaxTimestamp() + s.AllowedLateness
	if t < w.MaxTimestamp() {
		return MaxWatermark
	}
	return t
}
