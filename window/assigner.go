package window

import (
	"fmt"
	"time"
)

// Kind is the family of an assigner.
type Kind uint8

const (
	// KindTumbling assigns each element to exactly one fixed-size window.
	KindTumbling Kind = iota + 1
	// KindSliding assigns each element to size/slide overlapping windows.
	KindSliding
	// KindSession assigns each element to [ts, ts+gap) and merges windows that overlap or touch.
	KindSession
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindTumbling:
		return "tumbling"
	case KindSliding:
		return "sliding"
	case KindSession:
		return "session"
	}
	return "unknown"
}

// Assigner maps an element timestamp to windows. It is a small value; build it with Tumbling,
// Sliding or Session and check it with Validate (the pipeline does so when it is built).
type Assigner struct {
	kind   Kind
	size   int64
	slide  int64
	offset int64
	gap    int64
}

// Tumbling returns an assigner of fixed, non-overlapping windows of the given size. The optional
// offset shifts window starts from the epoch (Flink: TumblingEventTimeWindows.of(size, offset)).
// Windows align to epoch multiples of size plus offset, in UTC.
func Tumbling(size time.Duration, offset ...time.Duration) Assigner {
	return Assigner{kind: KindTumbling, size: size.Milliseconds(), slide: size.Milliseconds(), offset: firstMillis(offset)}
}

// Sliding returns an assigner of windows of the given size starting every slide (Flink:
// SlidingEventTimeWindows.of(size, slide, offset)). Each element belongs to ceil(size/slide)
// windows, but the runtime keeps one pre-aggregated slice per element, not one per window.
func Sliding(size, slide time.Duration, offset ...time.Duration) Assigner {
	return Assigner{kind: KindSliding, size: size.Milliseconds(), slide: slide.Milliseconds(), offset: firstMillis(offset)}
}

// Session returns an assigner of session windows: each element opens [ts, ts+gap) and windows that
// overlap or touch merge (Flink: EventTimeSessionWindows.withGap).
func Session(gap time.Duration) Assigner {
	return Assigner{kind: KindSession, gap: gap.Milliseconds()}
}

// TumblingMillis, SlidingMillis and SessionMillis are the millisecond forms, for fixtures and
// configuration files.
func TumblingMillis(size, offset int64) Assigner {
	return Assigner{kind: KindTumbling, size: size, slide: size, offset: offset}
}

// SlidingMillis is Sliding in milliseconds.
func SlidingMillis(size, slide, offset int64) Assigner {
	return Assigner{kind: KindSliding, size: size, slide: slide, offset: offset}
}

// SessionMillis is Session in milliseconds.
func SessionMillis(gap int64) Assigner { return Assigner{kind: KindSession, gap: gap} }

func firstMillis(d []time.Duration) int64 {
	if len(d) == 0 {
		return 0
	}
	return d[0].Milliseconds()
}

// Kind returns the assigner's family.
func (a Assigner) Kind() Kind { return a.kind }

// Size is the window length in ms (0 for sessions).
func (a Assigner) Size() int64 { return a.size }

// Slide is the distance between window starts in ms (equal to Size for tumbling windows).
func (a Assigner) Slide() int64 { return a.slide }

// Offset is the shift of window starts from the epoch in ms.
func (a Assigner) Offset() int64 { return a.offset }

// Gap is the session gap in ms.
func (a Assigner) Gap() int64 { return a.gap }

// IsMerging reports whether windows of this assigner merge (sessions).
func (a Assigner) IsMerging() bool { return a.kind == KindSession }

// Validate returns an error naming the wrong parameter: size ≤ 0, slide ≤ 0, slide > size,
// |offset| ≥ slide or size, gap ≤ 0, or an assigner that was never set.
func (a Assigner) Validate() error {
	switch a.kind {
	case KindTumbling:
		if a.size <= 0 {
			return fmt.Errorf("%w: tumbling size must be > 0, got %dms", ErrInvalid, a.size)
		}
		if abs(a.offset) >= a.size {
			return fmt.Errorf("%w: tumbling |offset| must be < size, got offset %dms, size %dms", ErrInvalid, a.offset, a.size)
		}
	case KindSliding:
		if a.size <= 0 {
			return fmt.Errorf("%w: sliding size must be > 0, got %dms", ErrInvalid, a.size)
		}
		if a.slide <= 0 {
			return fmt.Errorf("%w: sliding slide must be > 0, got %dms", ErrInvalid, a.slide)
		}
		if a.slide > a.size {
			return fmt.Errorf("%w: sliding slide (%dms) must not exceed size (%dms)", ErrInvalid, a.slide, a.size)
		}
		if abs(a.offset) >= a.slide {
			return fmt.Errorf("%w: sliding |offset| must be < slide, got offset %dms, slide %dms", ErrInvalid, a.offset, a.slide)
		}
	case KindSession:
		if a.gap <= 0 {
			return fmt.Errorf("%w: session gap must be > 0, got %dms", ErrInvalid, a.gap)
		}
	default:
		return fmt.Errorf("%w: no window assigner set", ErrInvalid)
	}
	return nil
}

// StartOf returns the start of the latest window (tumbling or sliding) that contains ts:
// ts - mod(ts - offset, slide), with a floored modulo so that negative times work.
func (a Assigner) StartOf(ts int64) int64 { return ts - floorMod(ts-a.offset, a.slide) }

// Assign appends the windows that contain ts to dst and returns it, latest start first.
// Sessions get the single proto-window [ts, ts+gap).
func (a Assigner) Assign(dst []Window, ts int64) []Window {
	switch a.kind {
	case KindSession:
		return append(dst, Window{Start: ts, End: ts + a.gap})
	default:
		for start := a.StartOf(ts); start > ts-a.size; start -= a.slide {
			dst = append(dst, Window{Start: start, End: start + a.size})
		}
		return dst
	}
}

// Slice returns the pane-sharing slice [start, end) that contains ts. Slices have length
// gcd(size, slide); every sliding window is a union of whole slices, so an element updates one
// slice and windows are merged from slices when they fire.
func (a Assigner) Slice(ts int64) Window {
	l := a.SliceLen()
	s := ts - floorMod(ts-a.offset, l)
	return Window{Start: s, End: s + l}
}

// SliceLen is gcd(size, slide), the length of a shared slice.
func (a Assigner) SliceLen() int64 { return gcd(a.size, a.slide) }

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
