package sluice_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/sluicetest"
	"github.com/sluicehq/sluice/watermark"
)

// tally keeps per key a running count (value state), sums by parity (map state) and the last
// three values (list state). Each element moves an event-time timer to 50 ms after it, which
// reports the whole state, and the first element after a report arms a processing-time timer
// 30 ms later, which reports too.
func tally(s *sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, string] {
	count := sluice.NewValueState[int64](s, "count")
	timer := sluice.NewValueState[int64](s, "timer")
	sums := sluice.NewMapState[bool, int64](s, "sums")
	recent := sluice.NewListState[int64](s, "recent")
	tick := sluice.NewValueState[bool](s, "tick")
	report := func(ctx *sluice.KeyedContext[string, string], what string) {
		n, _ := count.Value()
		even, _ := sums.Get(true)
		odd, _ := sums.Get(false)
		ctx.Emit(fmt.Sprintf("%s %s@%d n=%d even=%d odd=%d recent=%v", ctx.Key(), what, ctx.Timestamp(), n, even, odd, recent.Get()))
	}
	return sluice.ProcessFuncs[string, procEvent, string]{
		Element: func(ctx *sluice.KeyedContext[string, string], e procEvent) error {
			n, _ := count.Value()
			count.Update(n + 1)
			sum, _ := sums.Get(e.N%2 == 0)
			sums.Put(e.N%2 == 0, sum+e.N)
			recent.Add(e.N)
			if r := recent.Get(); len(r) > 3 {
				recent.Update(r[1:])
			}
			if at, ok := timer.Value(); ok {
				ctx.DeleteEventTimeTimer(at)
			}
			timer.Update(e.At + 50)
			ctx.RegisterEventTimeTimer(e.At + 50)
			if armed, _ := tick.Value(); !armed {
				tick.Update(true)
				ctx.RegisterProcessingTimeTimer(ctx.CurrentProcessingTime() + 30)
			}
			ctx.Emit(fmt.Sprintf("%s n=%d", ctx.Key(), n+1))
			return nil
		},
		Timer: func(ctx *sluice.KeyedContext[string, string], ts int64) error {
			if ctx.TimeDomain() == sluice.ProcessingTimeDomain {
				tick.Clear()
				report(ctx, "tick")
				return nil
			}
			timer.Clear()
			report(ctx, "idle")
			return nil
		},
	}
}

// runTally drives tally over a script, optionally with SnapshotRestore between every two calls.
func runTally(t *testing.T, parallelism int, restart bool) []string {
	t.Helper()
	p := sluice.NewPipeline("tally")
	in := sluicetest.NewInput[procEvent](p, "events")
	out := sluicetest.Capture(sluice.Process(sluice.KeyBy(in.Stream(), func(e procEvent) string { return e.User }), tally).UID("tally"))
	d, err := sluicetest.NewDriver(p, sluicetest.Parallelism(parallelism), sluicetest.StartTime(1_000))
	if err != nil {
		t.Fatal(err)
	}
	step := func(f func() error) {
		t.Helper()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		if restart {
			if err := d.SnapshotRestore(); err != nil {
				t.Fatal(err)
			}
		}
	}
	at, now := int64(0), int64(1_000)
	for i := range 400 {
		at += int64(i % 4 * 7)
		e := procEvent{User: fmt.Sprintf("u%02d", i*7%23), N: int64(i % 10), At: at}
		step(func() error { return in.Push(e.At, e) })
		if i%10 == 9 {
			step(func() error { return d.AdvanceWatermark(at - 20) })
		}
		if i%7 == 6 {
			now += 13
			step(func() error { return d.AdvanceProcessingTime(now) })
		}
	}
	step(func() error { return d.AdvanceProcessingTime(now + 1_000) })
	if err := d.End(); err != nil {
		t.Fatal(err)
	}
	return out.Values()
}

// TestProcessSnapshotRestoreBetweenEveryElement: a process function's values, maps, lists and
// timers survive a checkpoint and restart between every two steps: the output is the same as
// without restarts.
func TestProcessSnapshotRestoreBetweenEveryElement(t *testing.T) {
	for _, par := range []int{1, 3} {
		want := runTally(t, par, false)
		got := runTally(t, par, true)
		var ticks, idles int
		for _, r := range want {
			ticks += strings.Count(r, " tick@")
			idles += strings.Count(r, " idle@")
		}
		if ticks == 0 || idles == 0 {
			t.Fatalf("parallelism %d: the script fires no timers (%d ticks, %d idles)", par, ticks, idles)
		}
		if !slices.Equal(got, want) {
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Fatalf("parallelism %d: record %d is %q with restarts, %q without", par, i, got[i], want[i])
				}
			}
			t.Fatalf("parallelism %d: %d records with restarts, %d without", par, len(got), len(want))
		}
	}
}

type opaque struct {
	Name string
	hook func() //lint:ignore U1000 present on purpose: a func field cannot be encoded
}

// TestProcessUnencodableStateFailsOnlyCheckpoints: a state type the codecs cannot encode runs
// fine; the first checkpoint fails with an error naming the operator, the state and the type.
func TestProcessUnencodableStateFailsOnlyCheckpoints(t *testing.T) {
	p := sluice.NewPipeline("opaque")
	in := sluicetest.NewInput[procEvent](p, "events")
	s := sluice.Process(sluice.KeyBy(in.Stream(), func(e procEvent) string { return e.User }),
		func(s *sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, string] {
			last := sluice.NewValueState[opaque](s, "last")
			return sluice.ProcessFuncs[string, procEvent, string]{Element: func(ctx *sluice.KeyedContext[string, string], e procEvent) error {
				prev, _ := last.Value()
				last.Update(opaque{Name: e.User})
				ctx.Emit(prev.Name)
				return nil
			}}
		}).UID("opaque").Name("keeper")
	out := sluicetest.Capture(s)
	d, err := sluicetest.NewDriver(p)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := in.Push(1, procEvent{User: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := out.Values(); !slices.Equal(got, []string{"", "a"}) {
		t.Fatalf("got %q", got)
	}
	err = d.SnapshotRestore()
	for _, want := range []string{`operator "keeper"`, `value state "last"`, "sluice_test.opaque"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("SnapshotRestore() = %v, want an error naming %s", err, want)
		}
	}
}

// TestStateTTLEndToEnd: entries expire after their TTL of processing time (the driver's clock),
// also across a checkpoint and restart.
func TestStateTTLEndToEnd(t *testing.T) {
	p := sluice.NewPipeline("ttl")
	in := sluicetest.NewInput[procEvent](p, "events")
	s := sluice.Process(sluice.KeyBy(in.Stream(), func(e procEvent) string { return e.User }),
		func(s *sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, string] {
			last := sluice.NewValueState[int64](s, "last", sluice.StateTTL(100*time.Millisecond))
			seen := sluice.NewMapState[int64, bool](s, "seen", sluice.StateTTL(100*time.Millisecond), sluice.StateTTLOnReadAndWrite())
			vals := sluice.NewListState[int64](s, "vals", sluice.StateTTL(150*time.Millisecond))
			return sluice.ProcessFuncs[string, procEvent, string]{Element: func(ctx *sluice.KeyedContext[string, string], e procEvent) error {
				prev, ok := last.Value()
				_, known := seen.Get(e.N)
				ctx.Emit(fmt.Sprintf("last=%d/%v known=%v vals=%v", prev, ok, known, vals.Get()))
				if e.At == 1 {
					last.Update(e.N)
					seen.Put(e.N, true)
					vals.Add(e.N)
				}
				return nil
			}}
		}).UID("ttl")
	out := sluicetest.Capture(s)
	d, err := sluicetest.NewDriver(p, sluicetest.StartTime(1_000))
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		now   int64
		n     int64
		write bool
		want  string
	}{
		{1_000, 1, true, "last=0/false known=false vals=[]"},
		{1_050, 2, true, "last=1/true known=false vals=[1]"},
		{1_090, 1, false, "last=2/true known=true vals=[1 2]"}, // seen: reading 1 refreshes it
		{1_100, 2, false, "last=2/true known=true vals=[1 2]"},
		{1_150, 0, false, "last=0/false known=false vals=[2]"}, // last written at 1050, 1 added at 1000
		{1_189, 1, false, "last=0/false known=true vals=[2]"},  // 1 was read at 1090
		{1_200, 2, false, "last=0/false known=false vals=[]"},  // 2 was read at 1100
		{1_288, 1, false, "last=0/false known=true vals=[]"},
		{1_400, 1, false, "last=0/false known=false vals=[]"},
	}
	for i, s := range steps {
		if err := d.AdvanceProcessingTime(s.now); err != nil {
			t.Fatal(err)
		}
		if err := d.SnapshotRestore(); err != nil {
			t.Fatal(err)
		}
		e := procEvent{User: "a", N: s.n}
		if s.write {
			e.At = 1
		}
		if err := in.Push(0, e); err != nil {
			t.Fatal(err)
		}
		got := out.Drain()
		if len(got) != 1 || got[0] != s.want {
			t.Fatalf("step %d at %d: got %q, want %q", i, s.now, got, s.want)
		}
	}
	if err := d.End(); err != nil {
		t.Fatal(err)
	}
}

func TestStateTTLMisconfigurationFailsTheRun(t *testing.T) {
	for name, c := range map[string]struct {
		opts []sluice.StateOption
		want string
	}{
		"zero":       {[]sluice.StateOption{sluice.StateTTL(0)}, `operator "ttl": value state "v": the time to live must be positive`},
		"read alone": {[]sluice.StateOption{sluice.StateTTLOnReadAndWrite()}, `operator "ttl": value state "v": StateTTLOnReadAndWrite needs StateTTL`},
	} {
		p := sluice.NewPipeline("ttl")
		sluice.SinkTo(sluice.Process(procSource(p, []procEvent{{"a", 1, 1}}), func(s *sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, int64] {
			sluice.NewValueState[int64](s, "v", c.opts...)
			return sluice.ProcessFuncs[string, procEvent, int64]{Element: func(*sluice.KeyedContext[string, int64], procEvent) error { return nil }}
		}).UID("ttl").Name("ttl"), &procCollect[int64]{})
		err := engine.Run(context.Background(), p, engine.Parallelism(1))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Run() = %v, want %s", name, err, c.want)
		}
	}
}

// pausing is a replayable source of n events over 13 users. With pause set, it stops before
// event pause until a checkpoint taken there has completed, so the checkpoint's position is known.
type pausing struct {
	n, pause int
	done     *atomic.Int64 // completed checkpoints
}

func pausingEvent(i int) procEvent {
	return procEvent{User: fmt.Sprintf("u%02d", i*5%13), N: int64(i), At: int64(i)}
}

func (p *pausing) Open(context.Context) ([]sluice.SplitReader[procEvent], error) {
	return []sluice.SplitReader[procEvent]{&pausingSplit{p: p, waitFor: -1}}, nil
}

type pausingSplit struct {
	p       *pausing
	next    int
	waitFor int64
}

func (s *pausingSplit) Read(ctx context.Context, dst []procEvent) ([]procEvent, error) {
	if s.next == s.p.pause && s.waitFor != 0 {
		if s.waitFor < 0 {
			// The second checkpoint to complete from now was triggered while the source waits here.
			s.waitFor = s.p.done.Load() + 2
		}
		if s.p.done.Load() < s.waitFor {
			select {
			case <-ctx.Done():
				return dst, ctx.Err()
			case <-time.After(2 * time.Millisecond): // poll, so checkpoints can happen meanwhile
				return dst, nil
			}
		}
		s.waitFor = 0
	}
	for len(dst) < cap(dst) && s.next < s.p.n && (s.next != s.p.pause || s.waitFor == 0) {
		dst = append(dst, pausingEvent(s.next))
		s.next++
	}
	if s.next >= s.p.n {
		return dst, io.EOF
	}
	return dst, nil
}

func (s *pausingSplit) Close() error { return nil }

func (s *pausingSplit) Position() ([]byte, error) { return fmt.Appendf(nil, "%d", s.next), nil }

func (s *pausingSplit) Seek(pos []byte) error {
	_, err := fmt.Sscanf(string(pos), "%d", &s.next)
	return err
}

type countOut struct {
	User  string
	N     int64
	Final bool
}

// countPipeline counts events per user, emitting each running count, and, from an event-time
// timer far in the future that fires at the end of the input, the final count. With crashAt >= 0
// the function panics at that event.
func countPipeline(src sluice.Source[procEvent], crashAt int64, out *procCollect[countOut]) *sluice.Pipeline {
	p := sluice.NewPipeline("restart")
	s := sluice.FromSource(p, src, sluice.EventTimeMillis(func(e procEvent) int64 { return e.At }, watermark.Monotonic()),
		sluice.SourceBatchSize[procEvent](20))
	k := sluice.KeyBy(s, func(e procEvent) string { return e.User })
	sluice.SinkTo(sluice.Process(k, func(s *sluice.StateStore) sluice.KeyedProcessFunction[string, procEvent, countOut] {
		count := sluice.NewValueState[int64](s, "count")
		return sluice.ProcessFuncs[string, procEvent, countOut]{
			Element: func(ctx *sluice.KeyedContext[string, countOut], e procEvent) error {
				if e.N == crashAt {
					panic("crash")
				}
				n, _ := count.Value()
				count.Update(n + 1)
				ctx.Emit(countOut{User: ctx.Key(), N: n + 1})
				ctx.RegisterEventTimeTimer(1 << 40)
				return nil
			},
			Timer: func(ctx *sluice.KeyedContext[string, countOut], ts int64) error {
				n, _ := count.Value()
				ctx.Emit(countOut{User: ctx.Key(), N: n, Final: true})
				return nil
			},
		}
	}).UID("counts"), out)
	return p
}

// TestProcessStateAcrossEngineRestart: a run fails midway, after a checkpoint; the next run (with
// another parallelism) restores the process function's state and timers from it and carries on:
// each user's running counts continue exactly where the checkpoint left them and end at the right
// total, and the timers fire once per user, at the end.
func TestProcessStateAcrossEngineRestart(t *testing.T) {
	const n, crashAt = 3000, 1700
	dir := t.TempDir()
	var done atomic.Int64
	onCkpt := engine.OnCheckpoint(func(int64) { done.Add(1) })

	out1 := &procCollect[countOut]{}
	err := engine.Run(context.Background(), countPipeline(&pausing{n: n, pause: crashAt, done: &done}, crashAt, out1),
		engine.Parallelism(2), engine.FailFast(), engine.Checkpointing(dir, 10*time.Millisecond), onCkpt)
	if err == nil || !strings.Contains(err.Error(), "crash") {
		t.Fatalf("first run: %v, want the crash", err)
	}
	out2 := &procCollect[countOut]{}
	if err := engine.Run(context.Background(), countPipeline(&pausing{n: n, pause: -1, done: &done}, -1, out2),
		engine.Parallelism(3), engine.FailFast(), engine.Checkpointing(dir, 10*time.Millisecond), onCkpt); err != nil {
		t.Fatalf("second run: %v", err)
	}

	total, before := map[string]int64{}, map[string]int64{}
	for i := range n {
		total[pausingEvent(i).User]++
		if i < crashAt {
			before[pausingEvent(i).User]++
		}
	}
	counts := func(out *procCollect[countOut]) (map[string][]int64, map[string][]int64) {
		running, final := map[string][]int64{}, map[string][]int64{}
		for _, r := range out.got {
			if r.Final {
				final[r.User] = append(final[r.User], r.N)
			} else {
				running[r.User] = append(running[r.User], r.N)
			}
		}
		return running, final
	}
	run1, final1 := counts(out1)
	run2, final2 := counts(out2)
	if len(final1) != 0 {
		t.Fatalf("final counts in the failed run: %v", final1)
	}
	for u, want := range total {
		// The checkpoint was taken before event crashAt: the second run restores the count of
		// the events before it and counts the rest. (The first run may have counted a few more,
		// in the other subtasks, before the crash stopped it: the sink is at least once.)
		var w2 []int64
		for i := before[u] + 1; i <= want; i++ {
			w2 = append(w2, i)
		}
		c1 := run1[u]
		if !slices.Equal(run2[u], w2) || int64(len(c1)) < before[u] {
			t.Fatalf("%s: counts %v after the failure, want %v (%d counts before, want at least %d)", u, run2[u], w2, len(c1), before[u])
		}
		for i, c := range c1 {
			if c != int64(i+1) {
				t.Fatalf("%s: first run counts %v", u, c1)
			}
		}
		if !slices.Equal(final2[u], []int64{want}) {
			t.Fatalf("%s: final %v, want [%d]", u, final2[u], want)
		}
	}
}
