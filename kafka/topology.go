package kafka

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
)

// subtopology is the part of the pipeline that one input topic feeds, as in Kafka Streams: the
// graph is cut at every KeyBy that needs a repartition topic. Sub-topology 0 reads the source
// topic; sub-topology i > 0 reads the repartition topic its KeyBy writes through. Each runs as
// one task per partition of its input topic.
type subtopology struct {
	id    int
	topic string // the input topic
	graph *plan.Graph
	src   *plan.Node // the driven source node of graph
	// rep is the KeyBy's repartition (nil for sub-topology 0), and upstream the sub-topology that
	// writes the input topic.
	rep      plan.Repartition
	upstream int
	// outs are the repartition topics this sub-topology writes.
	outs []*repartOut
	// parts is the input topic's partition count, known once the topics exist.
	parts int32
}

// repartOut is a repartition topic a sub-topology writes, and its partition count.
type repartOut struct {
	topic string
	parts int32
}

// repartitionTopic names the repartition topic of the keyed stage uid (Kafka Streams:
// <application.id>-<name>-repartition).
func repartitionTopic(app, uid string) string { return app + "-" + uid + "-repartition" }

// split cuts g into sub-topologies at the KeyBys that need a repartition topic: every KeyBy but
// the first on a path from a source declared partitioned by key (through chained operators only).
func split(g *plan.Graph, src *plan.Node, declared bool, app string,
	newWriter writerFactory) ([]*subtopology, error) {
	sp := &splitter{g: g, owner: map[*plan.Node]int{}, app: app}
	sp.subs = []*subtopology{{id: 0, src: src}}
	sp.roots = []*plan.Node{src}
	for i := 0; i < len(sp.roots); i++ {
		if err := sp.claim(i, sp.roots[i], src, declared); err != nil {
			return nil, err
		}
	}
	for i, sub := range sp.subs {
		if err := sp.build(sub, sp.roots[i], newWriter); err != nil {
			return nil, err
		}
	}
	return sp.subs, nil
}

// writerFactory makes the Build of the writer node that replaces a KeyBy upstream of its cut.
type writerFactory func(out *repartOut, rep plan.Repartition) func(t *flow.Task, outs []any) any

type splitter struct {
	g     *plan.Graph
	app   string
	owner map[*plan.Node]int // node -> sub-topology
	subs  []*subtopology
	roots []*plan.Node // each sub-topology's first node (the source, or a repartitioned KeyBy)
	// cuts are the repartitioned KeyBys, each with its topic.
	cuts map[*plan.Node]*repartOut
}

// claim gives sub-topology i every node reachable from root that no repartitioned KeyBy
// separates from it; a repartitioned KeyBy met on the way starts a new sub-topology.
func (sp *splitter) claim(i int, root, src *plan.Node, declared bool) error {
	stack := []*plan.Node{root}
	sp.owner[root] = i
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for p := 0; p < n.Ports; p++ {
			for _, c := range sp.g.Consumers(n, p) {
				if rep, ok := c.Ext.(plan.Repartition); ok && c.Kind == plan.KindExchange && !inPlace(c, src, declared) {
					if err := sp.cut(i, c, rep); err != nil {
						return err
					}
					continue
				}
				if o, seen := sp.owner[c]; seen {
					if o != i {
						return fmt.Errorf("kafka.Run: operator %s reads streams on both sides of a repartition topic; it is not supported", c.Label())
					}
					continue
				}
				sp.owner[c] = i
				stack = append(stack, c)
			}
		}
	}
	return nil
}

// cut starts a sub-topology at the KeyBy k, which sub-topology i writes.
func (sp *splitter) cut(i int, k *plan.Node, rep plan.Repartition) error {
	if _, seen := sp.owner[k]; seen {
		return nil
	}
	if err := rep.CodecErr(); err != nil {
		return fmt.Errorf("kafka.Run: KeyBy %s needs a repartition topic: %w", k.Label(), err)
	}
	uid := keyedUID(sp.g, k)
	if uid == "" {
		return fmt.Errorf("kafka.Run: KeyBy %s needs a repartition topic, named after its keyed stage's UID: give the stage a UID", k.Label())
	}
	out := &repartOut{topic: repartitionTopic(sp.app, uid)}
	if sp.cuts == nil {
		sp.cuts = map[*plan.Node]*repartOut{}
	}
	sp.cuts[k] = out
	sp.subs[i].outs = append(sp.subs[i].outs, out)
	sp.owner[k] = len(sp.subs)
	sp.subs = append(sp.subs, &subtopology{id: len(sp.subs), topic: out.topic, rep: rep, upstream: i})
	sp.roots = append(sp.roots, k)
	return nil
}

// inPlace reports whether KeyBy k reads its input where it is: its input comes, through chained
// operators only, from the source declared partitioned by key.
func inPlace(k, src *plan.Node, declared bool) bool {
	if !declared {
		return false
	}
	from := k.Inputs[0].From
	for from.Kind == plan.KindOp && len(from.Inputs) == 1 {
		from = from.Inputs[0].From
	}
	return from == src
}

// keyedUID is the UID of the first stateful stage after KeyBy k.
func keyedUID(g *plan.Graph, k *plan.Node) string {
	seen := map[*plan.Node]bool{}
	stack := []*plan.Node{k}
	for len(stack) > 0 {
		n := stack[0]
		stack = stack[1:]
		if n != k && n.UID != "" {
			return n.UID
		}
		for p := 0; p < n.Ports; p++ {
			for _, c := range g.Consumers(n, p) {
				if !seen[c] {
					seen[c] = true
					stack = append(stack, c)
				}
			}
		}
	}
	return ""
}

// build copies sub-topology sub's nodes into its own graph: a driven source node before a
// repartitioned KeyBy, a writer sink in place of each KeyBy it cuts, and the dead-letter stream.
func (sp *splitter) build(sub *subtopology, root *plan.Node, newWriter writerFactory) error {
	g := &plan.Graph{Name: sp.g.Name, Parallelism: 1}
	copies := map[*plan.Node]*plan.Node{}
	if sub.id > 0 {
		sub.src = g.Add(&plan.Node{Kind: plan.KindSource, Driven: true, Name: "repartition-source-" + sub.topic,
			MakeOutlet: sub.rep.MakeOutlet})
	}
	dlq := sp.deadLetterNodes()
	for _, n := range sp.g.Nodes {
		o, owned := sp.owner[n]
		switch {
		case owned && o == sub.id && n == root && sub.id > 0:
			c := *n
			c.Inputs = []plan.Edge{{From: sub.src}}
			copies[n] = g.Add(&c)
		case owned && o == sub.id || dlq[n]:
			c := *n
			c.Inputs = remap(n.Inputs, copies)
			copies[n] = g.Add(&c)
		}
		if out, ok := sp.cuts[n]; ok && sp.owner[n.Inputs[0].From] == sub.id {
			w := &plan.Node{Kind: plan.KindSink, Name: "repartition-writer-" + out.topic, Inputs: remap(n.Inputs, copies)}
			w.Build = newWriter(out, n.Ext.(plan.Repartition))
			g.Add(w)
		}
	}
	if sub.id == 0 {
		sub.src = copies[sub.src]
	}
	sub.graph = g
	if err := g.Validate(); err != nil {
		return fmt.Errorf("kafka.Run: sub-topology %d: %w", sub.id, err)
	}
	return nil
}

// deadLetterNodes are the dead-letter stream and what reads it: every sub-topology has a copy.
func (sp *splitter) deadLetterNodes() map[*plan.Node]bool {
	out := map[*plan.Node]bool{}
	for _, n := range sp.g.Nodes {
		if n.DeadLetters {
			out[n] = true
			continue
		}
		for _, e := range n.Inputs {
			if out[e.From] {
				out[n] = true
			}
		}
	}
	return out
}

func remap(in []plan.Edge, copies map[*plan.Node]*plan.Node) []plan.Edge {
	out := make([]plan.Edge, len(in))
	for i, e := range in {
		out[i] = plan.Edge{From: copies[e.From], Port: e.Port}
	}
	return out
}
