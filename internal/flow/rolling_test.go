package flow

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"unsafe"
)

// txn is the element of the rolling tests: an id to match results with, and a value.
type txn struct {
	ID int
	V  int64
}

// rollOut is one output of the operator or the oracle, with the step during which it came out.
type rollOut struct {
	Step  int
	Late  bool
	Key   string
	ID    int
	TS    int64
	Value float64
}

func cmpRollOut(a, b rollOut) int {
	if a.Late != b.Late {
		if a.Late {
			return 1
		}
		return -1
	}
	return cmp.Or(cmp.Compare(a.Step, b.Step), cmp.Compare(a.ID, b.ID))
}

type rollStep struct {
	restore bool // checkpoint, and go on with a new operator restored from it
	isWM    bool
	key     string
	ts      int64
	e       txn
}

// rollKind is one aggregate under test: its state factory, made into float64 results, and the
// brute-force answer over the values in range.
type rollKind struct {
	name   string
	new    func() RollingStore[txn, float64]
	oracle func(vals []int64) float64
	exact  bool
}

// asFloat adapts a store with numeric results to float64 results, for one comparison path.
type asFloat[V int64 | float64] struct{ RollingStore[txn, V] }

func (a asFloat[V]) Result(slot int32) float64 { return float64(a.RollingStore.Result(slot)) }

func floats[V int64 | float64](f func() RollingStore[txn, V]) func() RollingStore[txn, float64] {
	return func() RollingStore[txn, float64] { return asFloat[V]{f()} }
}

func val(e txn) int64 { return e.V }

var rollKinds = []rollKind{
	{"sum", floats(RollingSum(val)), func(v []int64) float64 {
		s := int64(0)
		for _, x := range v {
			s += x
		}
		return float64(s)
	}, true},
	{"sum-float", RollingSum(func(e txn) float64 { return float64(e.V) / 10 }), func(v []int64) float64 {
		s := 0.0
		for _, x := range v {
			s += float64(x) / 10
		}
		return s
	}, false},
	{"count", floats(RollingCount[txn]()), func(v []int64) float64 { return float64(len(v)) }, true},
	{"min", floats(RollingMin(val)), func(v []int64) float64 { return float64(slices.Min(v)) }, true},
	{"max", floats(RollingMax(val)), func(v []int64) float64 { return float64(slices.Max(v)) }, true},
	{"avg", RollingAvg(val), func(v []int64) float64 {
		s := 0.0
		for _, x := range v {
			s += float64(x)
		}
		return s / float64(len(v))
	}, false},
	{"distinct", floats(RollingDistinctCount(func(e txn) int64 { return e.V % 7 }, Codec[int64](int64Codec{}))), func(v []int64) float64 {
		seen := map[int64]bool{}
		for _, x := range v {
			seen[x%7] = true
		}
		return float64(len(seen))
	}, true},
}

// rollOracle computes by brute force what the rolling operator must emit: an element at or
// behind the watermark on arrival is late; every other element comes out during the first
// watermark that reaches its timestamp, with the aggregate of the accepted elements of its key
// with timestamps in (ts-rng, ts].
func rollOracle(script []rollStep, rng int64, agg func([]int64) float64) []rollOut {
	type acc struct {
		key  string
		ts   int64
		e    txn
		step int // arrival
	}
	var accepted []acc
	var out []rollOut
	wm := MinTime
	var wms []struct {
		step int
		wm   int64
	}
	for i, s := range script {
		switch {
		case s.restore:
		case s.isWM:
			if s.ts > wm {
				wm = s.ts
				wms = append(wms, struct {
					step int
					wm   int64
				}{i, wm})
			}
		case s.ts <= wm && wm != MinTime:
			out = append(out, rollOut{Step: i, Late: true, Key: s.key, ID: s.e.ID, TS: s.ts})
		default:
			accepted = append(accepted, acc{s.key, s.ts, s.e, i})
		}
	}
	for _, a := range accepted {
		step := -1
		for _, w := range wms {
			if w.step > a.step && w.wm >= a.ts {
				step = w.step
				break
			}
		}
		if step < 0 {
			continue // never passed by a watermark
		}
		var vals []int64
		for _, b := range accepted {
			if b.key == a.key && b.ts <= a.ts && b.ts > a.ts-rng {
				vals = append(vals, b.e.V)
			}
		}
		out = append(out, rollOut{Step: step, Key: a.key, ID: a.e.ID, TS: a.ts, Value: agg(vals)})
	}
	slices.SortFunc(out, cmpRollOut)
	return out
}

type rollRecorder struct {
	step *int
	out  *[]rollOut
}

func (r rollRecorder) Collect(ts int64, v Rolled[string, txn, float64]) {
	if ts != v.Timestamp {
		panic("result timestamp mismatch")
	}
	*r.out = append(*r.out, rollOut{Step: *r.step, Key: v.Key, ID: v.Element.ID, TS: ts, Value: v.Value})
}
func (rollRecorder) Watermark(int64) {}
func (rollRecorder) Idle(bool)       {}
func (rollRecorder) ProcTime(int64)  {}
func (rollRecorder) Finish()         {}

type rollLateRecorder struct {
	Discard[LateElement[string, txn]]
	rec rollRecorder
}

func (r rollLateRecorder) Collect(ts int64, e LateElement[string, txn]) {
	if e.Reason == "" || e.Window.End != ts+1 {
		panic(fmt.Sprintf("bad late element %+v", e))
	}
	*r.rec.out = append(*r.rec.out, rollOut{Step: *r.rec.step, Late: true, Key: e.Key, ID: e.Value.ID, TS: ts})
}

func runRolling(script []rollStep, rng int64, newStore func() RollingStore[txn, float64]) ([]rollOut, *RollingOp[string, txn, float64]) {
	var out []rollOut
	stepNo := 0
	rec := rollRecorder{step: &stepNo, out: &out}
	newOp := func() *RollingOp[string, txn, float64] {
		op := &RollingOp[string, txn, float64]{Name: "r", T: NewTask("t", 0, 1), Range: rng, Store: newStore(),
			Out: rec, Late: rollLateRecorder{rec: rec}, State: rollCodecs}
		op.Init()
		return op
	}
	op := newOp()
	for i, s := range script {
		stepNo = i
		switch {
		case s.restore:
			var w StateWriter
			if err := op.SnapshotState(&w); err != nil {
				panic(err)
			}
			wm := op.WM
			op = newOp()
			if err := op.RestoreState(NewStateReader([]StatePart{{Data: w.Bytes()}}, 0, DefaultMaxParallelism)); err != nil {
				panic(err)
			}
			if wm != MinTime {
				op.Watermark(wm)
			}
		case s.isWM:
			op.Watermark(s.ts)
		default:
			op.Collect(s.ts, Keyed[string, txn]{Key: s.key, Value: s.e})
		}
	}
	slices.SortFunc(out, cmpRollOut)
	return out, op
}

// rollCodecs encode the keys and elements of the rolling tests' checkpoints.
var rollCodecs = StateCodecs[string, txn]{UID: "r", Key: stringCodec{}, Value: txnCodec{}, Hash: HashString}

type stringCodec struct{}

func (stringCodec) Append(dst []byte, v string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(v))), v...)
}

func (stringCodec) Decode(src []byte) (string, int, error) {
	l, n := binary.Uvarint(src)
	if n <= 0 || uint64(len(src)-n) < l {
		return "", 0, errors.New("bad string")
	}
	return string(src[n : n+int(l)]), n + int(l), nil
}

type int64Codec struct{}

func (int64Codec) Append(dst []byte, v int64) []byte { return binary.AppendVarint(dst, v) }

func (int64Codec) Decode(src []byte) (int64, int, error) {
	v, n := binary.Varint(src)
	if n <= 0 {
		return 0, 0, errors.New("bad int64")
	}
	return v, n, nil
}

type txnCodec struct{}

func (txnCodec) Append(dst []byte, v txn) []byte {
	return binary.AppendVarint(binary.AppendVarint(dst, int64(v.ID)), v.V)
}

func (txnCodec) Decode(src []byte) (txn, int, error) {
	id, n := binary.Varint(src)
	if n <= 0 {
		return txn{}, 0, errors.New("bad txn")
	}
	v, m := binary.Varint(src[n:])
	if m <= 0 {
		return txn{}, 0, errors.New("bad txn")
	}
	return txn{ID: int(id), V: v}, n + m, nil
}

func randomRollScript(r *rand.Rand, n int) []rollStep {
	now := r.Int64N(400) - 200
	keys := []string{"a", "b", "c", "d"}[:1+r.IntN(4)]
	disorder := 1 + r.Int64N(30)
	var out []rollStep
	id := 0
	for range n {
		switch x := r.IntN(100); {
		case x < 2:
			out = append(out, rollStep{restore: true})
		case x < 70:
			id++
			ts := now - r.Int64N(disorder)
			if r.IntN(4) == 0 {
				ts = now // peers: several elements at one timestamp
			}
			out = append(out, rollStep{key: keys[r.IntN(len(keys))], ts: ts, e: txn{ID: id, V: r.Int64N(200) - 50}})
			now += r.Int64N(3)
		case x < 97:
			now += r.Int64N(5)
			out = append(out, rollStep{isWM: true, ts: now - r.Int64N(disorder+5)})
		default:
			now += 20 + r.Int64N(100)
			out = append(out, rollStep{isWM: true, ts: now - r.Int64N(10)})
		}
	}
	out = append(out, rollStep{isWM: true, ts: MaxTime})
	out = append(out, rollStep{key: keys[0], ts: now, e: txn{ID: id + 1, V: 1}}) // after the end: late
	return out
}

// TestRollingOpOracle checks every aggregate against a brute-force oracle on random streams: few
// keys, out-of-order and negative timestamps, peers, random ranges and irregular watermarks.
// Results must match per element (value, key, timestamp) and come out in the same step; late
// elements too. The operator is checkpointed and restored at random steps, which must change
// nothing. After the final watermark no state is left.
func TestRollingOpOracle(t *testing.T) {
	cases := 400
	if testing.Short() {
		cases = 60
	}
	for _, k := range rollKinds {
		t.Run(k.name, func(t *testing.T) {
			for c := range cases {
				r := rand.New(rand.NewPCG(uint64(c), 7))
				rng := 1 + r.Int64N(60)
				script := randomRollScript(r, 30+r.IntN(250))
				want := rollOracle(script, rng, k.oracle)
				got, op := runRolling(script, rng, k.new)
				if !rollEqual(got, want, k.exact) {
					t.Fatalf("case %d (range %d): outputs differ\n got %v\nwant %v", c, rng, got, want)
				}
				if op.Keys() != 0 || op.Pending() != 0 {
					t.Fatalf("case %d: state left after the final watermark: %d keys, %d pending", c, op.Keys(), op.Pending())
				}
			}
		})
	}
}

func rollEqual(got, want []rollOut, exact bool) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		gv, wv := g.Value, w.Value
		g.Value, w.Value = 0, 0
		if g != w {
			return false
		}
		if exact && gv != wv || !exact && math.Abs(gv-wv) > 1e-9*max(1, math.Abs(wv)) {
			return false
		}
	}
	return true
}

// TestRollingOpPeersAndBounds pins the semantics down on a small example: the range excludes its
// lower bound, peers see each other, arrival order does not matter, and late elements carry
// their reason.
func TestRollingOpPeersAndBounds(t *testing.T) {
	var out []rollOut
	stepNo := 0
	rec := rollRecorder{step: &stepNo, out: &out}
	op := &RollingOp[string, txn, float64]{Name: "r", T: NewTask("t", 0, 1), Range: 10,
		Store: floats(RollingSum(val))(), Out: rec, Late: rollLateRecorder{rec: rec}}
	op.Init()
	in := func(ts int64, id int, v int64) {
		op.Collect(ts, Keyed[string, txn]{Key: "k", Value: txn{ID: id, V: v}})
	}
	in(20, 1, 1)
	in(10, 2, 10) // out of order: processed first
	in(20, 3, 100)
	in(11, 4, 1000)
	op.Watermark(20)
	in(20, 5, 7) // at the watermark: late
	want := []rollOut{
		{ID: 2, Key: "k", TS: 10, Value: 10},
		{ID: 4, Key: "k", TS: 11, Value: 1010},
		{ID: 1, Key: "k", TS: 20, Value: 1101}, // (10, 20]: 11, 20, 20; not 10
		{ID: 3, Key: "k", TS: 20, Value: 1101}, // its peer sees it
	}
	got := out[:len(out)-1]
	slices.SortFunc(got, func(a, b rollOut) int { return cmp.Or(cmp.Compare(a.TS, b.TS), cmp.Compare(a.ID, b.ID)) })
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if l := out[len(out)-1]; !l.Late || l.ID != 5 || op.T.Counters.Late.Load() != 1 {
		t.Fatalf("the element at the watermark was not routed to Late: %v", out)
	}
}

// TestRollingOpDeadLetters checks that a panic in the aggregate's field function sends that
// element to the dead-letter route and leaves the others' results intact.
func TestRollingOpDeadLetters(t *testing.T) {
	var out []rollOut
	stepNo := 0
	rec := rollRecorder{step: &stepNo, out: &out}
	sum := RollingSum(func(e txn) float64 {
		if e.V < 0 {
			panic("negative amount")
		}
		return float64(e.V)
	})
	op := &RollingOp[string, txn, float64]{Name: "r", T: NewTask("t", 0, 1), Range: 100, Store: sum(), Out: rec,
		Late: Discard[LateElement[string, txn]]{}}
	op.Init()
	op.Collect(1, Keyed[string, txn]{Key: "k", Value: txn{ID: 1, V: 5}})
	op.Collect(2, Keyed[string, txn]{Key: "k", Value: txn{ID: 2, V: -1}})
	op.Collect(3, Keyed[string, txn]{Key: "k", Value: txn{ID: 3, V: 7}})
	op.Watermark(MaxTime)
	if len(out) != 2 || out[0].Value != 5 || out[1].Value != 12 || op.T.Counters.DeadLetters.Load() != 1 {
		t.Fatalf("got %v and %d dead letters, want results 5 and 12 and one dead letter", out, op.T.Counters.DeadLetters.Load())
	}
}

// TestRollingOpExpiresIdleKeys checks that a key's state goes once the watermark is a range past
// its newest element, while an active key keeps its state.
func TestRollingOpExpiresIdleKeys(t *testing.T) {
	op := &RollingOp[string, txn, int64]{Name: "r", T: NewTask("t", 0, 1), Range: 100, Store: RollingCount[txn]()(),
		Out: Discard[Rolled[string, txn, int64]]{}, Late: Discard[LateElement[string, txn]]{}}
	op.Init()
	op.Collect(10, Keyed[string, txn]{Key: "idle", Value: txn{}})
	for ts := int64(10); ts < 500; ts += 10 {
		op.Collect(ts, Keyed[string, txn]{Key: "busy", Value: txn{}})
		op.Watermark(ts)
	}
	if op.Keys() != 1 {
		t.Fatalf("%d keys, want only the busy one", op.Keys())
	}
}

// TestRollingOpZeroAllocs checks that sum and count cost no allocation per record in steady
// state, over many keys.
func TestRollingOpZeroAllocs(t *testing.T) {
	for name, newState := range map[string]func() RollingStore[int64, int64]{
		"sum":   RollingSum(func(v int64) int64 { return v }),
		"count": RollingCount[int64](),
	} {
		t.Run(name, func(t *testing.T) {
			op := &RollingOp[string, int64, int64]{Name: "r", T: NewTask("t", 0, 1), Range: 1000, Store: newState(),
				Out: Discard[Rolled[string, int64, int64]]{}, Late: Discard[LateElement[string, int64]]{}}
			op.Init()
			keys := make([]string, 500)
			for i := range keys {
				keys[i] = "k" + strconv.Itoa(i)
			}
			ts := int64(0)
			feed := func() {
				for i := range 4000 {
					op.Collect(ts+int64(i%7), Keyed[string, int64]{Key: keys[(i*13)%len(keys)], Value: int64(i)})
					if i%4 == 0 {
						ts++
					}
					if i%256 == 255 {
						op.Watermark(ts - 10)
					}
				}
			}
			for range 100 {
				feed()
			}
			if a := testing.AllocsPerRun(10, feed); a > 0 {
				t.Fatalf("%.1f allocations per 4000 records, want 0", a)
			}
		})
	}
}

// TestRollingSumStateIs32Bytes: a rolling sum's per-key state fills half a cache line, so that
// no key's state straddles two lines (rollRing's header is kept to 24 bytes for it).
func TestRollingSumStateIs32Bytes(t *testing.T) {
	if n := unsafe.Sizeof(sumState[int64]{}); n != 32 {
		t.Fatalf("sumState[int64] is %d bytes, want 32", n)
	}
	if n := unsafe.Sizeof(sumState[float64]{}); n != 32 {
		t.Fatalf("sumState[float64] is %d bytes, want 32", n)
	}
}

// TestRollingExpiryTime: a key's expiry is never before its newest element's range has passed,
// and at most a grain (1/64 of the range) after; far times saturate at MaxTime.
func TestRollingExpiryTime(t *testing.T) {
	for _, rng := range []int64{1, 63, 64, 1000, 30 * 60_000} {
		o := &RollingOp[string, int64, int64]{Range: rng}
		g := expiryGrain(rng)
		if g < 1 || g&(g-1) != 0 || (rng >= 128 && g > rng/64) {
			t.Fatalf("range %d: grain %d", rng, g)
		}
		for _, newest := range []int64{-1_000_003, -1, 0, 1, 12_345, 1 << 40} {
			exact := newest + rng - 1
			got := o.expiryTime(newest)
			if got < exact || got >= exact+g || got%g != 0 {
				t.Fatalf("range %d, newest %d: expiry %d, want a multiple of %d in [%d, %d)", rng, newest, got, g, exact, exact+g)
			}
		}
		if got := o.expiryTime(MaxTime - 1); got < MaxTime-1 { // saturates instead of overflowing
			t.Fatalf("range %d: expiry near MaxTime = %d", rng, got)
		}
	}
}
