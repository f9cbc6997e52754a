package kafka

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer writes records to a topic, keyed with Kafka's murmur2 partitioner (the Java
// producer's), and can end every partition with an end-of-stream watermark marker.
type Producer[T any] struct {
	cfg   Config
	topic string
	serde Serde[T]
	key   func(T) []byte
	cl    *kgo.Client
	parts int32

	mu  sync.Mutex
	err error
}

// NewProducer connects and creates topic when it is missing (Config.Partitions partitions,
// default 12).
func NewProducer[T any](ctx context.Context, cfg Config, topic string, serde Serde[T], key func(T) []byte) (*Producer[T], error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 12
	}
	a, err := newAdmin(&cfg)
	if err != nil {
		return nil, err
	}
	defer a.close()
	if err := a.reach(ctx); err != nil {
		return nil, err
	}
	if err := a.ensure(ctx, topic, cfg.Partitions, nil); err != nil {
		return nil, err
	}
	parts, err := a.partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	opts, err := cfg.clientOpts()
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(partitioner{}), kgo.MetadataMinAge(250*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return &Producer[T]{cfg: cfg, topic: topic, serde: serde, key: key, cl: cl, parts: parts}, nil
}

// Send buffers v; an error of an earlier record is returned.
func (p *Producer[T]) Send(ctx context.Context, v T) error {
	val, err := p.serde.Encode(nil, v)
	if err != nil {
		return fmt.Errorf("kafka: encoding a record for topic %q: %w", p.topic, err)
	}
	r := &kgo.Record{Value: val}
	if p.key != nil {
		r.Key = p.key(v)
	}
	p.cl.Produce(ctx, r, p.promise)
	return p.failure()
}

// EndOfStream sends a watermark marker "max" to every partition: a Run reading the topic fires
// every window of it, as a bounded embedded input does at its end.
func (p *Producer[T]) EndOfStream(ctx context.Context) error {
	for part := int32(0); part < p.parts; part++ {
		p.cl.Produce(ctx, &kgo.Record{Partition: part, Headers: []kgo.RecordHeader{{Key: WatermarkHeader, Value: []byte("max")}}}, p.promise)
	}
	return p.failure()
}

// Close flushes and disconnects, returning the first error of any record.
func (p *Producer[T]) Close(ctx context.Context) error {
	err := p.cl.Flush(ctx)
	p.cl.Close()
	if ferr := p.failure(); ferr != nil {
		return ferr
	}
	return err
}

func (p *Producer[T]) promise(_ *kgo.Record, err error) {
	if err != nil {
		p.mu.Lock()
		if p.err == nil {
			p.err = fmt.Errorf("kafka: producing to topic %q: %w", p.topic, explain(err))
		}
		p.mu.Unlock()
	}
}

func (p *Producer[T]) failure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// partitioner sends watermark markers, and every record of the manual topics (the changelog,
// whose partitions mirror the input's), to the partition they name; keyed records to murmur2 of
// the key (as Kafka's Java producer does); and others round-robin.
type partitioner struct{ manual string }

func (p partitioner) ForTopic(t string) kgo.TopicPartitioner {
	return &topicPartitioner{manual: t == p.manual && t != "", keyed: kgo.StickyKeyPartitioner(nil).ForTopic(t)}
}

type topicPartitioner struct {
	manual bool
	keyed  kgo.TopicPartitioner
	next   int
}

func (p *topicPartitioner) RequiresConsistency(*kgo.Record) bool { return true }

func (p *topicPartitioner) Partition(r *kgo.Record, n int) int {
	switch {
	case p.manual || len(r.Headers) > 0 && r.Headers[0].Key == WatermarkHeader:
		return int(r.Partition)
	case r.Key != nil:
		return p.keyed.Partition(r, n)
	}
	p.next++
	return p.next % n
}
