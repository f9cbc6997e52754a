package plan

import "github.com/sluicehq/sluice/internal/flow"

// Repartition is the Ext of a KeyBy exchange node: the typed parts a runtime needs to split the
// graph at the KeyBy and carry its input stream through an external topic (Kafka mode, where a
// KeyBy on a new key writes through a repartition topic). The upstream side ends in a writer
// operator; the downstream side starts at a reader feeding a copy of the KeyBy.
type Repartition interface {
	// BuildWriter returns the Build of a sink node that reads the KeyBy's input stream and hands
	// each record, encoded, to w.
	BuildWriter(w RepartitionWriter) func(t *flow.Task, outs []any) any
	// BindReader wraps a source node's head outlet (a flow.Outlet of the KeyBy's input type, as
	// any) in a reader of encoded records.
	BindReader(head any) (RepartitionReader, error)
	// MakeOutlet is the MakeOutlet of a source node of the KeyBy's input type.
	MakeOutlet(port int, consumers []any) any
	// CodecErr reports a key or element type that cannot be encoded.
	CodecErr() error
}

// RepartitionWriter receives the records and control of a repartition writer operator.
type RepartitionWriter interface {
	// Write receives one record: its key's encoding, its value's encoding and its event time.
	// The slices are reused after Write returns.
	Write(key, value []byte, ts int64)
	// Watermark receives the writer's input watermark.
	Watermark(wm int64)
}

// RepartitionReader feeds encoded records into a stage.
type RepartitionReader interface {
	// Push decodes a value encoded by the writer's Write and collects it at ts.
	Push(ts int64, value []byte) error
	// Watermark forwards wm.
	Watermark(wm int64)
}
