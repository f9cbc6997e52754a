package file_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connector/file"
)

func TestJSONLinesSink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out", "deep", "r.jsonl")
	s := file.JSONLinesSink[event](path)
	for i := range 3 {
		if err := s.Write(event{ID: int64(i), Name: "<&>"}); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(path); err != nil || len(b) != 0 {
		t.Fatalf("before Flush: %q, %v", b, err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	want := `{"id":0,"name":"<&>"}` + "\n" + `{"id":1,"name":"<&>"}` + "\n" + `{"id":2,"name":"<&>"}` + "\n"
	if b, _ := os.ReadFile(path); string(b) != want {
		t.Fatalf("got %q", b)
	}
	if err := s.Write(event{ID: 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !strings.HasSuffix(string(b), `{"id":3,"name":""}`+"\n") {
		t.Fatalf("Close did not flush: %q", b)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Write(event{}); err == nil {
		t.Fatal("Write after Close accepted")
	}
}

func TestJSONLinesSinkEmptyAndErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "empty.jsonl")
	if err := os.WriteFile(path, []byte("old content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := file.JSONLinesSink[event](path).Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || len(b) != 0 {
		t.Fatalf("an empty stream left %q, %v", b, err)
	}
	nan := file.JSONLinesSink[float64](filepath.Join(dir, "nan.jsonl"))
	if err := nan.Write(math.NaN()); err == nil {
		t.Fatal("NaN encoded")
	}
	if err := nan.Close(); err != nil {
		t.Fatal(err)
	}
	// A parent that is a file, not a directory.
	blocked := filepath.Join(path, "x.jsonl")
	if err := file.JSONLinesSink[event](blocked).Write(event{}); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v", err)
	}
}
