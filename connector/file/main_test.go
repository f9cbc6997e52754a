package file_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// reject is a dead-letter route that keeps what it is given.
type reject struct {
	reasons []string
	raws    []any
}

func (r *reject) fn(reason string, raw any) {
	r.reasons = append(r.reasons, reason)
	r.raws = append(r.raws, raw)
}

// readAll opens src and reads every split to its end, with rejects sent to rej (nil: none set).
func readAll[T any](t testing.TB, src sluice.Source[T], rej *reject) ([]T, error) {
	t.Helper()
	splits, err := src.Open(context.Background())
	if err != nil {
		return nil, err
	}
	var all []T
	for _, r := range splits {
		if rej != nil {
			r.(interface {
				SetReject(func(string, any))
			}).SetReject(rej.fn)
		}
		got, err := drain(r, 4)
		all = append(all, got...)
		if cerr := r.Close(); cerr != nil {
			t.Fatal(cerr)
		}
		if err != nil {
			return all, err
		}
	}
	return all, nil
}

func drain[T any](r sluice.SplitReader[T], batch int) ([]T, error) {
	var all []T
	buf := make([]T, 0, batch)
	for {
		var err error
		buf, err = r.Read(context.Background(), buf[:0])
		all = append(all, buf...)
		if errors.Is(err, io.EOF) {
			return all, nil
		}
		if err != nil {
			return all, err
		}
	}
}

type collect[T any] struct {
	mu  sync.Mutex
	got []T
}

func (c *collect[T]) Write(v T) error {
	c.mu.Lock()
	c.got = append(c.got, v)
	c.mu.Unlock()
	return nil
}

func (c *collect[T]) Close() error { return nil }
