package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
	"github.com/sluicehq/sluice/watermark"
)

// TaskHeader names, on a watermark marker of a repartition topic, the upstream task (its input
// partition) whose watermark the marker carries.
const TaskHeader = "sluice-task"

// Records of a repartition topic (docs/format/kafka-state.md): a data record's key is the KeyBy
// key's bytes (a string key as is, others in their state codec), its partition murmur2 of the key,
// and its value the event time (zigzag varint) followed by the element in its state codec. A
// marker record has no key or value and the headers WatermarkHeader and TaskHeader.

// appendRepartValue appends a data record's value.
func appendRepartValue(dst []byte, ts int64, elem []byte) []byte {
	return append(binary.AppendVarint(dst, ts), elem...)
}

// decodeRepartValue splits a data record's value into its event time and element encoding.
func decodeRepartValue(b []byte) (ts int64, elem []byte, err error) {
	ts, n := binary.Varint(b)
	if n <= 0 {
		return 0, nil, errors.New("repartition record: truncated event time")
	}
	return ts, b[n:], nil
}

// markerHeaders are the headers of a watermark marker of upstream task task.
func markerHeaders(wm int64, task int32) []kgo.RecordHeader {
	v := []byte("max")
	if wm != flow.MaxTime {
		v = strconv.AppendInt(nil, wm, 10)
	}
	return []kgo.RecordHeader{{Key: WatermarkHeader, Value: v}, {Key: TaskHeader, Value: strconv.AppendInt(nil, int64(task), 10)}}
}

// taskMarkerOf returns the watermark and upstream task of a repartition topic's marker record;
// ok is false for a data record, and err reports a damaged marker.
func taskMarkerOf(r *kgo.Record) (wm int64, task int32, ok bool, err error) {
	wm, ok = markerOf(r)
	if !ok {
		for _, h := range r.Headers {
			if h.Key == WatermarkHeader {
				return 0, 0, true, fmt.Errorf("watermark marker: bad value %q", h.Value)
			}
		}
		return 0, 0, false, nil
	}
	for _, h := range r.Headers {
		if h.Key == TaskHeader {
			t, perr := strconv.ParseInt(string(h.Value), 10, 32)
			if perr != nil || t < 0 {
				return 0, 0, true, fmt.Errorf("watermark marker: bad task %q", h.Value)
			}
			return wm, int32(t), true, nil
		}
	}
	return 0, 0, true, errors.New("watermark marker: no task header")
}

// taskWriter is one task's writer of a repartition topic: it turns records into the epoch's
// output and remembers the watermark, sent as markers at the epoch's end.
type taskWriter struct {
	out  *repartOut
	r    *runner
	wm   int64 // the writer's input watermark
	sent int64 // the last watermark sent as markers
}

func (w *taskWriter) Write(key, elem []byte, ts int64) {
	buf := make([]byte, 0, len(key)+len(elem)+binary.MaxVarintLen64)
	buf = append(buf, key...)
	w.r.emit(&kgo.Record{Topic: w.out.topic, Key: buf[:len(key):len(key)], Value: appendRepartValue(buf[len(key):], ts, elem)})
}

func (w *taskWriter) Watermark(wm int64) { w.wm = max(w.wm, wm) }

// markers emits, when the watermark advanced since the last call, a marker to every partition.
func (w *taskWriter) markers(task int32) {
	if w.wm <= w.sent {
		return
	}
	w.sent = w.wm
	for p := int32(0); p < w.out.parts; p++ {
		w.r.emit(&kgo.Record{Topic: w.out.topic, Partition: p, Headers: markerHeaders(w.wm, task)})
	}
}

// upstreamWatermarks is a downstream task's view of its upstream tasks' watermarks: the newest
// marker of each, combined as the minimum over those not idle (Flink: the minimum over the
// inputs). An upstream task from which no marker came for the source's idleness timeout is idle.
type upstreamWatermarks struct {
	c         *watermark.Combiner
	heard     []time.Time
	idleAfter time.Duration
}

func newUpstreamWatermarks(n int, idleAfter time.Duration, now time.Time) *upstreamWatermarks {
	u := &upstreamWatermarks{c: watermark.NewCombiner(n), heard: make([]time.Time, n), idleAfter: idleAfter}
	for i := range u.heard {
		u.heard[i] = now
	}
	return u
}

// mark records upstream task's marker; a task out of range is ignored.
func (u *upstreamWatermarks) mark(task int32, wm int64, now time.Time) {
	if int(task) >= len(u.heard) {
		return
	}
	u.heard[task] = now
	u.c.Update(int(task), wm)
}

// current applies idleness at now and returns the combined watermark.
func (u *upstreamWatermarks) current(now time.Time) int64 {
	if u.idleAfter > 0 {
		for i, t := range u.heard {
			if !u.c.Idle(i) && now.Sub(t) >= u.idleAfter {
				u.c.SetIdle(i, true)
			}
		}
	}
	return u.c.Current()
}

// snapshot returns each upstream task's watermark.
func (u *upstreamWatermarks) snapshot() []int64 {
	out := make([]int64, u.c.Inputs())
	for i := range out {
		out[i] = u.c.Watermark(i)
	}
	return out
}

// restore sets the upstream tasks' watermarks of a snapshot.
func (u *upstreamWatermarks) restore(wms []int64) {
	for i, wm := range wms {
		if i < u.c.Inputs() && wm != flow.MinTime {
			u.c.Update(i, wm)
		}
	}
}

// repartFeeder pushes a repartition topic partition's records into a downstream task.
type repartFeeder struct {
	rd    plan.RepartitionReader
	up    *upstreamWatermarks
	now   func() time.Time
	maxTS int64
	wm    int64
}

func newRepartFeeder(rd plan.RepartitionReader, upstream int, idleAfter time.Duration, now func() time.Time) *repartFeeder {
	return &repartFeeder{rd: rd, up: newUpstreamWatermarks(upstream, idleAfter, now()), now: now, maxTS: flow.MinTime, wm: flow.MinTime}
}

func (f *repartFeeder) push(recs []*kgo.Record, reject func(*kgo.Record, string)) int64 {
	next := int64(-1)
	now := f.now()
	for _, r := range recs {
		next = r.Offset + 1
		if r.Attrs.IsControl() {
			continue
		}
		wm, task, marker, err := taskMarkerOf(r)
		switch {
		case err != nil:
			reject(r, err.Error())
		case marker:
			f.up.mark(task, wm, now)
		default:
			f.pushRecord(r, reject)
		}
	}
	f.emitWM(f.up.current(now))
	return next
}

func (f *repartFeeder) pushRecord(r *kgo.Record, reject func(*kgo.Record, string)) {
	ts, elem, err := decodeRepartValue(r.Value)
	if err == nil {
		err = f.rd.Push(ts, elem)
	}
	if err != nil {
		reject(r, err.Error())
		return
	}
	f.maxTS = max(f.maxTS, ts)
}

func (f *repartFeeder) emitWM(wm int64) {
	if wm > f.wm {
		f.wm = wm
		f.rd.Watermark(wm)
	}
}

func (f *repartFeeder) position() (int64, int64) { return f.maxTS, f.wm }

func (f *repartFeeder) restore(maxTS, wm int64) {
	f.maxTS = maxTS
	f.emitWM(wm)
}

func (f *repartFeeder) upstream() []int64 { return f.up.snapshot() }

func (f *repartFeeder) restoreUpstream(wms []int64) { f.up.restore(wms) }
