package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/checkpoint"
	"github.com/sluicehq/sluice/checkpoint/faultfs"
	"github.com/sluicehq/sluice/connector/file"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/watermark"
	"github.com/sluicehq/sluice/window"
)

// faultPipeline: gated events → sessions per key → exactly-once JSON lines file.
func faultPipeline(src sluice.Source[ev], out string) *sluice.Pipeline {
	p := sluice.NewPipeline("faults")
	s := sluice.FromSource(p, src, sluice.EventTimeMillis(func(e ev) int64 { return e.TS }, watermark.Monotonic()),
		sluice.SourceBatchSize[ev](20))
	w := sluice.Window(sluice.KeyBy(s, func(e ev) string { return e.Key }), window.Session(250*time.Millisecond))
	res := sluice.Map(sluice.Aggregate(w, agg.Sum(func(e ev) int64 { return e.V })).UID("sessions"),
		func(r sluice.Windowed[string, int64]) line {
			return line{r.Key, r.Window.Start, r.Window.End, r.Pane.Timing, r.Pane.Index, r.Value}
		})
	sluice.SinkTo(sluice.SortByTime(res, cmpLine).UID("order"), sluice.Sink[line](file.ExactlyOnceJSONLines[line](out))).UID("out")
	return p
}

// TestCheckpointStorageFaults: failed data-file writes, a full disk and torn manifests make
// checkpoints fail, never the job; after the job is cut off, the restart skips the torn
// checkpoints, restores the last good one, and the output is exactly the uninterrupted run's.
func TestCheckpointStorageFaults(t *testing.T) {
	const n, pause = 20_000, 12_000
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.jsonl")
	if err := engine.Run(context.Background(), faultPipeline(&gated{n: n, pause: -1}, ref), engine.Parallelism(2)); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(ref)

	fsys := faultfs.New(checkpoint.OSFS())
	fsys.Inject(
		faultfs.Rule{Ops: faultfs.OpWrite, Path: "chk-00000000000000000002", Times: 1},            // a data file
		faultfs.Rule{Ops: faultfs.OpWrite, Path: "chk-00000000000000000004/MANIFEST", Torn: true}, // a torn manifest
	)
	var mu sync.Mutex
	var completed []int64
	g := &gated{n: n, pause: pause, release: make(chan struct{}), paused: make(chan struct{}, 1)}
	state, out := filepath.Join(dir, "state"), filepath.Join(dir, "out.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	job, err := engine.Start(ctx, faultPipeline(g, out), engine.Parallelism(2), engine.Checkpointing(state, 2*time.Millisecond),
		engine.CheckpointStorage(fsys), engine.OnCheckpoint(func(id int64) {
			mu.Lock()
			completed = append(completed, id)
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	<-g.paused
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(completed)
	}
	// The source polls every few ms while paused and signals g.paused each time: use it as the
	// tick while waiting for the coordinator.
	waitFor := func(cond func() bool) {
		for !cond() {
			<-g.paused
		}
	}
	waitFor(func() bool { return count() >= 4 })
	// A full disk: checkpoints fail until space comes back, then succeed again.
	injected := fsys.Injected()
	fsys.DiskFull(0)
	waitFor(func() bool { return fsys.Injected() > injected })
	fsys.DiskFull(-1)
	done := count()
	waitFor(func() bool { return count() > done })
	// From now on every manifest tears; the job is cut off with torn checkpoints on disk.
	injected = fsys.Injected()
	fsys.Inject(faultfs.Rule{Ops: faultfs.OpWrite, Path: "MANIFEST", Torn: true})
	waitFor(func() bool { return fsys.Injected() > injected })
	cancel()
	if err := job.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("the job failed instead of riding out checkpoint faults: %v", err)
	}
	if fsys.Injected() == 0 {
		t.Fatal("no fault was injected: the test proves nothing")
	}
	mu.Lock()
	for _, id := range completed {
		if id == 2 || id == 4 {
			t.Errorf("checkpoint %d completed despite its injected fault", id)
		}
	}
	mu.Unlock()

	// Restart on the real file system: the newest usable checkpoint is restored.
	if err := engine.Run(context.Background(), faultPipeline(&gated{n: n, pause: -1}, out), engine.Parallelism(3),
		engine.Checkpointing(state, time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if string(got) != string(want) {
		t.Fatalf("after faults and a restart the output differs: %d bytes, want %d", len(got), len(want))
	}
}
