package httpin_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connector/httpin"
)

type positioner interface {
	Position() ([]byte, error)
	Seek(pos []byte) error
}

// TestResumeFromPosition reads part of the log, takes the split's position, and resumes there in
// a new source on the same folder (across segments): exactly the records after it follow.
func TestResumeFromPosition(t *testing.T) {
	dir := t.TempDir()
	src, url := open[event](t, dir, httpin.SegmentBytes(1000))
	for b := range 10 {
		if status, resp := post(t, url, "", batchOf(fmt.Sprintf("b%d", b), 10)); status != http.StatusOK {
			t.Fatalf("status %d, %+v", status, resp)
		}
	}
	if n, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(n) < 3 {
		t.Fatalf("only %d segments", len(n))
	}
	r := split[event](t, src)
	readN(t, r, 35) // batches of 7: exactly 35
	pos, err := r.(positioner).Position()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	src.Close()

	again, url := open[event](t, dir, httpin.SegmentBytes(1000))
	post(t, url, "", batchOf("b10", 10))
	r2 := split[event](t, again)
	defer r2.Close()
	if err := r2.(positioner).Seek(pos); err != nil {
		t.Fatal(err)
	}
	got := readN(t, r2, 75)
	for i, e := range got {
		if want := fmt.Sprintf("b%d-%d", (35+i)/10, (35+i)%10); e.ID != want {
			t.Fatalf("record %d after the position is %s, want %s", i, e.ID, want)
		}
	}
	// A split without a position starts at the beginning of the log.
	r3 := split[event](t, again)
	defer r3.Close()
	if got := readN(t, r3, 1); got[0].ID != "b0-0" {
		t.Fatalf("a fresh split starts at %s", got[0].ID)
	}
}

// TestReadWaitsForAppend: a Read with nothing to read returns when a batch is appended.
func TestReadWaitsForAppend(t *testing.T) {
	src, url := open[event](t, "")
	r := split[event](t, src)
	defer r.Close()
	type result struct {
		recs []event
		err  error
	}
	done := make(chan result)
	go func() {
		buf := make([]event, 0, 10)
		for { // empty polls until the batch arrives
			var err error
			buf, err = r.Read(context.Background(), buf[:0])
			if len(buf) > 0 || err != nil {
				done <- result{buf, err}
				return
			}
		}
	}()
	post(t, url, "", batchOf("x", 3))
	res := <-done
	if res.err != nil || len(res.recs) != 3 || res.recs[2].ID != "x-2" {
		t.Fatalf("read %+v, %v", res.recs, res.err)
	}
}

// TestReadPollsWhenIdle: with nothing to read, Read returns no records and no error after the
// poll interval, so the runtime can check idleness.
func TestReadPollsWhenIdle(t *testing.T) {
	src, _ := open[event](t, "")
	r := split[event](t, src)
	defer r.Close()
	got, err := r.Read(context.Background(), make([]event, 0, 10))
	if err != nil || len(got) != 0 {
		t.Fatalf("read %v, %v", got, err)
	}
}

// TestReadCancel: Read returns ctx.Err() once ctx is done.
func TestReadCancel(t *testing.T) {
	src, _ := open[event](t, "")
	r := split[event](t, src)
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		for {
			_, err := r.Read(ctx, make([]event, 0, 10))
			if err != nil {
				done <- err
				return
			}
		}
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("read: %v", err)
	}
}

// TestSeekErrors: a position that is not one, or lies beyond the log, is refused with a reason.
func TestSeekErrors(t *testing.T) {
	src, url := open[event](t, "")
	post(t, url, "", batchOf("x", 3))
	r := split[event](t, src)
	defer r.Close()
	p := r.(positioner)
	for _, c := range []struct {
		pos  []byte
		want string
	}{
		{nil, "bad position"},
		{[]byte{2, 1, 24}, "bad position 020118: not a version 1"},
		{[]byte{1, 1}, "bad offset"},
		{[]byte{1, 1, 24, 0}, "bad offset"},
		{[]byte{1, 9, 24}, "does not exist"},
		{[]byte{1, 1, 0xff, 0x0f}, "the segment holds only"},
	} {
		if err := p.Seek(c.pos); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Seek(%x): %v, want %q", c.pos, err, c.want)
		}
	}
}

// TestTruncate deletes the segments before a position: a split resumed there still reads
// everything after it, a fresh split starts at the oldest segment kept, and a position in a
// deleted segment is refused.
func TestTruncate(t *testing.T) {
	dir := t.TempDir()
	src, url := open[event](t, dir, httpin.SegmentBytes(300))
	for b := range 6 {
		post(t, url, "", batchOf(fmt.Sprintf("b%d", b), 10)) // a segment each
	}
	r := split[event](t, src)
	defer r.Close()
	first, _ := r.(positioner).Position()
	readN(t, r, 35)
	pos, _ := r.(positioner).Position()
	if err := src.Truncate(pos); err != nil {
		t.Fatal(err)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(segs) != 3 {
		t.Fatalf("%d segments left, want 3", len(segs))
	}
	if got := readN(t, r, 25); got[0].ID != "b3-5" || got[24].ID != "b5-9" {
		t.Fatalf("after the truncation: %s … %s", got[0].ID, got[24].ID)
	}
	fresh := split[event](t, src)
	defer fresh.Close()
	if got := readN(t, fresh, 1); got[0].ID != "b3-0" {
		t.Fatalf("a fresh split starts at %s", got[0].ID)
	}
	if err := fresh.(positioner).Seek(first); err == nil || !strings.Contains(err.Error(), "deleted by Truncate") {
		t.Fatalf("Seek into a deleted segment: %v", err)
	}
}

// TestRejectAtRead: a record that no longer decodes (the type changed since it was accepted)
// goes to the dead-letter route with the segment and offset; without one, Read fails.
func TestRejectAtRead(t *testing.T) {
	dir := t.TempDir()
	src, url := open[event](t, dir)
	post(t, url, "", `[{"id":"a"}, {"id":"b"}]`)
	src.Close()
	type strict struct {
		ID int `json:"id"`
	}
	again, _ := open[strict](t, dir)
	r := split[strict](t, again)
	defer r.Close()
	var reasons []string
	var raws []any
	r.(interface{ SetReject(func(string, any)) }).SetReject(func(reason string, raw any) {
		reasons = append(reasons, reason)
		raws = append(raws, raw)
	})
	got, err := r.Read(context.Background(), make([]strict, 0, 10))
	if err != nil || len(got) != 0 || len(reasons) != 2 {
		t.Fatalf("read %v, %v, rejected %q", got, err, reasons)
	}
	want := filepath.Join(dir, "00000000000000000001.seg") + ":24: decoding: json: cannot unmarshal string into Go struct field strict.id of type int"
	if reasons[0] != want || raws[1] != `{"id":"b"}` {
		t.Fatalf("rejected %q %q", reasons, raws)
	}
	r2 := split[strict](t, again)
	defer r2.Close()
	if _, err := r2.Read(context.Background(), make([]strict, 0, 10)); err == nil || !strings.Contains(err.Error(), "decoding") {
		t.Fatalf("without a reject function: %v", err)
	}
}
