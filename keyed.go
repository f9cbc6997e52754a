package sluice

import (
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
)

// KeyedStream is a stream partitioned by key: every record of one key goes to the same subtask,
// which owns that key's state and timers. Keys hash into key groups (the maximum parallelism,
// 128), and key groups map to subtasks.
type KeyedStream[K comparable, T any] struct {
	p *Pipeline
	n *plan.Node
}

// Keyed is a record of a keyed stream with its key.
type Keyed[K comparable, T any] = flow.Keyed[K, T]

// KeyBy partitions the stream by key (Flink: keyBy; Kafka Streams: groupBy). In the embedded
// engine this is an in-process exchange between stages; under kafka.Run it writes through a
// repartition topic unless its input is already partitioned by the key (see package kafka).
func KeyBy[T any, K comparable](s Stream[T], key func(T) K) KeyedStream[K, T] {
	n := s.p.g.Add(&plan.Node{Kind: plan.KindExchange, Inputs: []plan.Edge{{From: s.n, Port: s.port}},
		MakeOutlet: outletOf[flow.Keyed[K, T]]})
	n.Name = "keyby-" + itoa(n.ID)
	n.Exchange = func(cfg plan.ExchangeConfig) plan.Exchange {
		hash := flow.KeyHasher[K]()
		r := cfg.Receivers
		route := func(v T) (flow.Keyed[K, T], int) {
			k := key(v)
			g := flow.KeyGroup(hash(k), flow.DefaultMaxParallelism)
			return flow.Keyed[K, T]{Key: k, Value: v}, flow.SubtaskOf(g, flow.DefaultMaxParallelism, r)
		}
		return flow.NewExchange(n.Name, route, cfg)
	}
	n.Ext = &repartition[K, T]{key: key}
	return KeyedStream[K, T]{p: s.p, n: n}
}

// Name names the key-by exchange.
func (k KeyedStream[K, T]) Name(name string) KeyedStream[K, T] {
	k.n.Name = name
	return k
}

// Parallelism sets the number of subtasks of the keyed stage. Default: the pipeline's parallelism.
func (k KeyedStream[K, T]) Parallelism(n int) KeyedStream[K, T] {
	k.n.Parallelism = n
	return k
}
