package httpin_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/connector/httpin"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/watermark"
	"github.com/sluicehq/sluice/window"
)

// TestEndToEnd posts clicks from several clients at once, with invalid records among them, and
// counts them per page in one-second event-time windows through engine.Run.
func TestEndToEnd(t *testing.T) {
	src, url := open[click](t, "")
	p := sluice.NewPipeline("httpin")
	s := sluice.FromSource(p, src, sluice.EventTimeMillis(func(c click) int64 { return c.At },
		watermark.BoundedOutOfOrderness(10*time.Second))) // the clients' batches interleave
	k := sluice.KeyBy(s, func(c click) string { return c.Page })
	counts := sluice.Aggregate(sluice.Window(k, window.Tumbling(time.Second)), agg.Count[click]()).UID("counts")
	// 4 clients × 10 batches × 100 clicks at 0 … 3999 ms: 4 windows × 3 pages, then one click at
	// 1 000 000 that moves the watermark past them all (its own window stays open).
	out := newCollect[sluice.Windowed[string, int64]](12)
	sluice.SinkTo(counts, out)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- engine.Run(ctx, p, engine.Parallelism(2)) }()

	var wg sync.WaitGroup
	for c := range 4 {
		wg.Go(func() {
			for b := range 10 {
				body := clicks(100, int64((c*10+b)*100))
				body = body[:len(body)-1] + `, {"page":"a","at":"late"}]`
				status, resp := post(t, url, "application/json", body)
				if status != http.StatusOK || resp.Accepted != 100 || len(resp.Rejected) != 1 || resp.Rejected[0].Index != 100 {
					t.Errorf("status %d, %+v", status, resp)
				}
			}
		})
	}
	wg.Wait()
	post(t, url, "application/x-ndjson", `{"page":"z","at":1000000}`)
	select {
	case <-out.full:
	case err := <-done:
		t.Fatalf("the run ended early: %v", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	total := int64(0)
	for _, r := range out.records() {
		total += r.Value
	}
	if got := out.records(); len(got) != 12 || total != 4000 {
		t.Fatalf("%d results totalling %d, want 12 totalling 4000: %+v", len(got), total, got)
	}
}

// TestCheckpointResume runs a pipeline with checkpoints, stops it once a checkpoint covers every
// record, and runs it again on the same folders: the restored run reads only the records posted
// since.
func TestCheckpointResume(t *testing.T) {
	logDir, cpDir := t.TempDir(), t.TempDir()
	run := func(want int, batches ...string) []event {
		src, err := httpin.New[event](httpin.Dir(logDir))
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		p := sluice.NewPipeline("resume")
		out := newCollect[event](want)
		sluice.SinkTo(sluice.FromSource(p, src).Name("ingest"), out)
		checkpoints := make(chan int64, 100)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			done <- engine.Run(ctx, p, engine.Checkpointing(cpDir, 10*time.Millisecond), engine.Logger(slog.New(slog.DiscardHandler)),
				engine.OnCheckpoint(func(id int64) { checkpoints <- id }))
		}()
		srv := httptest.NewServer(src.Handler())
		defer srv.Close()
		for _, b := range batches {
			if status, resp := post(t, srv.URL, "", b); status != http.StatusOK {
				t.Fatalf("status %d, %+v", status, resp)
			}
		}
		select {
		case <-out.full:
		case err := <-done:
			t.Fatalf("the run ended early: %v", err)
		}
		// One checkpoint is in flight at a time, and the next is triggered after the previous
		// one's OnCheckpoint: the second to complete from now was triggered after the source had
		// read every record.
		for len(checkpoints) > 0 {
			<-checkpoints
		}
		for range 2 {
			select {
			case <-checkpoints:
			case err := <-done:
				t.Fatalf("the run ended early: %v", err)
			}
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		return out.records()
	}
	first := run(30, batchOf("b0", 10), batchOf("b1", 10), batchOf("b2", 10))
	second := run(20, batchOf("b3", 10), batchOf("b4", 10))
	ids := func(es []event) []string {
		var s []string
		for _, e := range es {
			s = append(s, e.ID)
		}
		return s
	}
	var want1, want2 []string
	for i := range 50 {
		if id := fmt.Sprintf("b%d-%d", i/10, i%10); i < 30 {
			want1 = append(want1, id)
		} else {
			want2 = append(want2, id)
		}
	}
	if !slices.Equal(ids(first), want1) || !slices.Equal(ids(second), want2) {
		t.Fatalf("first run %v\nsecond run %v", ids(first), ids(second))
	}
}
