package ysb

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/watermark"
	"github.com/sluicehq/sluice/window"
)

// WindowSize is the benchmark's tumbling window.
const WindowSize = 10 * time.Second

// OutOfOrderness is the watermark bound of the events' stream. The generated events are in order
// within each split, and splits differ by a few milliseconds at most; 1 s leaves room for real
// inputs without holding results back long.
const OutOfOrderness = time.Second

// Events adds src to p as the stream of ad events, with event time event_time and a watermark
// OutOfOrderness behind it.
func Events(p *sluice.Pipeline, src sluice.Source[AdEvent]) sluice.Stream[AdEvent] {
	return sluice.FromSource(p, src, sluice.EventTimeMillis(func(e AdEvent) int64 { return e.EventTime },
		watermark.BoundedOutOfOrderness(OutOfOrderness))).Name("ysb-events")
}

// CampaignCount is a result row: the number of views of a campaign's ads in one window, with the
// columns campaign_id, window_start, window_end, count.
type CampaignCount struct {
	// Campaign is the campaign's id.
	Campaign UUID
	// WindowStart and WindowEnd bound the window [start, end), in epoch milliseconds.
	WindowStart int64
	WindowEnd   int64
	// Count is the number of views of the campaign's ads in the window.
	Count int64
}

// AppendJSON appends {"campaign_id":…,"window_start":…,"window_end":…,"count":…}.
func (c CampaignCount) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"campaign_id":"`...)
	dst = appendUUID(dst, c.Campaign)
	dst = append(dst, `","window_start":`...)
	dst = strconv.AppendInt(dst, c.WindowStart, 10)
	dst = append(dst, `,"window_end":`...)
	dst = strconv.AppendInt(dst, c.WindowEnd, 10)
	dst = append(dst, `,"count":`...)
	dst = strconv.AppendInt(dst, c.Count, 10)
	return append(dst, '}')
}

// ReadyAt is the event time the source must reach for the row to exist: the watermark must pass
// the window's end − 1, and it is maxTimestamp − OutOfOrderness − 1.
func (c CampaignCount) ReadyAt() int64 {
	if c.WindowEnd > math.MaxInt64-OutOfOrderness.Milliseconds() {
		return math.MaxInt64
	}
	return c.WindowEnd - 1 + OutOfOrderness.Milliseconds() + 1
}

// ViewsPerCampaign is the benchmark's pipeline after decoding: keep the views, map each ad to
// its campaign through the in-memory table, and count views per campaign per 10 s tumbling
// window. An ad missing from the table is a dead letter with the reason (the benchmark's
// generator never produces one).
func ViewsPerCampaign(events sluice.Stream[AdEvent], campaigns *Campaigns) sluice.Stream[CampaignCount] {
	views := events.Filter(func(e AdEvent) bool { return e.EventType == View }).Name("ysb-views")
	perCampaign := sluice.Map(views, func(e AdEvent) int32 {
		c, ok := campaigns.Of(e.AdID)
		if !ok {
			panic(fmt.Errorf("ysb: ad %v belongs to no campaign", e.AdID))
		}
		return c
	}).Name("ysb-campaign-join")
	keyed := sluice.KeyBy(perCampaign, func(c int32) int32 { return c }).Name("ysb-by-campaign")
	counts := sluice.Aggregate(sluice.Window(keyed, window.Tumbling(WindowSize)), agg.Count[int32]()).
		Name("ysb-count").UID("ysb-count")
	return sluice.Map(counts, func(w sluice.Windowed[int32, int64]) CampaignCount {
		return CampaignCount{Campaign: campaigns.ID(w.Key), WindowStart: w.Window.Start, WindowEnd: w.Window.End, Count: w.Value}
	}).Name("ysb-rows")
}

// RowSink receives result rows with their types erased; the bench command's sinks implement it.
// Its contract is that of nexmark.RowSink: WantJSON says whether rows are encoded, Row receives
// each row's readiness (the event time the source had to reach; allSplits is always true here,
// every row waits for the watermark), a key (always 0: rows do not update) and its JSON.
type RowSink interface {
	WantJSON() bool
	Row(readyAt int64, allSplits bool, key int64, json []byte) error
	Close() error
}

// Attach builds the benchmark's pipeline on events and sends its rows to sink.
func Attach(events sluice.Stream[AdEvent], campaigns *Campaigns, sink RowSink) {
	sluice.SinkTo(ViewsPerCampaign(events, campaigns), sluice.Sink[CampaignCount](&rowSink{s: sink, json: sink.WantJSON()})).Name("results")
}

// rowSink adapts a RowSink to the typed sink of the result rows.
type rowSink struct {
	s    RowSink
	json bool
	buf  []byte
}

// Write hands c to the RowSink.
func (r *rowSink) Write(c CampaignCount) error {
	var b []byte
	if r.json {
		r.buf = c.AppendJSON(r.buf[:0])
		b = r.buf
	}
	return r.s.Row(c.ReadyAt(), true, 0, b)
}

// Flush flushes the RowSink when it buffers.
func (r *rowSink) Flush() error {
	if f, ok := r.s.(sluice.Flusher); ok {
		return f.Flush()
	}
	return nil
}

// Close closes the RowSink.
func (r *rowSink) Close() error { return r.s.Close() }
