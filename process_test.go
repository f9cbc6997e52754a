package sluice_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/sluicetest"
	"github.com/sluicehq/sluice/watermark"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type procEvent struct {
	User string
	N    int64
	At   int64
}

// procCollect is a sink that keeps what it receives.
type procCollect[T any] struct {
	mu  sync.Mutex
	got []T
}

func (c *procCollect[T]) Write(v T) error {
	c.mu.Lock()
	c.got = append(c.got, v)
	c.mu.Unlock()
	return nil
}

func (c *procCollect[T]) Close() error { return nil }

func procSource(p *sluice.Pipeline, evs []procEvent) sluice.KeyedStream[string, procEvent] {
	s := sluice.FromSlice(p, evs, sluice.EventTimeMillis(func(e procEvent) int64 { return e.At }, watermark.Monotonic()))
	return sluice.KeyBy(s, func(e procEvent) string { return e.User })
}

func runProc(t *testing.T, p *sluice.Pipeline) {
	t.Helper()
	if err := engine.Run(context.Background(), p, engine.Parallelism(2), engine.BatchSize(7)); err != nil {
		t.Fatal(err)
	}
}

// runningCount emits the running count of events per user.
func runningCount(s *sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, sluice.Keyed[string, int64]] {
	count := sluice.NewValueState[int64](s, "count")
	return sluice.ProcessFuncs[string, procEvent, sluice.Keyed[string, int64]]{
		Element: func(ctx *sluice.KeyedContext[string, sluice.Keyed[string, int64]], e procEvent) error {
			n, _ := count.Value()
			count.Update(n + 1)
			ctx.Emit(sluice.Keyed[string, int64]{Key: ctx.Key(), Value: n + 1})
			return nil
		},
	}
}

func TestProcessRunningCount(t *testing.T) {
	users := []string{"ann", "bob", "cy", "dee", "eve"}
	var evs []procEvent
	for i := range 1000 {
		evs = append(evs, procEvent{User: users[i*i%len(users)], At: int64(i)})
	}
	p := sluice.NewPipeline("count")
	out := &procCollect[sluice.Keyed[string, int64]]{}
	sluice.SinkTo(sluice.Process(procSource(p, evs), runningCount).UID("count"), out)
	runProc(t, p)

	want := map[string]int64{}
	for _, e := range evs {
		want[e.User]++
	}
	last := map[string]int64{}
	for _, r := range out.got {
		if r.Value != last[r.Key]+1 {
			t.Fatalf("%s: count %d after %d: a key's counts must arrive in order", r.Key, r.Value, last[r.Key])
		}
		last[r.Key] = r.Value
	}
	if len(out.got) != len(evs) || len(last) != len(want) {
		t.Fatalf("got %d results for %d keys, want %d for %d", len(out.got), len(last), len(evs), len(want))
	}
	for u, n := range want {
		if last[u] != n {
			t.Errorf("%s: final count %d, want %d", u, last[u], n)
		}
	}
}

// sessionEnd emits, per user, each run of events separated by less than gap with its end: it keeps
// the run in a ListState and moves one event-time timer along (deleting the previous one). A
// deleted timer that fired anyway would emit a run twice.
func sessionEnd(gap int64) func(s *sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, string] {
	return func(s *sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, string] {
		run := sluice.NewListState[int64](s, "run")
		timer := sluice.NewValueState[int64](s, "timer")
		return sluice.ProcessFuncs[string, procEvent, string]{
			Element: func(ctx *sluice.KeyedContext[string, string], e procEvent) error {
				if at, ok := timer.Value(); ok {
					// Elements may arrive before the watermark that fires the timer: close the
					// previous run here then, so the output does not depend on batching.
					if at <= ctx.Timestamp() {
						ctx.EmitAt(at, fmt.Sprintf("%s%v@%d", ctx.Key(), run.Get(), at))
						run.Clear()
					}
					ctx.DeleteEventTimeTimer(at)
				}
				run.Add(ctx.Timestamp())
				timer.Update(ctx.Timestamp() + gap)
				ctx.RegisterEventTimeTimer(ctx.Timestamp() + gap)
				return nil
			},
			Timer: func(ctx *sluice.KeyedContext[string, string], ts int64) error {
				if ctx.TimeDomain() != sluice.EventTimeDomain || ctx.CurrentWatermark() < ts {
					return fmt.Errorf("timer %d fired in %v at watermark %d", ts, ctx.TimeDomain(), ctx.CurrentWatermark())
				}
				ctx.Emit(fmt.Sprintf("%s%v@%d", ctx.Key(), run.Get(), ts))
				run.Clear()
				timer.Clear()
				return nil
			},
		}
	}
}

func TestProcessEventTimeTimersEndToEnd(t *testing.T) {
	evs := []procEvent{
		{"a", 0, 0}, {"b", 0, 5}, {"a", 0, 50}, {"a", 0, 200}, {"b", 0, 300}, {"a", 0, 320}, {"a", 0, 1000},
	}
	p := sluice.NewPipeline("sessions")
	out := &procCollect[string]{}
	sluice.SinkTo(sluice.Process(procSource(p, evs), sessionEnd(100)).UID("sessions"), out)
	runProc(t, p)
	slices.Sort(out.got)
	// The last timers (a@1100, b@400) fire at the latest at the end of input (watermark +∞).
	want := []string{"a[0 50]@150", "a[1000]@1100", "a[200]@300", "a[320]@420", "b[300]@400", "b[5]@105"}
	if !slices.Equal(out.got, want) {
		t.Fatalf("got %q, want %q", out.got, want)
	}
}

type alert struct {
	User string
	N    int64
}

func TestProcessSideOutputsTyped(t *testing.T) {
	odd := sluice.NewOutputTag[string]("odd")
	big := sluice.NewOutputTag[alert]("big")
	unread := sluice.NewOutputTag[int]("unread") // emitted to, never consumed: counted, not an error
	var evs []procEvent
	for i := range 100 {
		evs = append(evs, procEvent{User: fmt.Sprint("u", i%3), N: int64(i), At: int64(i)})
	}
	p := sluice.NewPipeline("sides")
	main := sluice.Process(procSource(p, evs), func(s *sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, int64] {
		return sluice.ProcessFuncs[string, procEvent, int64]{
			Element: func(ctx *sluice.KeyedContext[string, int64], e procEvent) error {
				switch {
				case e.N >= 95:
					big.Emit(ctx, alert{User: ctx.Key(), N: e.N})
				case e.N%2 == 1:
					odd.Emit(ctx, fmt.Sprintf("%s:%d@%d", ctx.Key(), e.N, ctx.Timestamp()))
				default:
					ctx.Emit(e.N)
				}
				unread.Emit(ctx, 1)
				return nil
			},
		}
	}).UID("split")
	mainOut, oddOut, bigOut := &procCollect[int64]{}, &procCollect[string]{}, &procCollect[alert]{}
	sluice.SinkTo(main, mainOut)
	sluice.SinkTo(sluice.SideOutput(main, odd), oddOut)
	sluice.SinkTo(sluice.SideOutput(main, big), bigOut)
	runProc(t, p)

	slices.Sort(mainOut.got)
	slices.Sort(oddOut.got)
	slices.SortFunc(bigOut.got, func(a, b alert) int { return int(a.N - b.N) })
	if len(mainOut.got) != 48 || mainOut.got[0] != 0 || mainOut.got[47] != 94 {
		t.Errorf("main output: %v", mainOut.got)
	}
	if len(oddOut.got) != 47 || oddOut.got[0] != "u0:15@15" {
		t.Errorf("odd side output: %d records, first %q", len(oddOut.got), oddOut.got[0])
	}
	if want := []alert{{"u2", 95}, {"u0", 96}, {"u1", 97}, {"u2", 98}, {"u0", 99}}; !slices.Equal(bigOut.got, want) {
		t.Errorf("big side output: %v, want %v", bigOut.got, want)
	}
}

func TestProcessPanicGoesToDeadLetters(t *testing.T) {
	evs := []procEvent{{"a", 1, 1}, {"b", 13, 2}, {"a", 2, 3}, {"b", 3, 4}}
	p := sluice.NewPipeline("dlq")
	main := sluice.Process(procSource(p, evs), func(s *sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, int64] {
		return sluice.ProcessFuncs[string, procEvent, int64]{
			Element: func(ctx *sluice.KeyedContext[string, int64], e procEvent) error {
				switch e.N {
				case 13:
					panic("unlucky")
				case 3:
					return errors.New("three is refused")
				}
				ctx.Emit(e.N)
				return nil
			},
		}
	}).UID("picky").Name("picky")
	out, dlq := &procCollect[int64]{}, &procCollect[sluice.DeadLetter]{}
	sluice.SinkTo(main, out)
	sluice.SinkTo(p.DeadLetters(), dlq)
	runProc(t, p)

	slices.Sort(out.got)
	if !slices.Equal(out.got, []int64{1, 2}) {
		t.Fatalf("main output %v, want [1 2]: the pipeline must go on after a failure", out.got)
	}
	slices.SortFunc(dlq.got, func(a, b sluice.DeadLetter) int { return int(a.Timestamp - b.Timestamp) })
	if len(dlq.got) != 2 {
		t.Fatalf("got %d dead letters, want 2: %+v", len(dlq.got), dlq.got)
	}
	for i, want := range []struct {
		reason string
		rec    procEvent
	}{{"panic: unlucky", evs[1]}, {"three is refused", evs[3]}} {
		d := dlq.got[i]
		if d.Operator != "picky" || d.Reason != want.reason || d.Record != want.rec {
			t.Errorf("dead letter %d: %+v, want operator picky, reason %q, record %+v", i, d, want.reason, want.rec)
		}
	}
}

func TestProcessProcessingTimeTimersWithTestDriver(t *testing.T) {
	p := sluice.NewPipeline("proc-time")
	in := sluicetest.NewInput[procEvent](p, "events")
	k := sluice.KeyBy(in.Stream(), func(e procEvent) string { return e.User })
	timeouts := sluice.Process(k, func(s *sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, string] {
		seen := sluice.NewMapState[int64, bool](s, "seen")
		return sluice.ProcessFuncs[string, procEvent, string]{
			Element: func(ctx *sluice.KeyedContext[string, string], e procEvent) error {
				seen.Put(e.N, true)
				ctx.RegisterProcessingTimeTimer(ctx.CurrentProcessingTime() + 100)
				return nil
			},
			Timer: func(ctx *sluice.KeyedContext[string, string], ts int64) error {
				ctx.Emit(fmt.Sprintf("%s %v %d@%d", ctx.Key(), ctx.TimeDomain(), seen.Len(), ctx.Timestamp()))
				seen.Clear()
				return nil
			},
		}
	}).UID("timeouts")
	out := sluicetest.Capture(timeouts)
	d, err := sluicetest.NewDriver(p, sluicetest.StartTime(1_000))
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		push []procEvent
		now  int64
		want []string
	}{
		{push: []procEvent{{"a", 1, 0}, {"a", 2, 0}, {"b", 1, 0}}, now: 1_099, want: nil},
		{now: 1_100, want: []string{"a processing_time 2@1100", "b processing_time 1@1100"}},
		{push: []procEvent{{"a", 3, 0}}, now: 1_150},
		{now: 1_250, want: []string{"a processing_time 1@1200"}},
	}
	for i, s := range steps {
		for _, e := range s.push {
			if err := in.Push(e.At, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.AdvanceProcessingTime(s.now); err != nil {
			t.Fatal(err)
		}
		got := out.Drain()
		slices.Sort(got)
		if !slices.Equal(got, s.want) {
			t.Fatalf("step %d at %d: got %q, want %q", i, s.now, got, s.want)
		}
	}
	if err := d.End(); err != nil {
		t.Fatal(err)
	}
}

func TestProcessMissingUIDNamesTheOperator(t *testing.T) {
	p := sluice.NewPipeline("no-uid")
	sluice.SinkTo(sluice.Process(procSource(p, nil), runningCount).Name("counter"), &procCollect[sluice.Keyed[string, int64]]{})
	_, err := p.Plan()
	if err == nil || !strings.Contains(err.Error(), `"counter"`) || !strings.Contains(err.Error(), "UID") {
		t.Fatalf("Plan() = %v, want an error naming operator \"counter\" and its missing UID", err)
	}
}

func TestProcessDuplicateStateFailsTheRun(t *testing.T) {
	p := sluice.NewPipeline("dup")
	s := sluice.Process(procSource(p, []procEvent{{"a", 1, 1}}), func(s *sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, int64] {
		sluice.NewValueState[int64](s, "n")
		sluice.NewMapState[string, int64](s, "n")
		return sluice.ProcessFuncs[string, procEvent, int64]{Element: func(*sluice.KeyedContext[string, int64], procEvent) error { return nil }}
	}).UID("dup").Name("dupper")
	sluice.SinkTo(s, &procCollect[int64]{})
	err := engine.Run(context.Background(), p, engine.Parallelism(1))
	if err == nil || !strings.Contains(err.Error(), `operator "dupper": state "n" is declared twice`) {
		t.Fatalf("Run() = %v, want a duplicate-state error naming the operator and the state", err)
	}
}

func TestProcessConstructorFailuresFailTheRun(t *testing.T) {
	for name, newFn := range map[string]func(*sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, int64]{
		"panicked":     func(*sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, int64] { panic("no config") },
		"returned nil": func(*sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, int64] { return nil },
		"Element is nil": func(*sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, int64] {
			return sluice.ProcessFuncs[string, procEvent, int64]{}
		},
	} {
		p := sluice.NewPipeline("ctor")
		sluice.SinkTo(sluice.Process(procSource(p, []procEvent{{"a", 1, 1}}), newFn).UID("c").Name("ctor"), &procCollect[int64]{})
		err := engine.Run(context.Background(), p, engine.Parallelism(1))
		if err == nil || !strings.Contains(err.Error(), `operator "ctor"`) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: Run() = %v, want an error naming the operator", name, err)
		}
	}
}

func TestSideOutputBuildErrors(t *testing.T) {
	tag := sluice.NewOutputTag[string]("x")
	p := sluice.NewPipeline("side-errors")
	k := procSource(p, nil)
	proc := sluice.Process(k, runningCount).UID("count")
	sluice.SinkTo(proc, &procCollect[sluice.Keyed[string, int64]]{})
	mapped := sluice.Map(proc, func(r sluice.Keyed[string, int64]) int64 { return r.Value }).Name("values")
	sluice.SinkTo(sluice.SideOutput(mapped, tag), &procCollect[string]{})
	sluice.SinkTo(sluice.SideOutput(proc, tag), &procCollect[string]{})
	sluice.SinkTo(sluice.SideOutput(proc, sluice.NewOutputTag[int]("x")), &procCollect[int]{})
	sluice.SinkTo(sluice.SideOutput(proc, sluice.OutputTag[int]{}), &procCollect[int]{})
	_, err := p.Plan()
	if err == nil {
		t.Fatal("Plan() succeeded")
	}
	for _, want := range []string{
		`side output "x": operator "values" is not a keyed process function`,
		`side output "x" is used with types string and int`,
		`an output tag has an empty id`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Plan() = %v\nwant it to contain %q", err, want)
		}
	}
}

func TestProcessEndOfInputFiresTimersAtMaxWatermark(t *testing.T) {
	p := sluice.NewPipeline("eoi")
	s := sluice.Process(procSource(p, []procEvent{{"a", 1, 10}}), func(s *sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, int64] {
		return sluice.ProcessFuncs[string, procEvent, int64]{
			Element: func(ctx *sluice.KeyedContext[string, int64], e procEvent) error {
				ctx.RegisterEventTimeTimer(math.MaxInt64 - 1)
				return nil
			},
			Timer: func(ctx *sluice.KeyedContext[string, int64], ts int64) error {
				ctx.EmitAt(ctx.CurrentWatermark(), ts)
				return nil
			},
		}
	}).UID("eoi")
	out := &procCollect[int64]{}
	sluice.SinkTo(s, out)
	runProc(t, p)
	if !slices.Equal(out.got, []int64{math.MaxInt64 - 1}) {
		t.Fatalf("got %v, want the timer fired by the final +∞ watermark", out.got)
	}
}

func TestOutputTagTypeMismatchIsADeadLetter(t *testing.T) {
	p := sluice.NewPipeline("mismatch")
	main := sluice.Process(procSource(p, []procEvent{{"a", 1, 1}}), func(s *sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, int64] {
		return sluice.ProcessFuncs[string, procEvent, int64]{
			Element: func(ctx *sluice.KeyedContext[string, int64], e procEvent) error {
				sluice.NewOutputTag[int]("x").Emit(ctx, 1) // the consumer below reads "x" as strings
				return nil
			},
		}
	}).UID("m").Name("m")
	sluice.SinkTo(main, &procCollect[int64]{})
	side, dlq := &procCollect[string]{}, &procCollect[sluice.DeadLetter]{}
	sluice.SinkTo(sluice.SideOutput(main, sluice.NewOutputTag[string]("x")), side)
	sluice.SinkTo(p.DeadLetters(), dlq)
	runProc(t, p)
	if len(side.got) != 0 || len(dlq.got) != 1 || dlq.got[0].Operator != "m" ||
		!strings.Contains(dlq.got[0].Reason, `side output "x" carries string, not int`) {
		t.Fatalf("side %v, dead letters %+v", side.got, dlq.got)
	}
}
