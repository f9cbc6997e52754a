package kafka

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Sink writes a stream to a Kafka topic, inside the epoch's transaction when Run is exactly-once.
// Use it with sluice.SinkTo and run the pipeline with Run.
type Sink[T any] struct {
	topic   string
	serde   Serde[T]
	key     func(T) []byte
	headers func(T) []Header
	out     emitter
}

// emitter receives a sink's encoded records: the runner's current epoch.
type emitter interface {
	emit(r *kgo.Record)
}

// SinkOption configures ToTopic.
type SinkOption[T any] func(*Sink[T])

// Key sets each record's key (default: none, so the producer spreads records over partitions).
// Records with the same key land in the same partition (murmur2, as Kafka's Java producer).
func Key[T any](key func(T) []byte) SinkOption[T] { return func(s *Sink[T]) { s.key = key } }

// WithHeaders sets each record's headers.
func WithHeaders[T any](h func(T) []Header) SinkOption[T] { return func(s *Sink[T]) { s.headers = h } }

// ToTopic writes records encoded with serde to topic, which Run creates when it is missing.
func ToTopic[T any](topic string, serde Serde[T], opts ...SinkOption[T]) *Sink[T] {
	s := &Sink[T]{topic: topic, serde: serde}
	for _, o := range opts {
		o(s)
	}
	return s
}

// TopicName is the topic the sink writes.
func (s *Sink[T]) TopicName() string { return s.topic }

// Write encodes v and adds it to the current epoch.
func (s *Sink[T]) Write(v T) error {
	if s.out == nil {
		return fmt.Errorf("kafka sink %q runs only under kafka.Run", s.topic)
	}
	val, err := s.serde.Encode(nil, v)
	if err != nil {
		return fmt.Errorf("kafka sink %q: encoding a record: %w", s.topic, err)
	}
	r := &kgo.Record{Topic: s.topic, Value: val}
	if s.key != nil {
		r.Key = s.key(v)
	}
	if s.headers != nil {
		for _, h := range s.headers(v) {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
	}
	s.out.emit(r)
	return nil
}

// Close does nothing: records are committed with their epoch.
func (s *Sink[T]) Close() error { return nil }

func (s *Sink[T]) bindEmitter(e emitter) { s.out = e }
