// Package clickstream is Sluice's main demo job: generated click events, a count per page per
// one-minute event-time window, and an alert when a page exceeds a threshold in a window.
//
// Everything about a click depends only on the seed and its sequence number, and the alerts leave
// the pipeline sorted by (window, page) once the watermark passes them, so a seed always yields the
// same alert lines in the same order, whatever the parallelism and the interleaving of subtasks.
// The generated events are at most 3 s out of order and the watermark allows 5 s, so no event is
// ever late.
package clickstream

import (
	"cmp"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/agg"
	"github.com/sluicehq/sluice/connector/generator"
	"github.com/sluicehq/sluice/watermark"
	"github.com/sluicehq/sluice/window"
)

// Click is one page view.
type Click struct {
	User int64  `json:"user"`
	Page string `json:"page"`
	At   int64  `json:"ts"` // event time, epoch ms
}

// Alert says that a page had more than Threshold clicks in the window [WindowStart, WindowEnd).
type Alert struct {
	Page        string `json:"page"`
	WindowStart int64  `json:"window_start"`
	WindowEnd   int64  `json:"window_end"`
	Count       int64  `json:"count"`
	Threshold   int64  `json:"threshold"`
}

// Config is the demo's configuration.
type Config struct {
	// Events stops the generator after this many events; 0 runs until cancelled.
	Events int64
	// Seed makes the event stream reproducible.
	Seed int64
	// Rate paces the generator in events per second; 0 is as fast as possible.
	Rate float64
	// Threshold is the number of clicks in a window above which a page alerts. Default 3000.
	Threshold int64
	// Pages is the number of distinct pages. Default 50.
	Pages int
	// Splits is the number of generator splits (parallel source tasks). Default 1.
	Splits int
}

// BaseTime is the event time of the first click: 2026-01-01T00:00:00Z.
const BaseTime int64 = 1767225600000

// Spacing is the event-time distance between consecutive clicks: 1 ms, so a one-minute window
// holds 60,000 clicks.
const Spacing int64 = 1

// MaxDisorder is how far (ms) a click's time may lie before its predecessors'.
const MaxDisorder int64 = 3000

func (c *Config) defaults() {
	if c.Threshold == 0 {
		c.Threshold = 3000
	}
	if c.Pages <= 0 {
		c.Pages = 50
	}
	if c.Splits <= 0 {
		c.Splits = 1
	}
}

// Click returns click number seq of the stream for seed. Pages are skewed: page i is chosen with
// probability proportional to the width of [sqrt(i/n), sqrt((i+1)/n)), so the first pages are hot.
func (c Config) Click(seq int64) Click {
	c.defaults()
	r := splitmix(uint64(c.Seed)*0x9e3779b97f4a7c15 ^ uint64(seq))
	x := float64(r>>11) / (1 << 53)
	page := int(x * x * float64(c.Pages))
	r2 := splitmix(r)
	return Click{
		User: int64(r2 % 10_000),
		Page: pageNames(c.Pages)[page],
		At:   BaseTime + seq*Spacing - int64(r2>>32)%MaxDisorder,
	}
}

var names atomic.Pointer[[]string]

func pageNames(n int) []string {
	if p := names.Load(); p != nil && len(*p) == n {
		return *p
	}
	s := make([]string, n)
	for i := range s {
		s[i] = "/page/" + itoa(i)
	}
	names.Store(&s)
	return s
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Job is a built demo pipeline and its live counters.
type Job struct {
	Pipeline *sluice.Pipeline
	// Events counts generated clicks.
	Events atomic.Int64
	// Alerts counts alerts written.
	Alerts atomic.Int64
}

// LateClick is a click too late for its window.
type LateClick = sluice.LateElement[string, Click]

// Build creates the demo pipeline over generated clicks, writing alerts to out and late clicks,
// if any, to late (nil: late clicks are only counted).
func Build(cfg Config, out sluice.Sink[Alert], late sluice.Sink[LateClick]) *Job {
	cfg.defaults()
	j := &Job{Pipeline: sluice.NewPipeline("clickstream")}
	opts := []generator.Option{generator.Splits(cfg.Splits), generator.Rate(cfg.Rate)}
	if cfg.Events > 0 {
		opts = append(opts, generator.Count(cfg.Events))
	}
	src := generator.New(func(seq int64) Click {
		j.Events.Add(1)
		return cfg.Click(seq)
	}, opts...)
	j.build(cfg, sluice.FromSource[Click](j.Pipeline, src, clickTime()).Name("clicks"), out, late)
	return j
}

// BuildOn creates the demo pipeline over the clicks src reads (a Kafka topic written by
// ProduceClicks), counting them as they arrive. Its alerts equal Build's for the same clicks.
func BuildOn(cfg Config, src sluice.Source[Click], out sluice.Sink[Alert], late sluice.Sink[LateClick]) *Job {
	cfg.defaults()
	j := &Job{Pipeline: sluice.NewPipeline("clickstream")}
	clicks := sluice.Map(sluice.FromSource[Click](j.Pipeline, src, clickTime()).Name("clicks"), func(c Click) Click {
		j.Events.Add(1)
		return c
	}).Name("count-clicks")
	j.build(cfg, clicks, out, late)
	return j
}

// clickTime is the demo's event time: the click's timestamp, 5 s of allowed disorder (clicks are
// at most MaxDisorder out of order) and 30 s of idleness.
func clickTime() sluice.SourceOption[Click] {
	return sluice.EventTimeMillis(func(c Click) int64 { return c.At },
		watermark.BoundedOutOfOrderness(5*time.Second), watermark.Idleness(30*time.Second))
}

func (j *Job) build(cfg Config, clicks sluice.Stream[Click], out sluice.Sink[Alert], late sluice.Sink[LateClick]) {
	perPage := sluice.KeyBy(clicks, func(c Click) string { return c.Page })
	w := sluice.Window(perPage, window.Tumbling(time.Minute))
	counts := sluice.Aggregate(w, agg.Count[Click]()).Name("clicks-per-page").UID("clicks-per-page")
	hot := counts.Filter(func(r sluice.Windowed[string, int64]) bool { return r.Value > cfg.Threshold }).Name("over-threshold")
	alerts := sluice.Map(hot, func(r sluice.Windowed[string, int64]) Alert {
		return Alert{Page: r.Key, WindowStart: r.Window.Start, WindowEnd: r.Window.End, Count: r.Value, Threshold: cfg.Threshold}
	}).Name("to-alert")
	ordered := sluice.SortByTime(alerts, func(a, b Alert) int { return cmp.Compare(a.Page, b.Page) }).Name("order-alerts").UID("order-alerts")
	counted := sluice.Map(ordered, func(a Alert) Alert {
		j.Alerts.Add(1)
		return a
	}).Name("count-alerts")
	// The sink goes in unwrapped: a wrapper would hide its two-phase commit (exactly-once).
	sluice.SinkTo(counted, out)
	// Late clicks cannot happen with the demo's generator; if they ever did, they would go to
	// the late sink with their reason (and are counted by the engine either way).
	if late != nil {
		sluice.SinkTo(sluice.Late(w), late)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for ; i > 0; i /= 10 {
		n--
		b[n] = byte('0' + i%10)
	}
	return string(b[n:])
}
