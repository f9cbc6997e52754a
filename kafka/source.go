package kafka

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/watermark"
)

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Message is a Kafka record as a source sees it: key, value, headers and coordinates. Its slices
// are owned by the message.
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	// Timestamp is the record's timestamp (epoch ms).
	Timestamp int64
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Header returns the value of the first header named key, and whether there was one.
func (m *Message) Header(key string) ([]byte, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// WatermarkHeader marks a record that carries a watermark instead of data: its value is the
// watermark in epoch ms as a decimal number, or "max" for the end of the stream. Upstream
// writers (ProduceOnly, repartitioning tasks) send one to every partition; a source task
// advances its watermark to it and does not decode it.
const WatermarkHeader = "sluice-watermark"

// Source reads one Kafka topic. Use it with sluice.FromSource and run the pipeline with Run.
type Source[T any] struct {
	topic  string
	decode func(m *Message) (T, error)
	keyed  bool
}

// Topic reads the values of topic's records with serde.
func Topic[T any](topic string, serde Serde[T]) *Source[T] {
	return &Source[T]{topic: topic, decode: func(m *Message) (T, error) { return serde.Decode(m.Value) }}
}

// Records reads topic's records with decode, which sees the key, headers, partition, offset and
// timestamp. Messages is Records with the identity.
func Records[T any](topic string, decode func(m *Message) (T, error)) *Source[T] {
	return &Source[T]{topic: topic, decode: decode}
}

// Messages reads topic's records as they are.
func Messages(topic string) *Source[Message] {
	return Records(topic, func(m *Message) (Message, error) { return *m, nil })
}

// PartitionedByKey declares that the topic's records are partitioned by the key of the first KeyBy
// after the source (through per-record operators such as Map and Filter, which must not change
// that key): its producer keyed each record with that key's bytes and Kafka's murmur2 partitioner
// (kafka.NewProducer, ProduceOnly and Java producers do). That KeyBy then reads the stream where it
// is; without the declaration, and for every other KeyBy, Run writes the stream through a
// repartition topic. Kafka Streams assumes the same of a topic read with groupByKey.
func (s *Source[T]) PartitionedByKey() *Source[T] {
	s.keyed = true
	return s
}

func (s *Source[T]) partitionedByKey() bool { return s.keyed }

// TopicName is the topic the source reads.
func (s *Source[T]) TopicName() string { return s.topic }

// Open refuses to run outside Run: a Kafka source needs the group and transactions Run manages.
func (s *Source[T]) Open(context.Context) ([]sluice.SplitReader[T], error) {
	return nil, fmt.Errorf("kafka source %q runs only under kafka.Run (it needs a consumer group and transactions)", s.topic)
}

// Driven marks the source as fed by its runtime.
func (s *Source[T]) Driven() {}

// feeder pushes one partition's records into a task's pipeline instance: it decodes, assigns
// timestamps and generates the partition's watermark.
type feeder interface {
	// push processes records and returns the offset after the last one.
	push(recs []*kgo.Record, reject func(r *kgo.Record, reason string)) int64
	// position is the feeder's state to checkpoint: the largest event time seen and the last
	// watermark emitted.
	position() (maxTS, wm int64)
	// restore sets the state position returned.
	restore(maxTS, wm int64)
	// upstream is the state of a repartition topic's feeder: each upstream task's watermark
	// (nil for the source topic); restoreUpstream sets it, before restore.
	upstream() []int64
	restoreUpstream(wms []int64)
}

// bind attaches the source to a task's head outlet.
func (s *Source[T]) bind(factory any, head any) (feeder, error) {
	et, ok := factory.(interface {
		EventTime() (func(T) int64, watermark.Strategy)
	})
	if !ok {
		return nil, fmt.Errorf("kafka source %q: the pipeline's source node does not expose its event time", s.topic)
	}
	ts, wm := et.EventTime()
	out, ok := head.(flow.Outlet[T])
	if !ok {
		return nil, fmt.Errorf("kafka source %q: unexpected head outlet %T", s.topic, head)
	}
	return &typedFeeder[T]{src: s, out: out, ts: ts, gen: wm.NewGenerator(), maxTS: flow.MinTime, wm: flow.MinTime}, nil
}

type typedFeeder[T any] struct {
	src   *Source[T]
	out   flow.Outlet[T]
	ts    func(T) int64
	gen   watermark.Generator
	maxTS int64
	wm    int64
	msg   Message
}

func (f *typedFeeder[T]) push(recs []*kgo.Record, reject func(*kgo.Record, string)) int64 {
	next := int64(-1)
	for _, r := range recs {
		next = r.Offset + 1
		if r.Attrs.IsControl() { // a transaction marker: only its offset counts
			continue
		}
		if marker, ok := markerOf(r); ok {
			f.emitWM(marker)
			continue
		}
		f.msg = Message{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(),
			Key: r.Key, Value: r.Value, Headers: headersOf(r)}
		v, err := f.decode(&f.msg)
		if err != nil {
			reject(r, err.Error())
			continue
		}
		t := f.msg.Timestamp
		if f.ts != nil {
			t = f.ts(v)
		}
		if t > f.maxTS {
			f.maxTS = t
		}
		f.gen.OnEvent(t)
		f.out.Collect(t, v)
	}
	f.emitWM(f.gen.Current())
	return next
}

// decode runs the user's decoder, turning a panic into an error so the record is dead-lettered.
func (f *typedFeeder[T]) decode(m *Message) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoder panicked: %v", p)
		}
	}()
	return f.src.decode(m)
}

func (f *typedFeeder[T]) emitWM(wm int64) {
	if wm > f.wm {
		f.wm = wm
		f.out.Watermark(wm)
	}
}

func (f *typedFeeder[T]) position() (int64, int64) { return f.maxTS, f.wm }

func (f *typedFeeder[T]) upstream() []int64       { return nil }
func (f *typedFeeder[T]) restoreUpstream([]int64) {}

func (f *typedFeeder[T]) restore(maxTS, wm int64) {
	f.maxTS, f.wm = maxTS, wm
	if maxTS != flow.MinTime {
		f.gen.OnEvent(maxTS)
	}
	if wm != flow.MinTime {
		f.out.Watermark(wm)
	}
}

func headersOf(r *kgo.Record) []Header {
	if len(r.Headers) == 0 {
		return nil
	}
	hs := make([]Header, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = Header{Key: h.Key, Value: h.Value}
	}
	return hs
}

// markerOf returns the watermark a marker record carries.
func markerOf(r *kgo.Record) (int64, bool) {
	for _, h := range r.Headers {
		if h.Key != WatermarkHeader {
			continue
		}
		if string(h.Value) == "max" {
			return flow.MaxTime, true
		}
		if wm, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
			return wm, true
		}
	}
	return 0, false
}
