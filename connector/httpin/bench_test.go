package httpin_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connector/httpin"
)

// discard is a ResponseWriter that keeps only the status.
type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(status int)      { d.status = status }

func benchBody(n int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"page":"p%d","at":%d}`, i%100, 1_700_000_000_000+int64(i))
	}
	b.WriteByte(']')
	return b.String()
}

// BenchmarkIngest measures records/s through the handler (parse, validate with encoding/json,
// append, fsync) with one request at a time: one fsync per batch.
func BenchmarkIngest(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			src, err := httpin.New[click](httpin.Dir(b.TempDir()))
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			h, body := src.Handler(), benchBody(n)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				post := &discard{h: http.Header{}}
				req, _ := http.NewRequest(http.MethodPost, "/ingest", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				h.ServeHTTP(post, req)
				if post.status != http.StatusOK {
					b.Fatalf("status %d", post.status)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkIngestParallel is BenchmarkIngest with 16 requests at once: group commit shares
// fsyncs among them.
func BenchmarkIngestParallel(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			src, err := httpin.New[click](httpin.Dir(b.TempDir()))
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			h, body := src.Handler(), benchBody(n)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					post := &discard{h: http.Header{}}
					req, _ := http.NewRequest(http.MethodPost, "/ingest", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					h.ServeHTTP(post, req)
					if post.status != http.StatusOK {
						b.Errorf("status %d", post.status)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
