package sluice

import (
	"fmt"
	"reflect"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
)

// OutputTag names a typed side output of a Process operator (Flink: OutputTag). User code emits
// to it with Emit; SideOutput returns the stream of what was emitted. The zero OutputTag is not
// valid: use NewOutputTag.
//
// Records emitted to a tag that the operator's stream has no SideOutput for are not delivered:
// the operator counts them and logs the tag once per subtask at debug level (as in Flink, where a
// side output nobody asks for is not kept).
type OutputTag[T any] struct {
	id string
}

// NewOutputTag returns the tag with the given id. Tags are identified by id: two tags with the
// same id refer to the same side output, and must have the same type.
func NewOutputTag[T any](id string) OutputTag[T] { return OutputTag[T]{id: id} }

// ID returns the tag's id.
func (t OutputTag[T]) ID() string { return t.id }

// SideEmitter is the context of an operator with side outputs: *KeyedContext implements it.
type SideEmitter interface {
	side(id string) (out *flow.SideOutlet, ts int64)
}

// Emit sends v to the tag's side output with the current timestamp (the element's, or the firing
// timer's). ctx is the context passed to ProcessElement or OnTimer. Emitting to a tag whose id is
// registered with another type panics (the record goes to the dead-letter stream).
func (t OutputTag[T]) Emit(ctx SideEmitter, v T) {
	s, ts := ctx.side(t.id)
	if s == nil {
		return // no consumer: counted by the operator
	}
	out, ok := s.Out.(flow.Outlet[T])
	if !ok {
		panic(fmt.Errorf("side output %q carries %s, not %s: two output tags share this id", t.id, s.Type, reflect.TypeFor[T]()))
	}
	out.Collect(ts, v)
}

// SideOutput returns the records that the Process operator producing s emitted to tag (Flink:
// getSideOutput). Calling it again for the same tag returns another stream of the same records.
// If s is not the main stream of a Process operator, or the tag is invalid or was used with
// another type, the pipeline records an error naming the operator.
func SideOutput[T, U any](s Stream[U], tag OutputTag[T]) Stream[T] {
	d := processDeclOf(s.n)
	typ := reflect.TypeFor[T]()
	var err error
	switch {
	case d == nil || s.port != 0:
		err = fmt.Errorf("side output %q: operator %s is not a keyed process function (sluice.Process): only its stream has side outputs", tag.id, s.n.Label())
	case tag.id == "":
		err = fmt.Errorf("operator %s: an output tag has an empty id (use sluice.NewOutputTag)", s.n.Label())
	}
	port := -1
	if err == nil {
		for _, st := range d.tags {
			if st.id != tag.id {
				continue
			}
			port = st.port
			if st.typ != typ {
				err = fmt.Errorf("operator %s: side output %q is used with types %s and %s", s.n.Label(), tag.id, st.typ, typ)
			}
		}
	}
	if err != nil {
		s.p.fail(err)
		n := s.p.g.Add(&plan.Node{Kind: plan.KindOp, Name: "invalid-side-output", Optional: true, MakeOutlet: outletOf[T]})
		return Stream[T]{p: s.p, n: n}
	}
	if port < 0 {
		port = s.n.Ports
		s.n.Ports++
		for len(s.n.PortNames) < port {
			s.n.PortNames = append(s.n.PortNames, "")
		}
		s.n.PortNames = append(s.n.PortNames, tag.id)
		d.tags = append(d.tags, sideTag{id: tag.id, typ: typ, port: port, makeOutlet: outletOf[T]})
	}
	n := s.p.g.Add(&plan.Node{Kind: plan.KindOp, Inputs: []plan.Edge{{From: s.n, Port: port}}, MakeOutlet: outletOf[T],
		Build: func(_ *flow.Task, outs []any) any {
			return flow.Outlet[T](&flow.Pass[T]{Ctl: flow.NewCtl(), Out: outs[0].(flow.Outlet[T])})
		}})
	n.Name = "side-" + tag.id + "-" + itoa(n.ID)
	return Stream[T]{p: s.p, n: n}
}

// processDecl is what SideOutput needs to know about a Process node (kept in plan.Node.Ext): its
// side-output tags, in port order (port i+1 carries tags[i]).
type processDecl struct {
	tags []sideTag
}

type sideTag struct {
	id         string
	typ        reflect.Type
	port       int
	makeOutlet func(port int, consumers []any) any
}

func registerProcess(n *plan.Node, d *processDecl) { n.Ext = d }

func processDeclOf(n *plan.Node) *processDecl {
	d, _ := n.Ext.(*processDecl)
	return d
}
