package generator_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/connector/generator"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock advances only when a reader sleeps on it, and records every sleep.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	return nil
}

// takeSleeps returns the sleeps since the last call.
func (c *fakeClock) takeSleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.slept
	c.slept = nil
	return s
}

func open[T any](t *testing.T, src *generator.Source[T]) []sluice.SplitReader[T] {
	t.Helper()
	splits, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return splits
}

// drain reads a bounded split to its end.
func drain[T any](t *testing.T, r sluice.SplitReader[T], batch int) []T {
	t.Helper()
	var all []T
	buf := make([]T, 0, batch)
	for range 1_000_000 {
		var err error
		buf, err = r.Read(context.Background(), buf[:0])
		all = append(all, buf...)
		if errors.Is(err, io.EOF) {
			return all
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("split did not end")
	return nil
}

func identity(seq int64) int64 { return seq }

func TestSplitsProduceEachSeqOnce(t *testing.T) {
	for _, tc := range []struct {
		count, start int64
		splits       int
	}{{1000, 0, 1}, {1000, 0, 3}, {1000, 500, 4}, {10, 7, 16}, {0, 0, 2}, {5, 9, 2}} {
		src := generator.New(identity, generator.Count(tc.count), generator.Splits(tc.splits), generator.StartAt(tc.start))
		var all []int64
		for i, r := range open(t, src) {
			got := drain(t, r, 64)
			for j, seq := range got {
				if seq%int64(tc.splits) != int64(i) || (j > 0 && seq <= got[j-1]) {
					t.Fatalf("%+v: split %d produced %v", tc, i, got)
				}
			}
			if off := r.(*generator.Split[int64]).Offset(); off < tc.count {
				t.Fatalf("%+v: split %d ended at offset %d", tc, i, off)
			}
			all = append(all, got...)
		}
		slices.Sort(all)
		var want []int64
		for seq := tc.start; seq < tc.count; seq++ {
			want = append(want, seq)
		}
		if !slices.Equal(all, want) {
			t.Fatalf("%+v: got %v, want %v", tc, all, want)
		}
	}
}

func TestOffsetAndResume(t *testing.T) {
	src := generator.New(identity, generator.Splits(2), generator.BatchSize(10))
	sp := open(t, src)[1]
	got, err := sp.Read(context.Background(), make([]int64, 0, 100))
	if err != nil || len(got) != 10 || got[9] != 19 {
		t.Fatalf("got %v, %v", got, err)
	}
	off := sp.(*generator.Split[int64]).Offset()
	if off != 21 {
		t.Fatalf("offset %d, want 21", off)
	}
	resumed := open(t, generator.New(identity, generator.Splits(2), generator.StartAt(off), generator.BatchSize(3)))[1]
	got, err = resumed.Read(context.Background(), nil)
	if err != nil || !slices.Equal(got, []int64{21, 23, 25}) {
		t.Fatalf("resumed: got %v, %v", got, err)
	}
}

func TestUnboundedNeverEnds(t *testing.T) {
	sp := open(t, generator.New(func(seq int64) string { return strings.Repeat("x", int(seq%4)) }))[0]
	buf := make([]string, 0, 256)
	for i := range 100 {
		var err error
		buf, err = sp.Read(context.Background(), buf[:0])
		if err != nil || len(buf) != 256 {
			t.Fatalf("read %d: %d records, %v", i, len(buf), err)
		}
	}
	if off := sp.(*generator.Split[string]).Offset(); off != 25600 {
		t.Fatalf("offset %d", off)
	}
}

func TestDeterministic(t *testing.T) {
	fn := func(seq int64) uint64 { return uint64(seq) * 0x9E3779B97F4A7C15 }
	a := drain(t, open(t, generator.New(fn, generator.Count(500)))[0], 7)
	b := drain(t, open(t, generator.New(fn, generator.Count(500)))[0], 500)
	if !slices.Equal(a, b) {
		t.Fatal("two runs differ")
	}
}

func TestRatePacesWithFakeClock(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	sp := open(t, generator.New(identity, generator.Count(20), generator.Rate(10), generator.WithClock(clock)))[0]
	buf := make([]int64, 0, 1024)
	var all []int64
	for {
		var err error
		buf, err = sp.Read(context.Background(), buf[:0])
		if len(buf) > 1 {
			t.Fatalf("10/s holds one record at a time, read %d", len(buf))
		}
		var waited time.Duration
		for _, d := range clock.takeSleeps() {
			waited += d
		}
		if waited > 100*time.Millisecond {
			t.Fatalf("one Read waited %v", waited)
		}
		all = append(all, buf...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(all) != 20 {
		t.Fatalf("got %d records", len(all))
	}
	// The first record goes at once, then one every 100 ms.
	if d := clock.Now().Sub(start); d != 1900*time.Millisecond {
		t.Fatalf("20 records at 10/s took %v, want 1.9s", d)
	}
}

func TestSlowRateReturnsEveryPollInterval(t *testing.T) {
	clock := newFakeClock()
	sp := open(t, generator.New(identity, generator.Rate(1), generator.WithClock(clock)))[0]
	var pattern []int
	for range 21 {
		got, err := sp.Read(context.Background(), make([]int64, 0, 16))
		if err != nil {
			t.Fatal(err)
		}
		pattern = append(pattern, len(got))
		if s := clock.takeSleeps(); len(pattern) > 1 && (len(s) != 1 || s[0] != 100*time.Millisecond) {
			t.Fatalf("read %d slept %v, want one 100ms poll", len(pattern), s)
		}
	}
	// One record a second, checked every 100 ms: a record, then nine empty reads.
	want := []int{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	if !slices.Equal(pattern, want) {
		t.Fatalf("records per read %v, want %v", pattern, want)
	}
}

func TestRateBurstAndSplits(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	splits := open(t, generator.New(identity, generator.Rate(2000), generator.Splits(2), generator.WithClock(clock)))
	// 1000/s per split: the bucket starts with 100 ms of records, then refills at 1 per ms.
	got, err := splits[0].Read(context.Background(), make([]int64, 0, 1024))
	if err != nil || len(got) != 100 {
		t.Fatalf("first read: %d records, %v", len(got), err)
	}
	total := len(got)
	for clock.Now().Sub(start) < time.Second {
		got, err = splits[0].Read(context.Background(), make([]int64, 0, 1024))
		if err != nil {
			t.Fatal(err)
		}
		total += len(got)
	}
	if total != 1100 {
		t.Fatalf("one second at 1000/s gave %d records, want 100 + 1000", total)
	}
}

// blockingClock sleeps until ctx is done.
type blockingClock struct{ sleeping chan struct{} }

func (blockingClock) Now() time.Time { return time.Unix(0, 0) }

func (c blockingClock) Sleep(ctx context.Context, _ time.Duration) error {
	close(c.sleeping)
	<-ctx.Done()
	return ctx.Err()
}

func TestPacedReadHonoursCancel(t *testing.T) {
	clock := blockingClock{sleeping: make(chan struct{})}
	sp := open(t, generator.New(identity, generator.Rate(0.001), generator.WithClock(clock)))[0]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if got, err := sp.Read(ctx, nil); err != nil || len(got) != 1 {
		t.Fatalf("first read: %v, %v", got, err)
	}
	done := make(chan error)
	go func() {
		_, err := sp.Read(ctx, nil)
		done <- err
	}()
	<-clock.sleeping
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if _, err := sp.Read(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v", err)
	}
}

func TestWallClockReadHonoursCancel(t *testing.T) {
	// The default clock: a wait for the next record (an hour away) ends as soon as ctx is done.
	sp := open(t, generator.New(identity, generator.Rate(1.0/3600)))[0]
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := sp.Read(ctx, nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		for {
			got, err := sp.Read(ctx, nil)
			if err != nil || len(got) > 0 {
				done <- err
				return
			}
		}
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestInvalidOptions(t *testing.T) {
	src := generator.New(identity, generator.Count(-1), generator.Splits(0), generator.Rate(-2),
		generator.StartAt(-3), generator.BatchSize(-4), generator.WithClock(nil))
	_, err := src.Open(context.Background())
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"Count", "Splits", "Rate", "StartAt", "BatchSize", "WithClock"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if _, err := generator.New[int](nil).Open(context.Background()); err == nil {
		t.Fatal("nil function accepted")
	}
}

func TestPanicIsRejected(t *testing.T) {
	fn := func(seq int64) int64 {
		if seq == 3 {
			panic("boom")
		}
		return seq
	}
	sp := open(t, generator.New(fn, generator.Count(6)))[0]
	var reasons []string
	var raws []any
	sp.(*generator.Split[int64]).SetReject(func(reason string, raw any) {
		reasons = append(reasons, reason)
		raws = append(raws, raw)
	})
	got := drain(t, sp, 10)
	if !slices.Equal(got, []int64{0, 1, 2, 4, 5}) {
		t.Fatalf("got %v", got)
	}
	if len(reasons) != 1 || !strings.Contains(reasons[0], "seq 3") || !strings.Contains(reasons[0], "boom") || raws[0] != int64(3) {
		t.Fatalf("rejects %q %v", reasons, raws)
	}
	// Without a reject function (outside the runtime), the failure is an error, never silent.
	sp = open(t, generator.New(fn, generator.Count(6)))[0]
	if _, err := sp.Read(context.Background(), make([]int64, 0, 10)); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("got %v", err)
	}
}
