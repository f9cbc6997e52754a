package file_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connector/file"
)

type event struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

func TestJSONLinesDecodesAndRejects(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "a.jsonl", `{"id":1,"name":"one"}
{"id":2,"name":"two"}

   
{"id":"three"}
not json
{"id":4,"name":"four"} {"id":5}
{"id":6,"name":"six"}`)
	var rej reject
	got, err := readAll(t, file.JSONLines[event](path), &rej)
	if err != nil {
		t.Fatal(err)
	}
	want := []event{{1, "one"}, {2, "two"}, {6, "six"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	wantReasons := []string{path + ":5: decoding JSON: ", path + ":6: decoding JSON: invalid character", path + ":7: decoding JSON: invalid character"}
	if len(rej.reasons) != 3 {
		t.Fatalf("rejects %q", rej.reasons)
	}
	for i, w := range wantReasons {
		if !strings.HasPrefix(rej.reasons[i], w) {
			t.Errorf("reason %q, want prefix %q", rej.reasons[i], w)
		}
	}
	if rej.raws[1] != "not json" {
		t.Errorf("raw %#v", rej.raws[1])
	}
}

func TestJSONLinesTooLong(t *testing.T) {
	dir := t.TempDir()
	long := `{"id":7,"name":"` + strings.Repeat("x", 3000) + `"}`
	path := writeFile(t, dir, "a.jsonl", long+"\n"+`{"id":8}`+"\n")
	var rej reject
	got, err := readAll(t, file.JSONLines[event](path).With(file.MaxLineBytes(100)), &rej)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != 8 {
		t.Fatalf("got %v", got)
	}
	if len(rej.reasons) != 1 || !strings.Contains(rej.reasons[0], ":1: line longer than 100 bytes") {
		t.Fatalf("rejects %q", rej.reasons)
	}
	if raw := rej.raws[0].(string); len(raw) != 1024 || !strings.HasPrefix(long, raw) {
		t.Fatalf("raw of %d bytes", len(raw))
	}
	// The default limit, 1 MiB, takes the line.
	got, err = readAll(t, file.JSONLines[event](path), &rej)
	if err != nil || len(got) != 2 {
		t.Fatalf("got %d records, %v", len(got), err)
	}
}

func TestJSONLinesWithoutRejectFails(t *testing.T) {
	path := writeFile(t, t.TempDir(), "a.jsonl", "{\"id\":1}\n{bad\n")
	got, err := readAll(t, file.JSONLines[event](path), nil)
	if err == nil || !strings.Contains(err.Error(), path+":2: decoding JSON") {
		t.Fatalf("got %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("got %v", got)
	}
}

func TestJSONLinesPathsAndGlobs(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.jsonl", `{"id":1}`)
	writeFile(t, dir, "b.jsonl", `{"id":2}`+"\n"+`{"id":3}`)
	writeFile(t, dir, "c.txt", `{"id":4}`)
	src := file.JSONLines[event](dir+"/*.jsonl", a) // a is matched twice, read once
	splits, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(splits) != 2 {
		t.Fatalf("%d splits, want one per file", len(splits))
	}
	for _, s := range splits {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := readAll(t, src, &reject{})
	if err != nil || len(got) != 3 {
		t.Fatalf("got %v, %v", got, err)
	}

	for _, bad := range []struct{ path, want string }{
		{dir + "/missing.jsonl", "missing.jsonl: no such file"},
		{dir + "/*.csv", `no file matches "` + dir + `/*.csv"`},
		{dir, "is a directory"},
		{dir + "/[", "syntax error in pattern"},
	} {
		_, err := file.JSONLines[event](a, bad.path).Open(context.Background())
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: got %v, want %q", bad.path, err, bad.want)
		}
	}
	if _, err := file.JSONLines[event]().Open(context.Background()); err == nil {
		t.Error("no paths accepted")
	}
	if _, err := file.JSONLines[event](a).With(file.MaxLineBytes(0)).Open(context.Background()); err == nil {
		t.Error("MaxLineBytes(0) accepted")
	}
}

func TestJSONLinesFileRemovedAfterOpen(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "a.jsonl", `{"id":1}`)
	splits, err := file.JSONLines[event](path).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, err = splits[0].Read(context.Background(), nil)
	if err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v", err)
	}
	if err := splits[0].Close(); err != nil {
		t.Fatal(err)
	}
}

func TestJSONLinesReadAfterEOFAndCancel(t *testing.T) {
	path := writeFile(t, t.TempDir(), "a.jsonl", `{"id":1}`)
	splits, err := file.JSONLines[event](path).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := splits[0]
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Read(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	got, err := r.Read(context.Background(), make([]event, 0, 10))
	if !errors.Is(err, io.EOF) || len(got) != 1 {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := r.Read(context.Background(), nil); !errors.Is(err, io.EOF) {
		t.Fatalf("after EOF: %v", err)
	}
}
