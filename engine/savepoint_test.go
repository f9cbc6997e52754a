package engine_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/watermark"
	"github.com/sluicehq/sluice/window"
)

// gated is a replayable source of n events that pauses at event `pause` until released (or
// cancelled), so a savepoint can be taken at a known position.
type gated struct {
	n, pause int
	release  chan struct{}
	paused   chan struct{}
}

func (g *gated) Open(context.Context) ([]sluice.SplitReader[ev], error) {
	return []sluice.SplitReader[ev]{&gatedSplit{g: g}}, nil
}

type gatedSplit struct {
	g    *gated
	next int
}

// gatedEvent: keys k0..k22, 10 ms apart, with a 1 s gap every 1000 events so that sessions close
// as the input goes on.
func gatedEvent(i int) ev {
	return ev{Key: fmt.Sprintf("k%d", i%23), TS: int64(i)*10 + int64(i/1000)*1000, V: int64(i % 7)}
}

func (s *gatedSplit) Read(ctx context.Context, dst []ev) ([]ev, error) {
	if s.next == s.g.pause && s.g.release != nil {
		select {
		case s.g.paused <- struct{}{}:
		default:
		}
		select {
		case <-s.g.release:
			s.g.release = nil
		case <-ctx.Done():
			return dst, ctx.Err()
		case <-time.After(5 * time.Millisecond): // poll, so checkpoints can happen while paused
			return dst, nil
		}
	}
	for len(dst) < cap(dst) && s.next < s.g.n && (s.next < s.g.pause || s.g.release == nil) {
		dst = append(dst, gatedEvent(s.next))
		s.next++
	}
	if s.next >= s.g.n {
		return dst, io.EOF
	}
	return dst, nil
}

func (s *gatedSplit) Close() error { return nil }

func (s *gatedSplit) Position() ([]byte, error) {
	return binary.AppendUvarint(nil, uint64(s.next)), nil
}

func (s *gatedSplit) Seek(pos []byte) error {
	v, n := binary.Uvarint(pos)
	if n <= 0 {
		return errors.New("bad position")
	}
	s.next = int(v)
	return nil
}

func sessionPipeline(src sluice.Source[ev], uid string) (*sluice.Pipeline, *lines) {
	p := sluice.NewPipeline("savepoint")
	s := sluice.FromSource(p, src, sluice.EventTimeMillis(func(e ev) int64 { return e.TS }, watermark.Monotonic()),
		sluice.SourceBatchSize[ev](50))
	w := sluice.Window(sluice.KeyBy(s, func(e ev) string { return e.Key }), window.Session(250*time.Millisecond))
	out := &lines{}
	sluice.SinkTo(sluice.Aggregate(w, agg.Sum(func(e ev) int64 { return e.V })).UID(uid), out)
	return p, out
}

// TestSavepointRestoreWithOtherParallelism: a savepoint taken at parallelism 2 and restored at
// parallelism 3 (key groups move between subtasks) completes the output exactly.
func TestSavepointRestoreWithOtherParallelism(t *testing.T) {
	const n, pause = 20_000, 8_000
	ref, refOut := sessionPipeline(&gated{n: n, pause: -1}, "sessions")
	if err := engine.Run(context.Background(), ref, engine.Parallelism(2)); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	g := &gated{n: n, pause: pause, release: make(chan struct{}), paused: make(chan struct{}, 1)}
	p1, out1 := sessionPipeline(g, "sessions")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	job, err := engine.Start(ctx, p1, engine.Parallelism(2), engine.Checkpointing(dir, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	<-g.paused
	sp, err := job.Savepoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := job.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v", err)
	}

	p2, out2 := sessionPipeline(&gated{n: n, pause: -1}, "sessions")
	if err := engine.Run(context.Background(), p2, engine.Parallelism(3), engine.Checkpointing(t.TempDir(), time.Hour), engine.RestoreFrom(sp)); err != nil {
		t.Fatal(err)
	}
	got := append(out1.sorted(), out2.sorted()...)
	slices.SortFunc(got, cmpLine)
	want := refOut.sorted()
	if len(out1.got) == 0 || len(out2.got) == 0 {
		t.Fatalf("the savepoint should split the output: %d before, %d after", len(out1.got), len(out2.got))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("restored with parallelism 3: %d results, want %d", len(got), len(want))
	}

	// A pipeline whose operator UIDs do not match the savepoint is rejected, naming them.
	p3, _ := sessionPipeline(&gated{n: n, pause: -1}, "renamed")
	err = engine.Run(context.Background(), p3, engine.Checkpointing(t.TempDir(), time.Hour), engine.RestoreFrom(sp))
	if err == nil || !strings.Contains(err.Error(), `"sessions"`) {
		t.Fatalf("err = %v, want a rejection naming the UID sessions", err)
	}
	// Unless explicitly allowed.
	p4, _ := sessionPipeline(&gated{n: n, pause: -1}, "renamed")
	if err := engine.Run(context.Background(), p4, engine.Checkpointing(t.TempDir(), time.Hour), engine.RestoreFrom(sp), engine.AllowNonRestoredState()); err != nil {
		t.Fatal(err)
	}
}
