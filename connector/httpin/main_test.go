package httpin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/connector/httpin"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		runChild(dir) // never returns: the parent kills it
	}
	goleak.VerifyTestMain(m)
}

type click struct {
	Page string `json:"page"`
	At   int64  `json:"at"`
}

// open creates a source on dir (a fresh temporary folder when empty) that is closed at the end
// of the test, and an httptest server for its handler.
func open[T any](t *testing.T, dir string, opts ...httpin.Option) (*httpin.Source[T], string) {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	src, err := httpin.New[T](append([]httpin.Option{httpin.Dir(dir)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(src.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := src.Close(); err != nil {
			t.Error(err)
		}
	})
	return src, srv.URL
}

// client has no idle connections left behind (goleak).
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// post sends body with the content type and returns the status and the decoded answer.
func post(t testing.TB, url, contentType, body string) (int, httpin.Response) {
	t.Helper()
	status, resp, err := tryPost(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return status, resp
}

func tryPost(url, contentType string, body io.Reader) (int, httpin.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		return 0, httpin.Response{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return do(req)
}

func do(req *http.Request) (int, httpin.Response, error) {
	res, err := client.Do(req)
	if err != nil {
		return 0, httpin.Response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, httpin.Response{}, err
	}
	var resp httpin.Response
	if err := json.Unmarshal(b, &resp); err != nil {
		return res.StatusCode, resp, fmt.Errorf("status %d, answer %q: %w", res.StatusCode, b, err)
	}
	if res.Header.Get("Content-Type") != "application/json" {
		return res.StatusCode, resp, fmt.Errorf("answer content type %q", res.Header.Get("Content-Type"))
	}
	return res.StatusCode, resp, nil
}

// clicks returns a JSON array of n clicks with timestamps from at.
func clicks(n int, at int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"page":%q,"at":%d}`, []string{"a", "b", "c"}[i%3], at+int64(i))
	}
	b.WriteByte(']')
	return b.String()
}

// split opens src's one split.
func split[T any](t testing.TB, src sluice.Source[T]) sluice.SplitReader[T] {
	t.Helper()
	splits, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(splits) != 1 {
		t.Fatalf("%d splits", len(splits))
	}
	return splits[0]
}

// readN reads exactly n records from r (failing after a generous deadline, not sleeping).
func readN[T any](t testing.TB, r sluice.SplitReader[T], n int) []T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []T
	for len(got) < n {
		buf, err := r.Read(ctx, make([]T, 0, min(7, n-len(got))))
		got = append(got, buf...)
		if err != nil {
			t.Fatalf("after %d of %d records: %v", len(got), n, err)
		}
	}
	if len(got) != n {
		t.Fatalf("read %d records, want %d", len(got), n)
	}
	return got
}

// readAll closes src and reads everything its log holds, from the start.
func readAll[T any](t testing.TB, src *httpin.Source[T]) []T {
	t.Helper()
	r := split[T](t, src)
	defer r.Close()
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	return drain(t, r)
}

// drain reads r until ErrClosed (its source is closed).
func drain[T any](t testing.TB, r sluice.SplitReader[T]) []T {
	t.Helper()
	var got []T
	buf := make([]T, 0, 100)
	for {
		var err error
		buf, err = r.Read(context.Background(), buf[:0])
		got = append(got, buf...)
		if errors.Is(err, httpin.ErrClosed) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// collect is a sink that keeps what it is given and signals when it holds want records.
type collect[T any] struct {
	mu   sync.Mutex
	got  []T
	want int
	full chan struct{}
}

func newCollect[T any](want int) *collect[T] {
	return &collect[T]{want: want, full: make(chan struct{})}
}

func (c *collect[T]) Write(v T) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, v)
	if len(c.got) == c.want {
		close(c.full)
	}
	return nil
}

func (c *collect[T]) Close() error { return nil }

func (c *collect[T]) records() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]T(nil), c.got...)
}

// logSink is a slog handler target that keeps the lines.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
