package file_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/connector/file"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/watermark"
	"github.com/sluicehq/sluice/window"
)

type click struct {
	Page string `json:"page" csv:"page"`
	At   int64  `json:"at" csv:"at"`
}

// TestJSONLinesEndToEnd reads two files of clicks (with bad lines) through a tumbling count into
// a file sink, and checks the bad lines on the dead-letter stream.
func TestJSONLinesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	for f := range 2 {
		var b strings.Builder
		for i := f; i < 6000; i += 2 {
			fmt.Fprintf(&b, `{"page":%q,"at":%d}`+"\n", []string{"a", "b", "c"}[i%3], i*10)
			if i == 4000+f {
				fmt.Fprintf(&b, "garbage %d\n", f)
			}
		}
		writeFile(t, dir, fmt.Sprintf("clicks-%d.jsonl", f), b.String())
	}
	out := filepath.Join(dir, "out", "counts.jsonl")

	p := sluice.NewPipeline("file")
	s := sluice.FromSource(p, file.JSONLines[click](filepath.Join(dir, "clicks-*.jsonl")),
		sluice.EventTimeMillis(func(c click) int64 { return c.At }, watermark.BoundedOutOfOrderness(time.Second)))
	k := sluice.KeyBy(s, func(c click) string { return c.Page })
	counts := sluice.Aggregate(sluice.Window(k, window.Tumbling(10*time.Second)), agg.Count[click]()).UID("counts")
	sluice.SinkTo(counts, file.JSONLinesSink[sluice.Windowed[string, int64]](out))
	dead := &collect[sluice.DeadLetter]{}
	sluice.SinkTo(p.DeadLetters(), dead)
	if err := engine.Run(context.Background(), p, engine.Parallelism(2)); err != nil {
		t.Fatal(err)
	}

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	total := int64(0)
	for _, l := range lines {
		var r struct {
			Key   string `json:"key"`
			Pane  string `json:"pane"`
			Value int64  `json:"value"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Pane != "ON_TIME" {
			t.Fatalf("line %q: %v", l, err)
		}
		total += r.Value
	}
	if len(lines) != 18 || total != 6000 {
		t.Fatalf("%d results totalling %d, want 18 totalling 6000", len(lines), total)
	}
	var reasons []string
	for _, d := range dead.got {
		reasons = append(reasons, d.Reason)
		if !strings.HasPrefix(d.Record.(string), "garbage") {
			t.Errorf("dead letter record %#v", d.Record)
		}
	}
	slices.Sort(reasons)
	want := []string{filepath.Join(dir, "clicks-0.jsonl") + ":2002: decoding JSON: invalid character 'g' looking for beginning of value",
		filepath.Join(dir, "clicks-1.jsonl") + ":2002: decoding JSON: invalid character 'g' looking for beginning of value"}
	if !slices.Equal(reasons, want) {
		t.Fatalf("dead letters %q, want %q", reasons, want)
	}
}

func TestCSVEndToEnd(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("at,page\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "%d,%s\n", i*10, []string{"a", "b", "c"}[i%3])
	}
	b.WriteString("oops,a\n")
	path := writeFile(t, dir, "clicks.csv", b.String())

	p := sluice.NewPipeline("csv")
	s := sluice.FromSource(p, file.CSV[click]([]string{path}),
		sluice.EventTimeMillis(func(c click) int64 { return c.At }, watermark.Monotonic()))
	k := sluice.KeyBy(s, func(c click) string { return c.Page })
	counts := sluice.Aggregate(sluice.Window(k, window.Tumbling(10*time.Second)), agg.Count[click]()).UID("counts")
	got := &collect[sluice.Windowed[string, int64]]{}
	sluice.SinkTo(counts, got)
	dead := &collect[sluice.DeadLetter]{}
	sluice.SinkTo(p.DeadLetters(), dead)
	if err := engine.Run(context.Background(), p, engine.Parallelism(2)); err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, r := range got.got {
		total += r.Value
	}
	if len(got.got) != 9 || total != 3000 {
		t.Fatalf("%d results totalling %d", len(got.got), total)
	}
	if len(dead.got) != 1 || dead.got[0].Reason != path+`:3002: column "at": strconv.ParseInt: parsing "oops": invalid syntax` ||
		dead.got[0].Record != "oops,a" {
		t.Fatalf("dead letters %+v", dead.got)
	}
}

func TestMissingFileFailsTheRun(t *testing.T) {
	p := sluice.NewPipeline("missing")
	s := sluice.FromSource(p, file.JSONLines[click](filepath.Join(t.TempDir(), "nope.jsonl")))
	sluice.SinkTo(s, &collect[click]{})
	err := engine.Run(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "nope.jsonl") {
		t.Fatalf("got %v", err)
	}
}
