package ysb

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/sluicehq/sluice"
)

// DefaultBaseTime is the event time of the first event when Config.BaseTime is zero:
// 2017-06-28T00:00:00Z in epoch milliseconds.
const DefaultBaseTime int64 = 1498608000000

// Config configures the generator. Zero fields take their defaults.
type Config struct {
	// Seed selects the stream: the ids and every event's choices follow from it. Default 0.
	Seed int64
	// Events bounds the stream; 0 means unbounded.
	Events int64
	// Campaigns is the number of campaigns. Default 100 (the benchmark's).
	Campaigns int
	// AdsPerCampaign is the number of ads of each campaign. Default 10 (the benchmark's).
	AdsPerCampaign int
	// Users and Pages are the sizes of the pools of user and page ids. Default 100 each.
	Users, Pages int
	// EventsPerSecond is the event-time rate: event n happens at BaseTime + n·1000/EventsPerSecond
	// ms (integer division). Default 100,000.
	EventsPerSecond int64
	// BaseTime is the event time of event 0 in epoch milliseconds. Default DefaultBaseTime.
	BaseTime int64
}

func (c Config) withDefaults() Config {
	if c.Campaigns <= 0 {
		c.Campaigns = 100
	}
	if c.AdsPerCampaign <= 0 {
		c.AdsPerCampaign = 10
	}
	if c.Users <= 0 {
		c.Users = 100
	}
	if c.Pages <= 0 {
		c.Pages = 100
	}
	if c.EventsPerSecond <= 0 {
		c.EventsPerSecond = 100_000
	}
	if c.BaseTime == 0 {
		c.BaseTime = DefaultBaseTime
	}
	return c
}

// Campaigns is the in-memory ad → campaign table (the benchmark keeps it in Redis).
type Campaigns struct {
	ids   []UUID
	ads   []UUID
	table map[UUID]int32
}

// Len is the number of campaigns.
func (c *Campaigns) Len() int { return len(c.ids) }

// ID returns the id of campaign i (0 ≤ i < Len).
func (c *Campaigns) ID(i int32) UUID { return c.ids[i] }

// Ads returns every ad id, campaign by campaign.
func (c *Campaigns) Ads() []UUID { return c.ads }

// Of returns the index of the campaign an ad belongs to.
func (c *Campaigns) Of(ad UUID) (int32, bool) {
	i, ok := c.table[ad]
	return i, ok
}

// Generator produces the events of a Config: event n is a function of the seed and n only, so
// any split of the sequence numbers reproduces the same stream. It is safe for concurrent use.
type Generator struct {
	cfg       Config
	campaigns *Campaigns
	users     [][uuidLen]byte // text forms, so that a line is assembled by copying
	pages     [][uuidLen]byte
	adTexts   [][uuidLen]byte
	userIDs   []UUID
	pageIDs   []UUID
}

// NewGenerator returns the generator of cfg, with its campaigns and id pools drawn from the seed.
func NewGenerator(cfg Config) *Generator {
	cfg = cfg.withDefaults()
	g := &Generator{cfg: cfg}
	r := uint64(cfg.Seed)
	next := func() UUID {
		var u UUID
		for i := 0; i < 16; i += 8 {
			r += 0x9e3779b97f4a7c15
			v := mix(r)
			for j := range 8 {
				u[i+j] = byte(v >> (8 * j))
			}
		}
		u[6] = u[6]&0x0f | 0x40 // version 4
		u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
		return u
	}
	c := &Campaigns{table: make(map[UUID]int32, cfg.Campaigns*cfg.AdsPerCampaign)}
	for i := range cfg.Campaigns {
		c.ids = append(c.ids, next())
		for range cfg.AdsPerCampaign {
			ad := next()
			c.ads = append(c.ads, ad)
			c.table[ad] = int32(i)
		}
	}
	g.campaigns = c
	text := func(u UUID) (t [uuidLen]byte) {
		copy(t[:], appendUUID(nil, u))
		return t
	}
	for range cfg.Users {
		g.userIDs = append(g.userIDs, next())
		g.users = append(g.users, text(g.userIDs[len(g.userIDs)-1]))
	}
	for range cfg.Pages {
		g.pageIDs = append(g.pageIDs, next())
		g.pages = append(g.pages, text(g.pageIDs[len(g.pageIDs)-1]))
	}
	for _, ad := range c.ads {
		g.adTexts = append(g.adTexts, text(ad))
	}
	return g
}

// Config returns the generator's configuration with its defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Campaigns returns the ad → campaign table.
func (g *Generator) Campaigns() *Campaigns { return g.campaigns }

// IPAddress is the address of every generated event, as in the benchmark's generator.
var IPAddress = [4]byte{1, 2, 3, 4}

// choice is the random choices of event n.
type choice struct {
	user, page, ad int
	adType         AdType
	eventType      EventType
	time           int64
}

func (g *Generator) choose(n int64) choice {
	r := mix(uint64(g.cfg.Seed)*0x9e3779b97f4a7c15 ^ uint64(n) ^ 0x5851f42d4c957f2d)
	return choice{
		user:      int(r % uint64(len(g.users))),
		page:      int((r >> 12) % uint64(len(g.pages))),
		ad:        int((r >> 24) % uint64(len(g.adTexts))),
		adType:    AdType((r >> 44) % uint64(numAdTypes)),
		eventType: EventType((r >> 52) % uint64(numEventTypes)),
		time:      g.cfg.BaseTime + n*1000/g.cfg.EventsPerSecond,
	}
}

// Event returns event n.
func (g *Generator) Event(n int64) AdEvent {
	c := g.choose(n)
	return AdEvent{UserID: g.userIDs[c.user], PageID: g.pageIDs[c.page], AdID: g.campaigns.ads[c.ad],
		AdType: c.adType, EventType: c.eventType, EventTime: c.time, IPAddress: IPAddress}
}

// AppendLine appends event n as one JSON line without its newline: the bytes AppendJSON writes
// for Event(n), assembled from precomputed pieces.
func (g *Generator) AppendLine(dst []byte, n int64) []byte {
	c := g.choose(n)
	dst = append(dst, `{"user_id":"`...)
	dst = append(dst, g.users[c.user][:]...)
	dst = append(dst, `","page_id":"`...)
	dst = append(dst, g.pages[c.page][:]...)
	dst = append(dst, `","ad_id":"`...)
	dst = append(dst, g.adTexts[c.ad][:]...)
	dst = append(dst, `","ad_type":"`...)
	dst = append(dst, adTypeNames[c.adType]...)
	dst = append(dst, `","event_type":"`...)
	dst = append(dst, eventTypeNames[c.eventType]...)
	dst = append(dst, `","event_time":"`...)
	dst = strconv.AppendInt(dst, c.time, 10)
	return append(dst, `","ip_address":"1.2.3.4"}`...)
}

// mix is the SplitMix64 finalizer.
func mix(x uint64) uint64 {
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// SourceOption configures NewSource.
type SourceOption func(*sourceConfig)

type sourceConfig struct {
	splits  int
	onBatch func(split, records int, minTime, maxTime int64)
}

// Splits sets the number of splits; split i of n produces the events i, i+n, i+2n, … Default 1.
func Splits(n int) SourceOption { return func(c *sourceConfig) { c.splits = max(n, 1) } }

// OnBatch registers a function each split calls after every batch with the split's index, the
// number of events in the batch and their smallest and largest event time, and once more with no
// events and math.MaxInt64 as both times when it ends; benchmarks use it to count events and
// measure latency. Default: none.
func OnBatch(f func(split, records int, minTime, maxTime int64)) SourceOption {
	return func(c *sourceConfig) { c.onBatch = f }
}

// Source is a sluice.Source[AdEvent] that reads the generator's events as JSON lines and decodes
// them with DecodeAdEvent, as a Kafka source would read and deserialize the benchmark's topic:
// each split renders its events into a reused line buffer and decodes them. A line that does not
// decode goes to the dead-letter stream with the reason and the line.
type Source struct {
	g  *Generator
	sc sourceConfig
}

// NewSource returns a source of the generator's events (Config.Events of them, or unbounded).
func NewSource(g *Generator, opts ...SourceOption) *Source {
	s := &Source{g: g, sc: sourceConfig{splits: 1}}
	for _, o := range opts {
		o(&s.sc)
	}
	return s
}

// Open returns the splits.
func (s *Source) Open(context.Context) ([]sluice.SplitReader[AdEvent], error) {
	readers := make([]sluice.SplitReader[AdEvent], s.sc.splits)
	for i := range readers {
		readers[i] = &split{g: s.g, index: i, next: int64(i), step: int64(s.sc.splits),
			end: s.g.cfg.Events, line: make([]byte, 0, 512), onBatch: s.sc.onBatch}
	}
	return readers, nil
}

type split struct {
	g       *Generator
	index   int
	next    int64
	step    int64
	end     int64 // 0: unbounded
	line    []byte
	reject  func(reason string, raw any)
	onBatch func(int, int, int64, int64)
}

// SetReject receives the dead-letter route for lines that do not decode.
func (s *split) SetReject(reject func(reason string, raw any)) { s.reject = reject }

// Read renders and decodes the next events into dst.
func (s *split) Read(ctx context.Context, dst []AdEvent) ([]AdEvent, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	first := len(dst)
	minTime, maxTime := int64(math.MaxInt64), int64(math.MinInt64)
	for want := max(cap(dst)-len(dst), 1); want > 0; want-- {
		if s.end > 0 && s.next >= s.end {
			break
		}
		s.line = s.g.AppendLine(s.line[:0], s.next)
		s.next += s.step
		n := len(dst)
		dst = append(dst, AdEvent{})
		if err := DecodeAdEvent(s.line, &dst[n]); err != nil {
			dst = dst[:n]
			if s.reject == nil {
				return dst, fmt.Errorf("ysb split %d: %w", s.index, err)
			}
			s.reject(err.Error(), string(s.line))
			continue
		}
		minTime, maxTime = min(minTime, dst[n].EventTime), max(maxTime, dst[n].EventTime)
	}
	if s.onBatch != nil && len(dst) > first {
		s.onBatch(s.index, len(dst)-first, minTime, maxTime)
	}
	if s.end > 0 && s.next >= s.end {
		if s.onBatch != nil {
			s.onBatch(s.index, 0, math.MaxInt64, math.MaxInt64)
		}
		return dst, io.EOF
	}
	return dst, nil
}

// Close does nothing.
func (s *split) Close() error { return nil }
