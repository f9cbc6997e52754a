package flow

import (
	"encoding/json"

	"github.com/sluicehq/sluice/window"
)

// Windowed is one firing of a window for a key: the window, the pane and the value.
type Windowed[K comparable, V any] struct {
	Key    K             `json:"key"`
	Window window.Window `json:"-"`
	Pane   window.Pane   `json:"-"`
	Value  V             `json:"value"`
}

// Timestamp is the result's event timestamp, the window's max timestamp.
func (w Windowed[K, V]) Timestamp() int64 { return w.Window.MaxTimestamp() }

// LateElement is an element that arrived too late for every window it belongs to. It is routed to
// the late side output with the reason, never dropped silently.
type LateElement[K comparable, T any] struct {
	Key       K             `json:"key"`
	Value     T             `json:"value"`
	Timestamp int64         `json:"ts"`
	Watermark int64         `json:"watermark"`
	Window    window.Window `json:"-"`
	Reason    string        `json:"reason"`
}

// Accumulator is the part of an aggregate function the window operator needs.
type Accumulator[In, Acc any] interface {
	CreateAccumulator() Acc
	Add(v In, acc Acc) Acc
	Merge(a, b Acc) Acc
}

// MarshalJSON encodes the result as {"key":…,"window":[start,end],"ts":end-1,"pane":"ON_TIME",
// "index":0,"value":…}, the format of sluice fixture and the demo.
func (w Windowed[K, V]) MarshalJSON() ([]byte, error) {
	return json.Marshal(windowedJSON[K, V]{Key: w.Key, Window: [2]int64{w.Window.Start, w.Window.End},
		TS: w.Window.MaxTimestamp(), Pane: w.Pane.Timing.String(), Index: w.Pane.Index, Value: w.Value})
}

type windowedJSON[K comparable, V any] struct {
	Key    K        `json:"key"`
	Window [2]int64 `json:"window"`
	TS     int64    `json:"ts"`
	Pane   string   `json:"pane"`
	Index  int      `json:"index"`
	Value  V        `json:"value"`
}
