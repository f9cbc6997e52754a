package kafka

import (
	"encoding/binary"
	"hash/crc32"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
	"github.com/sluicehq/sluice/window"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestUpstreamWatermarksMin: the downstream watermark is the minimum of the upstream tasks'
// newest markers; a marker that goes backwards is ignored; all at max is max.
func TestUpstreamWatermarksMin(t *testing.T) {
	u := newUpstreamWatermarks(3, 0, t0)
	steps := []struct {
		task int32
		wm   int64
		want int64
	}{
		{0, 100, flow.MinTime},
		{1, 50, flow.MinTime},
		{2, 70, 50},
		{1, 200, 70},
		{2, 40, 70}, // backwards: ignored
		{2, 300, 100},
		{0, flow.MaxTime, 200},
		{1, flow.MaxTime, 300},
		{2, flow.MaxTime, flow.MaxTime},
	}
	for i, s := range steps {
		u.mark(s.task, s.wm, t0)
		if got := u.current(t0.Add(time.Hour)); got != s.want {
			t.Fatalf("step %d (task %d at %d): watermark %d, want %d", i, s.task, s.wm, got, s.want)
		}
	}
	u.mark(7, 1, t0) // out of range: ignored, no panic
}

// TestUpstreamWatermarksIdle: an upstream task silent for the idleness timeout does not hold the
// watermark; when it speaks again it counts again, and the watermark never goes back.
func TestUpstreamWatermarksIdle(t *testing.T) {
	u := newUpstreamWatermarks(2, 30*time.Second, t0)
	u.mark(0, 1_000, t0.Add(10*time.Second))
	if got := u.current(t0.Add(29 * time.Second)); got != flow.MinTime {
		t.Fatalf("before the idleness timeout: %d, want the silent task to hold it at min", got)
	}
	if got := u.current(t0.Add(30 * time.Second)); got != 1_000 {
		t.Fatalf("upstream 1 idle for 30 s: %d, want upstream 0's 1000", got)
	}
	u.mark(0, 5_000, t0.Add(35*time.Second))
	if got := u.current(t0.Add(35 * time.Second)); got != 5_000 {
		t.Fatalf("upstream 0 advances alone: %d, want 5000", got)
	}
	u.mark(1, 2_000, t0.Add(36*time.Second)) // active again, behind: holds from now on
	if got := u.current(t0.Add(36 * time.Second)); got != 5_000 {
		t.Fatalf("a returning task behind: %d, want 5000 (never backwards)", got)
	}
	u.mark(0, 9_000, t0.Add(37*time.Second))
	if got := u.current(t0.Add(37 * time.Second)); got != 5_000 {
		t.Fatalf("upstream 1 active at 2000: %d, want it to hold at 5000", got)
	}
	u.mark(1, 8_000, t0.Add(38*time.Second))
	if got := u.current(t0.Add(38 * time.Second)); got != 8_000 {
		t.Fatalf("min of 9000 and 8000: %d", got)
	}
}

// fakeReader records what a repartition feeder pushes.
type fakeReader struct {
	vals []string
	wms  []int64
}

func (f *fakeReader) Push(ts int64, b []byte) error {
	f.vals = append(f.vals, strconv.FormatInt(ts, 10)+":"+string(b))
	return nil
}
func (f *fakeReader) Watermark(wm int64) { f.wms = append(f.wms, wm) }

func dataRec(off, ts int64, v string) *kgo.Record {
	return &kgo.Record{Offset: off, Key: []byte("k"), Value: appendRepartValue(nil, ts, []byte(v))}
}

func markerRec(off, wm int64, task int32) *kgo.Record {
	return &kgo.Record{Offset: off, Headers: markerHeaders(wm, task)}
}

// TestRepartFeeder: records are decoded in order, markers move the watermark to the minimum over
// the upstream tasks, end-of-stream markers from all make it max, damaged records are rejected,
// and the upstream state survives a snapshot and restore.
func TestRepartFeeder(t *testing.T) {
	rd := &fakeReader{}
	now := t0
	f := newRepartFeeder(rd, 2, 0, func() time.Time { return now })
	var rejected []string
	reject := func(r *kgo.Record, reason string) { rejected = append(rejected, reason) }
	next := f.push([]*kgo.Record{dataRec(0, 10, "a"), markerRec(1, 20, 0), dataRec(2, -5, "b"), markerRec(3, 15, 1),
		{Offset: 4, Value: []byte{0x80}}, {Offset: 5, Headers: []kgo.RecordHeader{{Key: WatermarkHeader, Value: []byte("7")}}}}, reject)
	if next != 6 || !slices.Equal(rd.vals, []string{"10:a", "-5:b"}) || !slices.Equal(rd.wms, []int64{15}) || len(rejected) != 2 {
		t.Fatalf("next %d, values %v, watermarks %v, rejected %v", next, rd.vals, rd.wms, rejected)
	}
	up := f.upstream()
	maxTS, wm := f.position()
	if !slices.Equal(up, []int64{20, 15}) || maxTS != 10 || wm != 15 {
		t.Fatalf("state: upstream %v, maxTS %d, wm %d", up, maxTS, wm)
	}
	rd2 := &fakeReader{}
	g := newRepartFeeder(rd2, 2, 0, func() time.Time { return now })
	g.restoreUpstream(up)
	g.restore(maxTS, wm)
	g.push([]*kgo.Record{markerRec(6, flow.MaxTime, 1)}, reject)
	g.push([]*kgo.Record{markerRec(7, flow.MaxTime, 0)}, reject)
	if !slices.Equal(rd2.wms, []int64{15, 20, flow.MaxTime}) {
		t.Fatalf("restored feeder's watermarks %v, want 15 (restore), 20 (min after task 1 ends), max", rd2.wms)
	}
}

// TestMarkerRoundTrip: markers carry their watermark and task; "max" is the end of the stream.
func TestMarkerRoundTrip(t *testing.T) {
	for _, wm := range []int64{flow.MinTime + 1, -1, 0, 1_767_225_600_000, flow.MaxTime} {
		got, task, ok, err := taskMarkerOf(&kgo.Record{Headers: markerHeaders(wm, 11)})
		if err != nil || !ok || got != wm || task != 11 {
			t.Errorf("marker %d: got %d task %d ok %v err %v", wm, got, task, ok, err)
		}
	}
	if _, _, ok, err := taskMarkerOf(dataRec(0, 1, "x")); ok || err != nil {
		t.Errorf("a data record read as a marker (ok %v, err %v)", ok, err)
	}
}

func FuzzRepartValue(f *testing.F) {
	f.Add(appendRepartValue(nil, -42, []byte("elem")))
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, elem, err := decodeRepartValue(b)
		if err != nil {
			return
		}
		if again := appendRepartValue(nil, ts, elem); len(again) > len(b) {
			t.Fatalf("re-encoding grew: %x -> %x", b, again)
		}
	})
}

func FuzzMarker(f *testing.F) {
	f.Add("sluice-watermark", "123", "sluice-task", "4")
	f.Add("sluice-watermark", "max", "x", "")
	f.Add("sluice-watermark", "12a", "sluice-task", "-1")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		r := &kgo.Record{Headers: []kgo.RecordHeader{{Key: k1, Value: []byte(v1)}, {Key: k2, Value: []byte(v2)}}}
		wm, task, ok, err := taskMarkerOf(r)
		if err != nil || !ok {
			return
		}
		if task < 0 {
			t.Fatalf("negative task %d", task)
		}
		again, task2, _, err := taskMarkerOf(&kgo.Record{Headers: markerHeaders(wm, task)})
		if err != nil || again != wm || task2 != task {
			t.Fatalf("re-encoded marker %d/%d read as %d/%d (%v)", wm, task, again, task2, err)
		}
	})
}

type click struct {
	Page, User string
	T          int64
}

// rekeyGraph: clicks keyed by page and counted per page, then the counts keyed by a computed key
// and reduced: two KeyBys.
func rekeyGraph(declared bool) *plan.Graph {
	p := sluice.NewPipeline("rekey")
	src := Topic("clicks", JSON[click]())
	if declared {
		src = src.PartitionedByKey()
	}
	clicks := sluice.FromSource[click](p, src)
	clicks = sluice.Map(clicks, func(c click) click { return c })
	perPage := sluice.Aggregate(sluice.Window(sluice.KeyBy(clicks, func(c click) string { return c.Page }), window.Tumbling(time.Second)),
		agg.Count[click]()).UID("per-page")
	byCount := sluice.KeyBy(perPage, func(r sluice.Windowed[string, int64]) int64 { return r.Value })
	pages := sluice.Aggregate(sluice.Window(byCount, window.Tumbling(time.Second)), agg.Count[sluice.Windowed[string, int64]]()).UID("pages-per-count")
	sluice.SinkTo(pages, ToTopic("out", JSON[sluice.Windowed[int64, int64]]()))
	g, err := p.Plan()
	if err != nil {
		panic(err)
	}
	return g
}

func noWriter(*repartOut, plan.Repartition) func(*flow.Task, []any) any { return nil }

// TestSplit: a declared source's first KeyBy (after a Map) reads in place and the second writes
// through <app>-<uid>-repartition; without the declaration both do. Each sub-topology's graph
// holds its own nodes, a reader source and writer sinks.
func TestSplit(t *testing.T) {
	for _, c := range []struct {
		declared bool
		topics   []string
	}{
		{true, []string{"", "app-pages-per-count-repartition"}},
		{false, []string{"", "app-per-page-repartition", "app-pages-per-count-repartition"}},
	} {
		g := rekeyGraph(c.declared)
		var src *plan.Node
		for _, n := range g.Nodes {
			if n.Kind == plan.KindSource {
				src = n
			}
		}
		subs, err := split(g, src, c.declared, "app", noWriter)
		if err != nil {
			t.Fatal(err)
		}
		var topics []string
		for i, s := range subs {
			topics = append(topics, s.topic)
			if s.src == nil || s.src.Kind != plan.KindSource || s.graph.Nodes[s.src.ID] != s.src {
				t.Errorf("declared=%v sub %d: no source node of its own", c.declared, i)
			}
			if i+1 < len(subs) && (len(s.outs) != 1 || s.outs[0].topic != subs[i+1].topic) {
				t.Errorf("declared=%v sub %d writes %v, want %s", c.declared, i, s.outs, subs[i+1].topic)
			}
			if i > 0 && s.upstream != i-1 {
				t.Errorf("declared=%v sub %d: upstream %d", c.declared, i, s.upstream)
			}
		}
		if !slices.Equal(topics, c.topics) {
			t.Errorf("declared=%v: topics %q, want %q", c.declared, topics, c.topics)
		}
	}
}

// encodeV1 is a state in format version 1 (no upstream watermarks, no snapshots).
func encodeV1(next, changelog, maxTS, wm int64) []byte {
	b := []byte(stateMagicV1)
	for _, v := range []int64{next, changelog, maxTS, wm} {
		b = binary.AppendVarint(b, v)
	}
	b = binary.AppendUvarint(b, 0)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// TestStateVersions: version 2 keeps the upstream watermarks; version 1 is still read.
func TestStateVersions(t *testing.T) {
	st := sampleState()
	st.Upstream = []int64{flow.MinTime, 5, flow.MaxTime}
	got, err := decodeState(st.encode(nil))
	if err != nil || !slices.Equal(got.Upstream, st.Upstream) || len(got.Snaps) != 2 {
		t.Fatalf("v2: %+v, %v", got, err)
	}
	v1, err := decodeState(encodeV1(10, 3, 99, 98))
	if err != nil || v1.NextOffset != 10 || v1.ChangelogOffset != 3 || v1.MaxTS != 99 || v1.WM != 98 || v1.Upstream != nil {
		t.Fatalf("v1: %+v, %v", v1, err)
	}
}
