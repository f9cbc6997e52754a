package stdout_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/connector/stdout"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/watermark"
	"github.com/sluicehq/sluice/window"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type point struct {
	X, Y int
	Tag  string `json:"tag,omitempty"`
}

// celsius has MarshalJSON on its pointer.
type celsius struct{ deg float64 }

func (c *celsius) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatFloat(c.deg, 'f', -1, 64) + `°C"`), nil
}

func TestJSONLinesBuffersUntilFlush(t *testing.T) {
	var buf bytes.Buffer
	s := stdout.JSONLines[point](&buf)
	for i := range 3 {
		if err := s.Write(point{X: i, Y: -i, Tag: "<a&b>"}); err != nil {
			t.Fatal(err)
		}
	}
	if buf.Len() != 0 {
		t.Fatalf("wrote before Flush: %q", buf.String())
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	want := `{"X":0,"Y":0,"tag":"<a&b>"}` + "\n" + `{"X":1,"Y":-1,"tag":"<a&b>"}` + "\n" + `{"X":2,"Y":-2,"tag":"<a&b>"}` + "\n"
	if buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
	if err := s.Write(point{X: 9}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(buf.String(), `{"X":9,"Y":0}`+"\n") {
		t.Fatalf("Close did not flush: %q", buf.String())
	}
}

func TestJSONLinesUsesMarshalJSON(t *testing.T) {
	var buf bytes.Buffer
	w := stdout.JSONLines[sluice.Windowed[string, int64]](&buf)
	r := sluice.Windowed[string, int64]{Key: "a", Window: window.Window{Start: 0, End: 10},
		Pane: window.Pane{Timing: window.OnTime}, Value: 3}
	if err := w.Write(r); err != nil {
		t.Fatal(err)
	}
	c := stdout.JSONLines[celsius](&buf)
	if err := c.Write(celsius{deg: 21}); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(w.Close(), c.Close()); err != nil {
		t.Fatal(err)
	}
	want := `{"key":"a","window":[0,10],"ts":9,"pane":"ON_TIME","index":0,"value":3}` + "\n" + `"21°C"` + "\n"
	if buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestJSONLinesErrors(t *testing.T) {
	s := stdout.JSONLines[float64](failingWriter{})
	if err := s.Write(math.NaN()); err == nil {
		t.Fatal("NaN encoded")
	}
	if err := s.Write(1); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("got %v", err)
	}
}

func TestEndToEnd(t *testing.T) {
	type click struct {
		Page string
		At   int64
	}
	var in []click
	for i := range 3000 {
		in = append(in, click{Page: []string{"a", "b", "c"}[i%3], At: int64(i) * 10})
	}
	p := sluice.NewPipeline("stdout")
	s := sluice.FromSlice(p, in, sluice.EventTimeMillis(func(c click) int64 { return c.At }, watermark.Monotonic()))
	k := sluice.KeyBy(s, func(c click) string { return c.Page })
	counts := sluice.Aggregate(sluice.Window(k, window.Tumbling(10*time.Second)), agg.Count[click]()).UID("counts")
	var buf bytes.Buffer
	sluice.SinkTo(counts, stdout.JSONLines[sluice.Windowed[string, int64]](&buf))
	if err := engine.Run(context.Background(), p, engine.Parallelism(2)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 9 {
		t.Fatalf("got %d lines:\n%s", len(lines), buf.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, `"pane":"ON_TIME"`) || !strings.HasPrefix(l, `{"key":`) {
			t.Fatalf("bad line %s", l)
		}
	}
}
