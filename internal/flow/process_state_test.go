package flow

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/state/codec"
)

// snapOp is a keyed process operator with a value, a map and a list state and both kinds of
// timers, whose timers print the key's whole state: comparing outputs compares state.
type snapOp = KeyedProcess[string, int64, string]

// newSnapOp makes subtask idx of par over clk; reorder declares the states in another order.
func newSnapOp(t testing.TB, clk Clock, idx, par int, reorder bool) (*snapOp, *procSink[string]) {
	t.Helper()
	task := NewTask("snap", idx, par)
	task.Clock = clk
	out := &procSink[string]{}
	op := NewKeyedProcess[string, int64, string]("proc", task, out)
	op.UID = "proc-uid"
	op.KeyCodec = codec.MustFor[string]()
	sc := &op.State.StateScope
	var (
		count *ValueState[int64]
		seen  *MapState[string, int64]
		hist  *ListState[int64]
	)
	if reorder {
		hist = NewListState[int64](sc, "hist")
		seen = NewMapState[string, int64](sc, "seen")
		count = NewValueState[int64](sc, "count")
	} else {
		count = NewValueState[int64](sc, "count")
		seen = NewMapState[string, int64](sc, "seen")
		hist = NewListState[int64](sc, "hist")
	}
	count.SetCodec(codec.MustFor[int64](), nil)
	seen.SetCodecs(codec.MustFor[string](), codec.MustFor[int64](), nil)
	hist.SetCodec(codec.MustFor[int64](), nil)
	op.State.Seal()
	op.Element = func(v int64) error {
		n, _ := count.Value()
		count.Update(n + 1)
		seen.Put(fmt.Sprint(v%3), n+1)
		hist.Add(v)
		if h := hist.Get(); len(h) > 3 {
			hist.Update(h[1:])
		}
		if v%11 == 0 {
			seen.Clear()
		}
		op.RegisterEventTimer(op.Timestamp() + 5 + v%4)
		if v%5 == 0 {
			op.DeleteEventTimer(op.Timestamp() + 5 + v%4)
		}
		if v%2 == 0 {
			op.RegisterProcTimer(op.Now() + 7 + v%5)
		}
		op.Emit(op.Timestamp(), fmt.Sprintf("%s e%d n=%d", op.Key(), v, n+1))
		return nil
	}
	op.Timer = func(ts int64) error {
		n, ok := count.Value()
		var entries []string
		for k, v := range seen.All() {
			entries = append(entries, fmt.Sprintf("%s:%d", k, v))
		}
		slices.Sort(entries)
		op.Emit(ts, fmt.Sprintf("%s %v@%d n=%d/%v seen=%v hist=%v", op.Key(), op.Domain(), ts, n, ok, entries, hist.Get()))
		if op.Domain() == ProcessingTimeDomain && n%3 == 0 {
			count.Clear()
			hist.Clear()
			seen.Clear()
		}
		return nil
	}
	return op, out
}

// cluster is the subtasks of one operator, routing elements by key group as the KeyBy exchange.
type cluster struct {
	ops  []*snapOp
	outs []*procSink[string]
	clk  *procClock
}

func newCluster(t testing.TB, clk *procClock, par int, reorder bool) *cluster {
	c := &cluster{clk: clk}
	for i := range par {
		op, out := newSnapOp(t, clk, i, par, reorder)
		c.ops, c.outs = append(c.ops, op), append(c.outs, out)
	}
	return c
}

var hashKey = KeyHasher[string]()

func subtaskOfKey(k string, par int) int {
	return SubtaskOf(KeyGroup(hashKey(k), DefaultMaxParallelism), DefaultMaxParallelism, par)
}

type snapStep struct {
	key  string
	v    int64 // element value; with key == "": watermark v, or processing time -v
	ts   int64
	proc bool
}

// snapSteps is a deterministic script: elements over keys, watermarks, processing time.
func snapSteps(n, keys int) []snapStep {
	var steps []snapStep
	now := int64(1_000)
	for i := range n {
		k := fmt.Sprintf("k%03d", (i*7919)%keys)
		steps = append(steps, snapStep{key: k, v: int64(i*31%97 + 1), ts: int64(i)})
		if i%13 == 12 {
			steps = append(steps, snapStep{v: int64(i - 4)})
		}
		if i%9 == 8 {
			now += 5
			steps = append(steps, snapStep{v: now, proc: true})
		}
	}
	return steps
}

func (c *cluster) run(steps []snapStep) {
	for _, s := range steps {
		switch {
		case s.key != "":
			c.ops[subtaskOfKey(s.key, len(c.ops))].Collect(s.ts, el(s.key, s.v))
		case s.proc:
			c.procTime(s.v)
		default:
			for _, op := range c.ops {
				op.Watermark(s.v)
			}
		}
	}
}

// procTime advances the clock and, as the runtime does, calls ProcTime on subtasks that asked.
func (c *cluster) procTime(now int64) {
	c.clk.now = now
	for _, op := range c.ops {
		if op.T.ProcDeadline() <= now {
			op.T.TakeProcDeadline()
			op.ProcTime(now)
		}
	}
}

// end fires every timer left.
func (c *cluster) end() {
	for _, op := range c.ops {
		op.Watermark(MaxTime)
	}
	c.procTime(c.clk.now + 1_000_000)
}

func (c *cluster) snapshot(t testing.TB) []StatePart {
	t.Helper()
	var parts []StatePart
	for _, op := range c.ops {
		parts = append(parts, snapshotPart(t, op))
	}
	return parts
}

// snapshotPart snapshots op into a part.
func snapshotPart(t testing.TB, op Snapshotter) StatePart {
	t.Helper()
	var w StateWriter
	if err := op.SnapshotState(&w); err != nil {
		t.Fatal(err)
	}
	return StatePart{Data: bytes.Clone(w.Bytes()), OperatorState: true}
}

// restore makes a cluster of par subtasks from parts, each reading its key-group range, and checks
// that every key of old lands in exactly one subtask, the one owning its key group.
func restore(t testing.TB, old *cluster, parts []StatePart, par int, reorder bool) *cluster {
	t.Helper()
	c := newCluster(t, old.clk, par, reorder)
	for i, op := range c.ops {
		start, end := KeyGroupRange(DefaultMaxParallelism, par, i)
		if err := op.RestoreState(NewStateReader(parts, start, end)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{}
	for _, op := range old.ops {
		for k := range op.State.index {
			want[k] = true
		}
	}
	got := map[string]int{}
	for i, op := range c.ops {
		for k := range op.State.index {
			got[k]++
			if s := subtaskOfKey(k, par); s != i {
				t.Errorf("key %s restored in subtask %d of %d, owned by %d", k, i, par, s)
			}
		}
	}
	for k := range want {
		if got[k] != 1 {
			t.Errorf("key %s restored %d times, want once", k, got[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d keys restored, want %d", len(got), len(want))
	}
	return c
}

// byKey groups a cluster's output records by key, from the given offsets per subtask.
func (c *cluster) byKey(from []int) map[string][]string {
	m := map[string][]string{}
	for i, out := range c.outs {
		rs := out.records()
		start := 0
		if from != nil {
			start = from[i]
		}
		for _, r := range rs[start:] {
			k, _, _ := strings.Cut(r.v, " ")
			m[k] = append(m[k], fmt.Sprintf("%s @%d", r.v, r.ts))
		}
	}
	return m
}

func TestProcessSnapshotRestoreSameParallelism(t *testing.T) {
	steps := snapSteps(3000, 250)
	cut := len(steps) / 2
	refClk, clk := &procClock{}, &procClock{}
	ref := newCluster(t, refClk, 1, false)
	a := newCluster(t, clk, 1, false)
	ref.run(steps[:cut])
	a.run(steps[:cut])
	keys := a.ops[0].State.Keys()
	if keys < 100 || a.ops[0].EventTimers() == 0 || a.ops[0].ProcTimers() == 0 {
		t.Fatalf("the prefix should leave state and timers: %d keys, %d + %d timers", keys, a.ops[0].EventTimers(), a.ops[0].ProcTimers())
	}
	mark := len(ref.outs[0].records())
	parts := a.snapshot(t)
	b := restore(t, a, parts, 1, true) // states declared in another order: matched by name
	if b.ops[0].EventTimers() != a.ops[0].EventTimers() || b.ops[0].ProcTimers() != a.ops[0].ProcTimers() {
		t.Fatalf("restored %d + %d timers, want %d + %d", b.ops[0].EventTimers(), b.ops[0].ProcTimers(), a.ops[0].EventTimers(), a.ops[0].ProcTimers())
	}
	if d := b.ops[0].T.ProcDeadline(); d == MaxTime {
		t.Fatal("restored processing-time timers were not requested from the task")
	}
	if b.ops[0].State.Keys() != keys {
		t.Fatalf("restored %d keys, want %d", b.ops[0].State.Keys(), keys)
	}
	ref.run(steps[cut:])
	b.run(steps[cut:])
	ref.end()
	b.end()
	want := ref.outs[0].records()[mark:]
	got := b.outs[0].records()
	if len(got) != len(want) {
		t.Fatalf("after restore: %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d after restore: %+v, want %+v", i, got[i], want[i])
		}
	}
	if b.ops[0].State.Keys() != ref.ops[0].State.Keys() {
		t.Fatalf("keys left at the end: %d restored, %d reference", b.ops[0].State.Keys(), ref.ops[0].State.Keys())
	}
}

// TestProcessSnapshotRestoreRescale snapshots 2 subtasks, restores into 3, then snapshots those
// and restores into 1: every key lands once, and each key's output equals an operator's that
// never restarted.
func TestProcessSnapshotRestoreRescale(t *testing.T) {
	steps := snapSteps(3000, 300)
	cut1, cut2 := len(steps)/3, 2*len(steps)/3
	refClk, clk := &procClock{}, &procClock{}
	ref := newCluster(t, refClk, 1, false)
	ref.run(steps)
	ref.end()
	want := ref.byKey(nil)

	a := newCluster(t, clk, 2, false)
	a.run(steps[:cut1])
	got := a.byKey(nil)
	b := restore(t, a, a.snapshot(t), 3, false)
	b.run(steps[cut1:cut2])
	c := restore(t, b, b.snapshot(t), 1, false)
	for k, rs := range b.byKey(nil) {
		got[k] = append(got[k], rs...)
	}
	c.run(steps[cut2:])
	c.end()
	for k, rs := range c.byKey(nil) {
		got[k] = append(got[k], rs...)
	}
	if len(got) != len(want) {
		t.Fatalf("%d keys in the output, want %d", len(got), len(want))
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Fatalf("key %s:\n got %q\nwant %q", k, got[k], w)
		}
	}
}

func TestProcessRestoreErrors(t *testing.T) {
	clk := &procClock{now: 1_000}
	a := newCluster(t, clk, 1, false)
	a.run(snapSteps(100, 10))
	parts := a.snapshot(t)

	// A state the operator no longer declares.
	op, _, _ := newProcOp[int64, string]()
	op.KeyCodec = codec.MustFor[string]()
	NewValueState[int64](&op.State.StateScope, "count").SetCodec(codec.MustFor[int64](), nil)
	NewMapState[string, int64](&op.State.StateScope, "seen").SetCodecs(codec.MustFor[string](), codec.MustFor[int64](), nil)
	err := op.RestoreState(NewStateReader(parts, 0, DefaultMaxParallelism))
	if err == nil || !strings.Contains(err.Error(), `list state "hist", which the operator no longer declares`) {
		t.Fatalf("restore without hist: %v", err)
	}

	// A state declared with another kind.
	op, _, _ = newProcOp[int64, string]()
	op.KeyCodec = codec.MustFor[string]()
	NewValueState[int64](&op.State.StateScope, "count").SetCodec(codec.MustFor[int64](), nil)
	NewMapState[string, int64](&op.State.StateScope, "seen").SetCodecs(codec.MustFor[string](), codec.MustFor[int64](), nil)
	NewValueState[int64](&op.State.StateScope, "hist").SetCodec(codec.MustFor[int64](), nil)
	err = op.RestoreState(NewStateReader(parts, 0, DefaultMaxParallelism))
	if err == nil || !strings.Contains(err.Error(), `state "hist" is a list state in the checkpoint but is now declared as a value state`) {
		t.Fatalf("restore with hist as a value: %v", err)
	}

	// Truncated data.
	data := parts[0].Data
	for _, cut := range []int{len(data) - 1, len(data) / 2, 3} {
		op, _ := newSnapOp(t, clk, 0, 1, false)
		err := op.RestoreState(NewStateReader([]StatePart{{Data: data[:cut]}}, 0, DefaultMaxParallelism))
		if !errors.Is(err, ErrCorruptState) {
			t.Fatalf("restore of %d of %d bytes: %v, want ErrCorruptState", cut, len(data), err)
		}
	}

	// A fresh start (no parts) restores nothing, whatever the codecs.
	op, _, _ = newProcOp[int64, string]()
	NewValueState[func()](&op.State.StateScope, "f")
	if err := op.RestoreState(NewStateReader(nil, 0, DefaultMaxParallelism)); err != nil {
		t.Fatal(err)
	}
}

type unencodable struct {
	Name string
	fn   func() //lint:ignore U1000 present on purpose: a func field cannot be encoded
}

func TestProcessSnapshotCodecErrors(t *testing.T) {
	// A type the codec package rejects: the snapshot fails naming operator, state and type.
	op, _, _ := newProcOp[int64, string]()
	op.KeyCodec = codec.MustFor[string]()
	v := NewValueState[unencodable](&op.State.StateScope, "bad")
	c, cerr := codec.For[unencodable]()
	v.SetCodec(c, cerr)
	op.State.Seal()
	op.Element = func(int64) error { v.Update(unencodable{Name: "x"}); return nil }
	op.Collect(0, el("a", int64(1))) // running is fine
	var w StateWriter
	err := op.SnapshotState(&w)
	if err == nil || !strings.Contains(err.Error(), `operator "proc": value state "bad" cannot be checkpointed`) ||
		!strings.Contains(err.Error(), "flow.unencodable") {
		t.Fatalf("snapshot: %v, want an error naming the operator, the state and the type", err)
	}

	// No key codec.
	op, _, _ = newProcOp[int64, string]()
	if err := op.SnapshotState(&w); err == nil || !strings.Contains(err.Error(), `operator "proc": its keys cannot be checkpointed`) {
		t.Fatalf("snapshot without a key codec: %v", err)
	}

	// A codec that panics while encoding (gob and a type it does not know): an error, not a
	// panic.
	op, _, _ = newProcOp[int64, string]()
	op.KeyCodec = codec.MustFor[string]()
	a := NewValueState[any](&op.State.StateScope, "any")
	a.SetCodec(codec.MustFor[any](), nil)
	op.State.Seal()
	op.Element = func(int64) error { a.Update(unencodable{Name: "y"}); return nil }
	op.Collect(0, el("a", int64(1)))
	err = op.SnapshotState(&w)
	if err == nil || !strings.Contains(err.Error(), `operator "proc": encoding value state "any"`) {
		t.Fatalf("snapshot with a panicking codec: %v", err)
	}
}

// ttlOp is an operator with TTL states driven by commands: "set V", "get", "put K V", "getm K",
// "all", "add V", "list", "len".
func ttlOp(t *testing.T, refresh bool) (*KeyedProcess[string, string, string], *procSink[string], *procClock) {
	t.Helper()
	op, out, clk := newProcOp[string, string]()
	op.UID = "ttl"
	op.KeyCodec = codec.MustFor[string]()
	sc := &op.State.StateScope
	cfg := TTL{Millis: 100, RefreshOnRead: refresh}
	v := NewValueState[string](sc, "v")
	v.SetCodec(codec.MustFor[string](), nil)
	v.SetTTL(cfg)
	m := NewMapState[string, string](sc, "m")
	m.SetCodecs(codec.MustFor[string](), codec.MustFor[string](), nil)
	m.SetTTL(cfg)
	l := NewListState[string](sc, "l")
	l.SetCodec(codec.MustFor[string](), nil)
	l.SetTTL(cfg)
	if sc.Err != nil {
		t.Fatal(sc.Err)
	}
	op.State.Seal()
	op.Element = func(cmd string) error {
		verb, arg, _ := strings.Cut(cmd, " ")
		var res string
		switch verb {
		case "set":
			v.Update(arg)
		case "get":
			x, ok := v.Value()
			res = fmt.Sprintf("%s %v", x, ok)
		case "put":
			k, x, _ := strings.Cut(arg, " ")
			m.Put(k, x)
		case "getm":
			x, ok := m.Get(arg)
			res = fmt.Sprintf("%s %v", x, ok)
		case "has":
			res = fmt.Sprint(m.Contains(arg))
		case "all":
			var es []string
			for k, x := range m.All() {
				es = append(es, k+"="+x)
			}
			slices.Sort(es)
			res = fmt.Sprint(m.Len(), es)
		case "add":
			l.Add(arg)
		case "list":
			res = fmt.Sprint(l.Get())
		case "upd":
			l.Update(strings.Fields(arg))
		}
		op.Emit(0, res)
		return nil
	}
	return op, out, clk
}

type ttlStep struct {
	now      int64
	key, cmd string
	want     string
}

func runTTL(t *testing.T, op *KeyedProcess[string, string, string], out *procSink[string], clk *procClock, steps []ttlStep) {
	t.Helper()
	for i, s := range steps {
		clk.now = s.now
		op.Collect(0, el(s.key, s.cmd))
		rs := out.records()
		if got := rs[len(rs)-1].v; got != s.want {
			t.Fatalf("step %d (%d %s %q): got %q, want %q", i, s.now, s.key, s.cmd, got, s.want)
		}
	}
}

// ttlCreateWriteSteps exercise TTL with OnCreateAndWrite.
var ttlCreateWriteSteps = []ttlStep{
	{1000, "a", "set x", ""},
	{1099, "a", "get", "x true"},
	{1100, "a", "get", " false"}, // expired at stamp + TTL; reading did not refresh
	{1100, "a", "set y", ""},
	{1150, "a", "set z", ""}, // a write refreshes
	{1249, "a", "get", "z true"},
	{1250, "a", "get", " false"},

	{2000, "b", "put p 1", ""},
	{2050, "b", "put q 2", ""},
	{2099, "b", "all", "2 [p=1 q=2]"},
	{2100, "b", "getm p", " false"},
	{2100, "b", "all", "1 [q=2]"},
	{2100, "b", "has q", "true"},
	{2150, "b", "has q", "false"},
	{2150, "b", "all", "0 []"},

	{3000, "c", "add 1", ""},
	{3040, "c", "add 2", ""},
	{3080, "c", "add 3", ""},
	{3100, "c", "list", "[2 3]"},
	{3140, "c", "list", "[3]"},
	{3150, "c", "upd 4 5", ""},
	{3249, "c", "list", "[4 5]"},
	{3250, "c", "list", "[]"},
}

func TestStateTTLOnCreateAndWrite(t *testing.T) {
	op, out, clk := ttlOp(t, false)
	runTTL(t, op, out, clk, ttlCreateWriteSteps)
	if op.State.Keys() != 0 {
		t.Fatalf("%d keys left, want 0: expired state must not hold keys", op.State.Keys())
	}
	for i, r := range op.State.refs {
		if r != 0 {
			t.Fatalf("slot %d still counts %d", i, r)
		}
	}
}

// ttlReadWriteSteps exercise TTL with OnReadAndWrite.
var ttlReadWriteSteps = []ttlStep{
	{1000, "a", "set x", ""},
	{1099, "a", "get", "x true"}, // refreshes
	{1198, "a", "get", "x true"},
	{1298, "a", "get", " false"},

	{2000, "b", "put p 1", ""},
	{2050, "b", "put q 2", ""},
	{2090, "b", "getm p", "1 true"}, // refreshes p only
	{2160, "b", "all", "1 [p=1]"},   // q expired at 2150; All refreshes p
	{2259, "b", "getm p", "1 true"},

	{3000, "c", "add 1", ""},
	{3050, "c", "add 2", ""},
	{3099, "c", "list", "[1 2]"}, // refreshes both
	{3198, "c", "list", "[1 2]"},
	{3298, "c", "list", "[]"},
}

func TestStateTTLOnReadAndWrite(t *testing.T) {
	op, out, clk := ttlOp(t, true)
	runTTL(t, op, out, clk, ttlReadWriteSteps)
}

func TestStateTTLIncrementalCleanup(t *testing.T) {
	op, _, clk := ttlOp(t, false)
	clk.now = 1000
	for i := range 50 {
		op.Collect(0, el(fmt.Sprintf("k%d", i), "set x"))
		op.Collect(0, el(fmt.Sprintf("m%d", i), "put a b"))
		op.Collect(0, el(fmt.Sprintf("l%d", i), "add c"))
	}
	if op.State.Keys() != 150 {
		t.Fatalf("%d keys, want 150", op.State.Keys())
	}
	clk.now = 1100 // everything has expired; nothing is read again
	for range 150/ttlSweepSlots + 1 {
		op.Collect(0, el("other", "get"))
	}
	if n := op.State.Keys(); n != 0 {
		t.Fatalf("%d keys left after a full sweep, want 0", n)
	}
	if len(op.State.free) != 151 { // and the slot of "other", which holds nothing
		t.Fatalf("%d free slots, want 151", len(op.State.free))
	}
}

func TestStateTTLSurvivesSnapshotRestore(t *testing.T) {
	op, out, clk := ttlOp(t, false)
	runTTL(t, op, out, clk, []ttlStep{
		{1000, "a", "set x", ""},
		{1000, "b", "put p 1", ""},
		{1050, "b", "put q 2", ""},
		{1000, "c", "add 1", ""},
		{1060, "c", "add 2", ""},
		{1010, "d", "set old", ""},
	})
	clk.now = 1080
	var w StateWriter
	if err := op.SnapshotState(&w); err != nil {
		t.Fatal(err)
	}
	parts := []StatePart{{Data: bytes.Clone(w.Bytes())}}

	// Restored at 1090: the stamps are those of the writes, not of the restore.
	op2, out2, clk2 := ttlOp(t, false)
	clk2.now = 1090
	if err := op2.RestoreState(NewStateReader(parts, 0, DefaultMaxParallelism)); err != nil {
		t.Fatal(err)
	}
	runTTL(t, op2, out2, clk2, []ttlStep{
		{1099, "a", "get", "x true"},
		{1100, "a", "get", " false"},
		{1100, "b", "all", "1 [q=2]"},
		{1100, "c", "list", "[2]"},
		{1110, "d", "get", " false"},
	})

	// Restored at 1155: what expired meanwhile is not restored.
	op3, _, clk3 := ttlOp(t, false)
	clk3.now = 1155
	if err := op3.RestoreState(NewStateReader(parts, 0, DefaultMaxParallelism)); err != nil {
		t.Fatal(err)
	}
	if op3.State.Keys() != 1 { // only c, with its element 2 (stamped 1060)
		t.Fatalf("%d keys restored at 1155, want 1: %v", op3.State.Keys(), slices.Collect(maps.Keys(op3.State.index)))
	}

	// A snapshot skips expired entries (and cleans them up).
	clk.now = 1150
	w.Reset()
	if err := op.SnapshotState(&w); err != nil {
		t.Fatal(err)
	}
	if op.State.Keys() != 1 {
		t.Fatalf("%d keys after a snapshot at 1150, want 1 (c)", op.State.Keys())
	}

	// TTL added since the checkpoint: entries are stamped with the restore time.
	plain, _, _ := newProcOp[string, string]()
	plain.KeyCodec = codec.MustFor[string]()
	pv := NewValueState[string](&plain.State.StateScope, "v")
	pv.SetCodec(codec.MustFor[string](), nil)
	plain.Element = func(s string) error { pv.Update(s); return nil }
	plain.Collect(0, el("z", "zz"))
	w.Reset()
	if err := plain.SnapshotState(&w); err != nil {
		t.Fatal(err)
	}
	op4, out4, clk4 := ttlOp(t, false)
	clk4.now = 5000
	if err := op4.RestoreState(NewStateReader([]StatePart{{Data: w.Bytes()}}, 0, DefaultMaxParallelism)); err != nil {
		t.Fatal(err)
	}
	runTTL(t, op4, out4, clk4, []ttlStep{
		{5099, "z", "get", "zz true"},
		{5100, "z", "get", " false"},
	})

	// TTL removed since the checkpoint: stamps are ignored.
	w.Reset()
	clk.now = 1150
	if err := op.SnapshotState(&w); err != nil {
		t.Fatal(err)
	}
	plainL, outL, _ := newProcOp[string, string]()
	plainL.KeyCodec = codec.MustFor[string]()
	pl := NewListState[string](&plainL.State.StateScope, "l")
	pl.SetCodec(codec.MustFor[string](), nil)
	plainL.Element = func(string) error { plainL.Emit(0, fmt.Sprint(pl.Get())); return nil }
	plainL.T.Clock = &procClock{now: 99_999}
	if err := plainL.RestoreState(NewStateReader([]StatePart{{Data: w.Bytes()}}, 0, DefaultMaxParallelism)); err != nil {
		t.Fatal(err)
	}
	plainL.Collect(0, el("c", ""))
	if got := outL.records()[0].v; got != "[2]" {
		t.Fatalf("list restored without TTL: %q, want [2]", got)
	}
}

func TestStateTTLDeclarationErrors(t *testing.T) {
	op, _, _ := newProcOp[int64, int64]()
	NewValueState[int64](&op.State.StateScope, "v").SetTTL(TTL{})
	if op.State.Err == nil || !strings.Contains(op.State.Err.Error(), `value state "v": the time to live must be positive`) {
		t.Fatalf("zero TTL: %v", op.State.Err)
	}
}

// TestValueStateNoAllocs: with and without TTL, reading and updating a value allocates nothing.
func TestValueStateNoAllocs(t *testing.T) {
	for _, ttl := range []bool{false, true} {
		op, _, _ := newProcOp[int64, int64]()
		v := NewValueState[int64](&op.State.StateScope, "v")
		if ttl {
			v.SetTTL(TTL{Millis: 1000})
		}
		op.State.Seal()
		op.Element = func(x int64) error {
			n, _ := v.Value()
			v.Update(n + x)
			return nil
		}
		keys := []string{"a", "b", "c"}
		for _, k := range keys {
			op.Collect(0, el(k, int64(1)))
		}
		i := 0
		if n := testing.AllocsPerRun(1000, func() {
			op.Collect(0, el(keys[i%3], int64(1)))
			i++
		}); n != 0 {
			t.Errorf("TTL %v: %v allocations per element", ttl, n)
		}
	}
}
