package flow

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
)

type procClock struct{ now int64 }

func (c *procClock) Now() int64 { return c.now }

// procEvent is what a procSink saw, in order: a record or a watermark.
type procEvent[T any] struct {
	ts   int64
	v    T
	wm   bool // a watermark at ts
	done bool // Finish
}

type procSink[T any] struct{ got []procEvent[T] }

func (s *procSink[T]) Collect(ts int64, v T) { s.got = append(s.got, procEvent[T]{ts: ts, v: v}) }
func (s *procSink[T]) Watermark(wm int64)    { s.got = append(s.got, procEvent[T]{ts: wm, wm: true}) }
func (s *procSink[T]) Idle(bool)             {}
func (s *procSink[T]) ProcTime(int64)        {}
func (s *procSink[T]) Finish()               { s.got = append(s.got, procEvent[T]{done: true}) }

func (s *procSink[T]) records() []procEvent[T] {
	var out []procEvent[T]
	for _, e := range s.got {
		if !e.wm && !e.done {
			out = append(out, e)
		}
	}
	return out
}

type kv struct {
	K string
	V int64
}

// newProcOp returns an operator over a fake clock emitting into a procSink.
func newProcOp[In, Out any]() (*KeyedProcess[string, In, Out], *procSink[Out], *procClock) {
	t := NewTask("test", 0, 1)
	clk := &procClock{now: 1_000}
	t.Clock = clk
	out := &procSink[Out]{}
	return NewKeyedProcess[string, In, Out]("proc", t, out), out, clk
}

func el[T any](k string, v T) Keyed[string, T] { return Keyed[string, T]{Key: k, Value: v} }

func TestKeyedProcessRunningCount(t *testing.T) {
	op, out, _ := newProcOp[int64, kv]()
	count := NewValueState[int64](&op.State.StateScope, "count")
	op.State.Seal()
	op.Element = func(v int64) error {
		n, _ := count.Value()
		count.Update(n + v)
		op.Emit(op.Timestamp(), kv{op.Key(), n + v})
		return nil
	}
	for i, k := range []string{"a", "b", "a", "a", "c", "b"} {
		op.Collect(int64(i), el(k, int64(1)))
	}
	want := []kv{{"a", 1}, {"b", 1}, {"a", 2}, {"a", 3}, {"c", 1}, {"b", 2}}
	got := out.records()
	for i, e := range got {
		if e.v != want[i] || e.ts != int64(i) {
			t.Fatalf("record %d = %+v at %d, want %+v at %d", i, e.v, e.ts, want[i], i)
		}
	}
	if len(got) != len(want) || op.State.Keys() != 3 {
		t.Fatalf("got %d records and %d keys, want %d and 3", len(got), op.State.Keys(), len(want))
	}
}

func TestKeyedProcessEventTimersOrderAndDedup(t *testing.T) {
	op, out, _ := newProcOp[int64, string]()
	op.Element = func(at int64) error {
		op.RegisterEventTimer(at)
		op.RegisterEventTimer(at) // duplicate: fires once
		return nil
	}
	op.Timer = func(ts int64) error {
		if op.Domain() != EventTimeDomain || op.Timestamp() != ts || op.WM != 100 {
			t.Errorf("timer %d: domain %v, ts %d, watermark %d", ts, op.Domain(), op.Timestamp(), op.WM)
		}
		op.Emit(ts, fmt.Sprintf("%s@%d", op.Key(), ts))
		return nil
	}
	op.Collect(1, el("a", int64(30)))
	op.Collect(2, el("b", int64(10)))
	op.Collect(3, el("a", int64(20)))
	op.Collect(4, el("b", int64(30)))
	op.Collect(5, el("c", int64(500)))
	op.Collect(6, el("a", int64(30))) // same key and time as the first: deduplicated
	if n := op.EventTimers(); n != 5 {
		t.Fatalf("%d timers registered, want 5", n)
	}
	op.Watermark(100)
	var got []string
	for _, e := range out.got {
		if e.wm {
			got = append(got, fmt.Sprint("wm ", e.ts))
		} else {
			got = append(got, e.v)
		}
	}
	want := []string{"b@10", "a@20", "a@30", "b@30", "wm 100"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q (time order, ties in registration order, before the watermark)", got, want)
	}
	if op.EventTimers() != 1 || op.State.Keys() != 1 {
		t.Fatalf("%d timers and %d keys left, want c's timer and key", op.EventTimers(), op.State.Keys())
	}
}

func TestKeyedProcessPastTimerFiresAtNextWatermark(t *testing.T) {
	op, out, _ := newProcOp[int64, int64]()
	op.Element = func(at int64) error {
		op.RegisterEventTimer(at)
		return nil
	}
	var wms []int64
	op.Timer = func(ts int64) error {
		wms = append(wms, op.WM)
		op.Emit(ts, ts)
		return nil
	}
	op.Watermark(50)
	op.Collect(60, el("a", int64(40))) // already past
	if len(out.records()) != 0 {
		t.Fatal("a past timer fired before the next watermark")
	}
	op.Watermark(50) // not an advance: nothing happens
	op.Watermark(51)
	if r := out.records(); len(r) != 1 || r[0].v != 40 || wms[0] != 51 {
		t.Fatalf("got %+v (watermarks %v), want the timer at 40 fired by watermark 51", r, wms)
	}
}

func TestKeyedProcessTimerChainsInOneWatermark(t *testing.T) {
	op, out, _ := newProcOp[int64, int64]()
	op.Element = func(at int64) error {
		op.RegisterEventTimer(at)
		return nil
	}
	op.Timer = func(ts int64) error {
		op.Emit(ts, ts)
		if ts < 30 {
			op.RegisterEventTimer(ts + 10) // due within the same watermark: fires in this round
		}
		return nil
	}
	op.Collect(0, el("a", int64(10)))
	op.Watermark(MaxTime)
	var got []int64
	for _, e := range out.got {
		got = append(got, e.ts)
	}
	if want := []int64{10, 20, 30, MaxTime}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestKeyedProcessProcessingTimeTimers(t *testing.T) {
	op, out, clk := newProcOp[int64, string]()
	op.Element = func(delay int64) error {
		op.RegisterProcTimer(op.Now() + delay)
		return nil
	}
	op.Timer = func(ts int64) error {
		if op.Domain() != ProcessingTimeDomain {
			t.Errorf("timer %d in domain %v", ts, op.Domain())
		}
		op.Emit(ts, fmt.Sprintf("%s@%d", op.Key(), ts))
		return nil
	}
	op.Collect(5, el("a", int64(300))) // 1300
	op.Collect(6, el("b", int64(100))) // 1100
	op.Collect(7, el("a", int64(300))) // duplicate
	if d := op.T.TakeProcDeadline(); d != 1_100 {
		t.Fatalf("requested processing time %d, want 1100", d)
	}
	clk.now = 1_150
	op.ProcTime(clk.now)
	if d := op.T.TakeProcDeadline(); d != 1_300 {
		t.Fatalf("after firing, requested %d, want the next timer 1300", d)
	}
	op.Watermark(MaxTime) // event time does not fire processing-time timers
	clk.now = 2_000
	op.ProcTime(clk.now)
	var got []string
	for _, e := range out.records() {
		got = append(got, e.v)
	}
	if want := []string{"b@1100", "a@1300"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if d := op.T.ProcDeadline(); d != MaxTime {
		t.Fatalf("no timer left, yet %d is requested", d)
	}
	if op.State.Keys() != 0 {
		t.Fatalf("%d keys left after every timer fired, want 0", op.State.Keys())
	}
}

func TestKeyedProcessDeleteTimers(t *testing.T) {
	op, out, clk := newProcOp[string, string]()
	op.Element = func(cmd string) error {
		switch cmd {
		case "set":
			op.RegisterEventTimer(10)
			op.RegisterEventTimer(20)
			op.RegisterProcTimer(1_010)
		case "del":
			op.DeleteEventTimer(10)
			op.DeleteEventTimer(15) // none: no effect
			op.DeleteProcTimer(1_010)
		case "delall":
			op.DeleteEventTimer(20)
		}
		return nil
	}
	op.Timer = func(ts int64) error {
		op.Emit(ts, fmt.Sprintf("%s@%d", op.Key(), ts))
		return nil
	}
	op.Collect(0, el("a", "set"))
	op.Collect(0, el("b", "set"))
	op.Collect(0, el("a", "del"))
	op.Collect(0, el("b", "delall"))
	clk.now = 5_000
	op.ProcTime(clk.now)
	op.Watermark(100)
	var got []string
	for _, e := range out.records() {
		got = append(got, e.v)
	}
	if want := []string{"b@1010", "b@10", "a@20"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if op.State.Keys() != 0 || op.EventTimers()+op.ProcTimers() != 0 {
		t.Fatalf("%d keys and %d timers left", op.State.Keys(), op.EventTimers()+op.ProcTimers())
	}
}

func TestKeyedProcessFailuresGoToDeadLetters(t *testing.T) {
	op, out, _ := newProcOp[int64, int64]()
	dlq := &procSink[DeadLetter]{}
	op.T.DLQ = dlq
	count := NewValueState[int64](&op.State.StateScope, "count")
	op.Element = func(v int64) error {
		n, _ := count.Value()
		count.Update(n + 1) // kept even when the element then fails
		switch v {
		case 1:
			return errors.New("bad value")
		case 2:
			panic("boom")
		}
		op.RegisterEventTimer(v)
		op.Emit(op.Timestamp(), n+1)
		return nil
	}
	op.Timer = func(ts int64) error {
		if ts == 30 {
			return errors.New("timer failed")
		}
		panic("timer boom")
	}
	op.Collect(1, el("a", int64(1)))
	op.Collect(2, el("a", int64(2)))
	op.Collect(3, el("a", int64(30)))
	op.Collect(4, el("b", int64(40)))
	op.Watermark(100)
	if r := out.records(); len(r) != 2 || r[0].v != 3 || r[1].v != 1 {
		t.Fatalf("got %+v, want counts 3 (a, after two failures) and 1 (b)", r)
	}
	d := dlq.records()
	if len(d) != 4 || op.T.Counters.DeadLetters.Load() != 4 {
		t.Fatalf("got %d dead letters (counter %d), want 4", len(d), op.T.Counters.DeadLetters.Load())
	}
	for _, x := range d {
		if x.v.Operator != "proc" || x.v.Task != "test#0" {
			t.Errorf("dead letter %+v does not name the operator and task", x.v)
		}
	}
	if d[0].v.Reason != "bad value" || d[0].v.Record != int64(1) || d[0].ts != 1 {
		t.Errorf("error dead letter %+v", d[0].v)
	}
	if !strings.HasPrefix(d[1].v.Reason, "panic: boom") || d[1].v.Record != int64(2) || d[1].v.Stack == "" {
		t.Errorf("panic dead letter %+v", d[1].v)
	}
	if d[2].v.Record != (FiredTimer[string]{Key: "a", Time: 30}) || !strings.Contains(d[2].v.Reason, "timer failed") {
		t.Errorf("timer error dead letter %+v", d[2].v)
	}
	if d[3].v.Record != (FiredTimer[string]{Key: "b", Time: 40}) || !strings.Contains(d[3].v.Reason, "timer boom") {
		t.Errorf("timer panic dead letter %+v", d[3].v)
	}
}

func TestKeyedProcessInitErrFailsTask(t *testing.T) {
	op, _, _ := newProcOp[int64, int64]()
	NewValueState[int64](&op.State.StateScope, "x")
	NewListState[int64](&op.State.StateScope, "x")
	if op.State.Err == nil || !strings.Contains(op.State.Err.Error(), `operator "proc": state "x" is declared twice`) {
		t.Fatalf("duplicate state: %v", op.State.Err)
	}
	op.InitErr = op.State.Err
	err := RunGuarded(func() { op.Watermark(1) })
	if !errors.Is(err, op.InitErr) {
		t.Fatalf("RunGuarded = %v, want the init error", err)
	}
}

func TestStateOutsideUserCodePanics(t *testing.T) {
	op, _, _ := newProcOp[int64, int64]()
	v := NewValueState[int64](&op.State.StateScope, "v")
	op.State.Seal()
	for name, f := range map[string]func(){
		"value":   func() { v.Value() },
		"emit":    func() { op.Emit(0, 1) },
		"timer":   func() { op.RegisterEventTimer(1) },
		"declare": func() { NewMapState[string, int](&op.State.StateScope, "late") },
	} {
		func() {
			defer func() {
				r := recover()
				err, _ := r.(error)
				if err == nil || !strings.Contains(err.Error(), `"proc"`) {
					t.Errorf("%s: recovered %v, want an error naming the operator", name, r)
				}
				if name == "value" && !errors.Is(err, ErrNoCurrentKey) {
					t.Errorf("value: %v does not wrap ErrNoCurrentKey", err)
				}
			}()
			f()
		}()
	}
}

// TestMapAndListState drives both states through the operator, checking that a key with only
// empty state is forgotten and its slot reused without leaking the old key's data.
func TestMapAndListState(t *testing.T) {
	op, out, _ := newProcOp[string, string]()
	sc := &op.State.StateScope
	m := NewMapState[string, int](sc, "m")
	l := NewListState[string](sc, "l")
	op.State.Seal()
	op.Element = func(cmd string) error {
		switch verb, arg, _ := strings.Cut(cmd, " "); verb {
		case "put":
			n, _ := m.Get(arg)
			m.Put(arg, n+1)
		case "rm":
			m.Remove(arg)
		case "add":
			l.Add(arg)
		case "drop1":
			l.Update(l.Get()[1:]) // Update with an alias of its own storage
		case "set":
			l.Update(strings.Fields(arg))
		case "clear":
			m.Clear()
			l.Clear()
		}
		var keys []string
		for k, v := range m.All() {
			keys = append(keys, fmt.Sprintf("%s=%d", k, v))
		}
		sort.Strings(keys)
		op.Emit(0, fmt.Sprintf("%s m%d%v has(x)=%v l%v", op.Key(), m.Len(), keys, m.Contains("x"), l.Get()))
		return nil
	}
	steps := []struct{ key, cmd, want string }{
		{"a", "put x", "a m1[x=1] has(x)=true l[]"},
		{"a", "put x", "a m1[x=2] has(x)=true l[]"},
		{"a", "put y", "a m2[x=2 y=1] has(x)=true l[]"},
		{"b", "add p", "b m0[] has(x)=false l[p]"},
		{"b", "add q", "b m0[] has(x)=false l[p q]"},
		{"b", "drop1", "b m0[] has(x)=false l[q]"},
		{"b", "set r s t", "b m0[] has(x)=false l[r s t]"},
		{"a", "rm x", "a m1[y=1] has(x)=false l[]"},
		{"a", "rm y", "a m0[] has(x)=false l[]"},
		{"a", "noop", "a m0[] has(x)=false l[]"},
		{"b", "clear", "b m0[] has(x)=false l[]"},
		{"c", "noop", "c m0[] has(x)=false l[]"}, // reuses a freed slot: sees nothing of a or b
		{"c", "set ", "c m0[] has(x)=false l[]"},
	}
	for i, s := range steps {
		op.Collect(0, el(s.key, s.cmd))
		if got := out.records()[i].v; got != s.want {
			t.Fatalf("step %d (%s %s): got %q, want %q", i, s.key, s.cmd, got, s.want)
		}
		if s.key == "b" && s.cmd == "set r s t" && op.State.Keys() != 2 {
			t.Fatalf("%d keys, want 2", op.State.Keys())
		}
	}
	if op.State.Keys() != 0 || len(op.State.keys) != 2 {
		t.Fatalf("%d keys live and %d slots, want 0 live in 2 slots", op.State.Keys(), len(op.State.keys))
	}
	for i, r := range op.State.refs {
		if r != 0 {
			t.Fatalf("slot %d still counts %d", i, r)
		}
	}
}

func TestValueStateClearForgetsKey(t *testing.T) {
	op, _, _ := newProcOp[bool, int]()
	v := NewValueState[*int](&op.State.StateScope, "v")
	op.Element = func(set bool) error {
		if set {
			x := 1
			v.Update(&x)
		} else {
			v.Clear()
		}
		return nil
	}
	op.Collect(0, el("a", true))
	op.Collect(0, el("a", true))
	if op.State.Keys() != 1 || op.State.refs[0] != 1 {
		t.Fatalf("keys %d, refs %v", op.State.Keys(), op.State.refs)
	}
	op.Collect(0, el("a", false))
	if op.State.Keys() != 0 || v.cells[0].v != nil {
		t.Fatalf("cleared value still held: keys %d, cell %+v", op.State.Keys(), v.cells[0])
	}
}

func TestSideOutputsAndUnrouted(t *testing.T) {
	op, _, _ := newProcOp[int64, int64]()
	side := &procSink[string]{}
	op.Sides = []SideOutlet{{ID: "s", Type: "string", Out: Outlet[string](side), Node: side}}
	op.Element = func(v int64) error {
		s, ts := op.Side("s")
		s.Out.(Outlet[string]).Collect(ts, fmt.Sprint(v))
		if s, _ := op.Side("nobody"); s != nil {
			t.Error("unknown tag has an outlet")
		}
		return nil
	}
	op.Collect(7, el("a", int64(1)))
	op.Watermark(10)
	op.Finish()
	want := []procEvent[string]{{ts: 7, v: "1"}, {ts: 10, wm: true}, {done: true}}
	if !slices.Equal(side.got, want) {
		t.Fatalf("side output saw %+v, want %+v", side.got, want)
	}
	if op.Unrouted() != 1 {
		t.Fatalf("unrouted %d, want 1", op.Unrouted())
	}
}

// TestTimerHeapAgainstModel runs random adds, removes and pops against a sorted model.
func TestTimerHeapAgainstModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h timerHeap
	type ent struct {
		ts   int64
		seq  int
		slot int32
	}
	var model []ent
	seq := 0
	find := func(slot int32, ts int64) int {
		return slices.IndexFunc(model, func(e ent) bool { return e.slot == slot && e.ts == ts })
	}
	for i := 0; i < 20_000; i++ {
		slot, ts := int32(r.IntN(20)), int64(r.IntN(50))
		switch op := r.IntN(10); {
		case op < 5:
			added := h.add(slot, ts)
			if added != (find(slot, ts) < 0) {
				t.Fatalf("op %d: add(%d, %d) = %v", i, slot, ts, added)
			}
			if added {
				seq++
				model = append(model, ent{ts, seq, slot})
			}
		case op < 8:
			j := find(slot, ts)
			if h.remove(slot, ts) != (j >= 0) {
				t.Fatalf("op %d: remove(%d, %d) disagrees", i, slot, ts)
			}
			if j >= 0 {
				model = slices.Delete(model, j, j+1)
			}
		default:
			if len(model) == 0 {
				continue
			}
			slices.SortFunc(model, func(a, b ent) int {
				if a.ts != b.ts {
					return int(a.ts - b.ts)
				}
				return a.seq - b.seq
			})
			if h.next() != model[0].ts {
				t.Fatalf("op %d: next %d, want %d", i, h.next(), model[0].ts)
			}
			s, ts := h.pop()
			if s != model[0].slot || ts != model[0].ts {
				t.Fatalf("op %d: pop (%d, %d), want (%d, %d)", i, s, ts, model[0].slot, model[0].ts)
			}
			model = model[1:]
		}
		if h.len() != len(model) || len(h.index) != len(model) {
			t.Fatalf("op %d: heap holds %d (index %d), model %d", i, h.len(), len(h.index), len(model))
		}
	}
}

// BenchmarkKeyedProcessValueState is a per-key running count over 100k keys: one key lookup,
// one ValueState read and update and one emitted record per element.
func BenchmarkKeyedProcessValueState(b *testing.B) {
	const keys = 100_000
	ks := make([]string, keys)
	for i := range ks {
		ks[i] = fmt.Sprintf("user-%06d", i)
	}
	op := NewKeyedProcess[string, int64, int64]("count", NewTask("bench", 0, 1), Discard[int64]{})
	count := NewValueState[int64](&op.State.StateScope, "count")
	op.State.Seal()
	op.Element = func(v int64) error {
		n, _ := count.Value()
		count.Update(n + v)
		op.Emit(op.Timestamp(), n+v)
		return nil
	}
	for _, k := range ks {
		op.Collect(0, Keyed[string, int64]{Key: k, Value: 1})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		op.Collect(int64(i), Keyed[string, int64]{Key: ks[i%keys], Value: 1})
	}
}
