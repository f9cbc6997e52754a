package file_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/connector/file"
)

const benchRecords = 10_000

func benchFile(b *testing.B, line func(i int) string) (string, int64) {
	var sb strings.Builder
	for i := range benchRecords {
		sb.WriteString(line(i))
		sb.WriteByte('\n')
	}
	path := b.TempDir() + "/bench"
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path, int64(sb.Len())
}

func BenchmarkJSONLinesRead(b *testing.B) {
	path, size := benchFile(b, func(i int) string { return fmt.Sprintf(`{"page":"p%d","at":%d}`, i%100, i*10) })
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		n, err := readBatches(file.JSONLines[click](path))
		if err != nil || n != benchRecords {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkCSVRead(b *testing.B) {
	path, size := benchFile(b, func(i int) string {
		if i == 0 {
			return "page,at"
		}
		return fmt.Sprintf(`p%d,%d`, i%100, i*10)
	})
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		n, err := readBatches(file.CSV[click]([]string{path}))
		if err != nil || n != benchRecords-1 {
			b.Fatal(n, err)
		}
	}
}

// readBatches reads every split of src in batches of 1024, as the engine does, and counts the
// records.
func readBatches[T any](src sluice.Source[T]) (int, error) {
	splits, err := src.Open(context.Background())
	if err != nil {
		return 0, err
	}
	n := 0
	buf := make([]T, 0, 1024)
	for _, r := range splits {
		for {
			buf, err = r.Read(context.Background(), buf[:0])
			n += len(buf)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return n, err
			}
		}
		if err := r.Close(); err != nil {
			return n, err
		}
	}
	return n, nil
}
