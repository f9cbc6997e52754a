// Package plan is the logical dataflow graph the public DSL builds and the runtime executes. Its
// nodes are type-erased: each carries typed factory closures, made by the DSL where the types are
// known, that build a node's operator for one subtask. The runtime wires subtasks by calling them;
// types are asserted once at build time, never per record.
package plan

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/internal/flow"
)

// Kind is a node's role.
type Kind uint8

// The node kinds.
const (
	// KindSource reads splits and starts a stage.
	KindSource Kind = iota + 1
	// KindOp is an operator chained into its input's task.
	KindOp
	// KindExchange re-partitions records between stages (KeyBy, the gather before a sink, the
	// dead-letter stream): writers in upstream tasks, a reader per downstream subtask.
	KindExchange
	// KindSink consumes records and ends a branch.
	KindSink
)

// String names the kind.
func (k Kind) String() string {
	return [...]string{"?", "source", "operator", "exchange", "sink"}[k]
}

// Edge is an input of a node: the upstream node and which of its output ports.
type Edge struct {
	From *Node
	Port int
}

// Node is one logical operator.
type Node struct {
	ID          int
	Kind        Kind
	Name        string
	UID         string
	Parallelism int
	// Stateful operators must have a UID: checkpoints are keyed by it.
	Stateful bool
	Inputs   []Edge
	// Ports is the number of output ports (main output and side outputs).
	Ports int
	// PortNames names side-output ports for errors and explain (index 0 is the main output).
	PortNames []string
	// Optional marks a node that may have no consumers without being dangling (side outputs).
	Optional bool

	// MakeOutlet combines the consumers' input outlets (each flow.Outlet[T] of this node's output
	// type on that port, as any) into one outlet for the port.
	MakeOutlet func(port int, consumers []any) any
	// Build creates the operator for one subtask, given an outlet per port, and returns its input
	// outlet (flow.Outlet[In] as any). Nil for sources and exchanges.
	Build func(t *flow.Task, outs []any) any
	// Source opens a source node's splits.
	Source SourceFactory
	// Exchange creates an exchange node's runtime part.
	Exchange func(cfg ExchangeConfig) Exchange
	// DeadLetters marks the pipeline's dead-letter exchange.
	DeadLetters bool
	// Driven marks a source that the deterministic test driver feeds.
	Driven bool
	// Ext holds DSL-specific data about the node (for example a process node's side-output tags).
	Ext any
}

// Label names the node for messages: its name, or kind and id.
func (n *Node) Label() string {
	if n.Name != "" {
		return fmt.Sprintf("%q", n.Name)
	}
	return fmt.Sprintf("%s #%d", n.Kind, n.ID)
}

// SourceFactory opens a source's splits.
type SourceFactory interface {
	// OpenSplits returns one runner per split.
	OpenSplits(ctx context.Context) ([]SplitRunner, error)
}

// Replayable is implemented by split runners whose reader can resume from a position.
type Replayable interface {
	Replayable() bool
	Seek(pos []byte) error
}

// SplitRunner reads one split in its own task.
type SplitRunner interface {
	// Run reads the split into out (a flow.Outlet of the source type, as any) until it ends or ctx
	// is done.
	Run(ctx context.Context, t *flow.Task, out any) error
}

// ExchangeConfig sizes an exchange.
type ExchangeConfig = flow.ExchangeSpec

// Exchange is the runtime part of an exchange node.
type Exchange = flow.Exchanger

// Graph is a pipeline's plan.
type Graph struct {
	Name  string
	Nodes []*Node
	// Parallelism is the default parallelism of keyed stages (0: GOMAXPROCS).
	Parallelism int
}

// Add appends a node and gives it an id.
func (g *Graph) Add(n *Node) *Node {
	n.ID = len(g.Nodes)
	if n.Ports == 0 {
		n.Ports = 1
	}
	g.Nodes = append(g.Nodes, n)
	return n
}

// Consumers returns the nodes that read port p of n, in id order.
func (g *Graph) Consumers(n *Node, p int) []*Node {
	var out []*Node
	for _, c := range g.Nodes {
		for _, e := range c.Inputs {
			if e.From == n && e.Port == p {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// Validate checks the structural rules: stateful operators have unique UIDs, every node but a
// sink has a consumer, every non-source node has an input, and the graph has no cycle. Errors
// name the operator.
func (g *Graph) Validate() error {
	uids := map[string]*Node{}
	for _, n := range g.Nodes {
		if n.Stateful && n.UID == "" {
			return fmt.Errorf("operator %s is stateful and needs a UID (call .UID(\"…\")): checkpoints are keyed by it", n.Label())
		}
		if n.UID != "" {
			if o, dup := uids[n.UID]; dup {
				return fmt.Errorf("operators %s and %s share the UID %q", o.Label(), n.Label(), n.UID)
			}
			uids[n.UID] = n
		}
		if n.Kind != KindSource && len(n.Inputs) == 0 && !n.DeadLetters {
			return fmt.Errorf("operator %s has no input", n.Label())
		}
		if n.Kind != KindSink && !n.Optional && !g.hasConsumer(n) {
			return fmt.Errorf("the stream of operator %s is dangling: nothing consumes it (add a sink)", n.Label())
		}
	}
	return g.checkAcyclic()
}

func (g *Graph) hasConsumer(n *Node) bool {
	for p := 0; p < n.Ports; p++ {
		if len(g.Consumers(n, p)) > 0 {
			return true
		}
	}
	return false
}

func (g *Graph) checkAcyclic() error {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(g.Nodes))
	var visit func(n *Node) error
	visit = func(n *Node) error {
		switch color[n.ID] {
		case grey:
			return fmt.Errorf("the pipeline has a cycle through operator %s", n.Label())
		case black:
			return nil
		}
		color[n.ID] = grey
		for _, e := range n.Inputs {
			if err := visit(e.From); err != nil {
				return err
			}
		}
		color[n.ID] = black
		return nil
	}
	for _, n := range g.Nodes {
		if err := visit(n); err != nil {
			return err
		}
	}
	return nil
}
