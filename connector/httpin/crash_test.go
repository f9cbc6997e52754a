package httpin_test

import (
	"bufio"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/connector/httpin"
)

// event is a record with an identity, so that a test can tell which were kept.
type event struct {
	ID string `json:"id"`
}

// batchOf returns a JSON array of n events named prefix-0 … prefix-(n-1).
func batchOf(prefix string, n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%s-%d"}`, prefix, i)
	}
	b.WriteByte(']')
	return b.String()
}

// TestCrashWithoutClose acknowledges batches, then abandons the source without closing it (as a
// crash would), and reads everything back through a new source on the same folder.
func TestCrashWithoutClose(t *testing.T) {
	dir := t.TempDir()
	src, err := httpin.New[event](httpin.Dir(dir), httpin.SegmentBytes(4096))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(src.Handler())
	acked := map[string]bool{}
	for b := range 20 {
		body := batchOf(fmt.Sprintf("b%d", b), 25)
		status, resp := post(t, srv.URL, "application/json", body)
		if status != http.StatusOK || resp.Accepted != 25 {
			t.Fatalf("status %d, %+v", status, resp)
		}
		for i := range 25 {
			acked[fmt.Sprintf("b%d-%d", b, i)] = true
		}
	}
	srv.Close()
	src = nil // dropped, never closed

	again, err := httpin.New[event](httpin.Dir(dir), httpin.SegmentBytes(4096))
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, again)
	if len(got) != len(acked) {
		t.Fatalf("read %d records, %d were acknowledged", len(got), len(acked))
	}
	for i, e := range got {
		if want := fmt.Sprintf("b%d-%d", i/25, i%25); e.ID != want {
			t.Fatalf("record %d is %q, want %q", i, e.ID, want)
		}
	}
}

const childEnv = "HTTPIN_TEST_CHILD_DIR"

// runChild serves an ingest source on a free port of 127.0.0.1, prints the address, and waits
// to be killed.
func runChild(dir string) {
	src, err := httpin.New[event](httpin.Dir(dir), httpin.Addr("127.0.0.1:0"), httpin.SegmentBytes(64<<10))
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(2)
	}
	fmt.Println("ADDR", src.Addr())
	select {}
}

// TestKill runs the source in a child process, posts batches from several clients at once, and
// kills the child with SIGKILL while requests are in flight. A new source on the same folder must
// hold every acknowledged record, once, and every batch whole or not at all (a torn tail is cut).
func TestKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q, %v", line, err)
	}
	url := "http://" + addr + "/ingest"

	const workers, size, killAfter = 4, 50, 60
	var (
		mu      sync.Mutex
		acked   = map[string]int{} // batch -> records acknowledged
		wg      sync.WaitGroup
		killed  = make(chan struct{})
		killOne sync.Once
	)
	for w := range workers {
		wg.Go(func() {
			for b := 0; ; b++ {
				name := fmt.Sprintf("w%d.b%d", w, b)
				status, resp, err := tryPost(url, "application/json", strings.NewReader(batchOf(name, size)))
				if err != nil {
					select {
					case <-killed:
						return // the child is gone
					default:
						t.Errorf("%s before the kill: %v", name, err)
						return
					}
				}
				if status != http.StatusOK || resp.Accepted != size {
					t.Errorf("%s: status %d, %+v", name, status, resp)
					return
				}
				mu.Lock()
				acked[name] = size
				n := len(acked)
				mu.Unlock()
				if n >= killAfter {
					killOne.Do(func() {
						close(killed)
						cmd.Process.Kill() // SIGKILL, while the other workers' requests are in flight
					})
				}
			}
		})
	}
	wg.Wait()
	cmd.Wait()
	out.Close()

	logs := &logSink{}
	src, err := httpin.New[event](httpin.Dir(dir), httpin.Logger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, src)
	perBatch := map[string]int{}
	seen := map[string]bool{}
	for _, e := range got {
		if seen[e.ID] {
			t.Fatalf("record %s is in the log twice", e.ID)
		}
		seen[e.ID] = true
		batch, _, _ := strings.Cut(e.ID, "-")
		perBatch[batch]++
	}
	for batch, n := range acked {
		if perBatch[batch] != n {
			t.Errorf("acknowledged batch %s: %d of its %d records in the log", batch, perBatch[batch], n)
		}
	}
	for batch, n := range perBatch {
		if n != size {
			t.Errorf("batch %s is in the log in part: %d of %d records", batch, n, size)
		}
	}
	t.Logf("%d batches acknowledged, %d in the log after the kill; repair: %s", len(acked), len(perBatch), strings.TrimSpace(logs.String()))
}
