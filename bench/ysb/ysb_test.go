package ysb

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
)

func TestGeneratorLinesAreTheEvents(t *testing.T) {
	g := NewGenerator(Config{Seed: 9})
	var e AdEvent
	for n := range int64(2000) {
		want := g.Event(n)
		line := g.AppendLine(nil, n)
		if !bytes.Equal(line, AppendJSON(nil, &want)) {
			t.Fatalf("event %d: line %s, want %s", n, line, AppendJSON(nil, &want))
		}
		if err := DecodeAdEvent(line, &e); err != nil || e != want {
			t.Fatalf("event %d: %s decodes to %+v (%v), want %+v", n, line, e, err, want)
		}
		if c, ok := g.Campaigns().Of(e.AdID); !ok || c < 0 || int(c) >= g.Campaigns().Len() {
			t.Fatalf("event %d: ad %v has no campaign", n, e.AdID)
		}
	}
	if g.Campaigns().Len() != 100 || len(g.Campaigns().Ads()) != 1000 {
		t.Fatalf("%d campaigns, %d ads: want 100 and 1000", g.Campaigns().Len(), len(g.Campaigns().Ads()))
	}
	if other := NewGenerator(Config{Seed: 9}); other.Event(1234) != g.Event(1234) {
		t.Fatal("the generator is not deterministic")
	}
	if other := NewGenerator(Config{Seed: 10}); other.Event(1234) == g.Event(1234) {
		t.Fatal("the seed does not change the stream")
	}
}

type collect struct {
	mu   sync.Mutex
	rows []CampaignCount
}

func (c *collect) Write(r CampaignCount) error {
	c.mu.Lock()
	c.rows = append(c.rows, r)
	c.mu.Unlock()
	return nil
}

func (c *collect) Close() error { return nil }

// TestPipelineMatchesOracle runs the benchmark on 100k events, at parallelism 2 and 1, and
// compares the counts with a brute-force count. The event-time rate is lowered to 1,000 events/s
// so that the events span ten windows (at the default 100,000 events/s they would span one).
func TestPipelineMatchesOracle(t *testing.T) {
	cfg := Config{Events: 100_000, EventsPerSecond: 1_000, Seed: 3}
	g := NewGenerator(cfg)
	type key struct {
		campaign int32
		start    int64
	}
	counts := map[key]int64{}
	for n := range cfg.Events {
		e := g.Event(n)
		if e.EventType != View {
			continue
		}
		c, _ := g.Campaigns().Of(e.AdID)
		counts[key{c, e.EventTime - e.EventTime%WindowSize.Milliseconds()}]++
	}
	var want []CampaignCount
	for k, n := range counts {
		want = append(want, CampaignCount{Campaign: g.Campaigns().ID(k.campaign), WindowStart: k.start,
			WindowEnd: k.start + WindowSize.Milliseconds(), Count: n})
	}
	for _, parallelism := range []int{2, 1} {
		p := sluice.NewPipeline("ysb-test")
		out := &collect{}
		sluice.SinkTo(ViewsPerCampaign(Events(p, NewSource(g, Splits(parallelism))), g.Campaigns()), sluice.Sink[CampaignCount](out))
		var stats engine.Stats
		if err := engine.Run(context.Background(), p, engine.Parallelism(parallelism), engine.FailFast(), engine.WithStats(&stats)); err != nil {
			t.Fatal(err)
		}
		if stats.Late() != 0 || stats.DeadLetters() != 0 {
			t.Errorf("%d late events, %d dead letters", stats.Late(), stats.DeadLetters())
		}
		if got, w := sorted(out.rows), sorted(want); !slices.Equal(got, w) {
			t.Fatalf("parallelism %d: %d rows differ from the oracle's %d", parallelism, len(got), len(w))
		}
		t.Logf("parallelism %d: %d rows (campaign × window) match the oracle", parallelism, len(want))
	}
}

func sorted(rows []CampaignCount) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = string(r.AppendJSON(nil))
	}
	slices.Sort(out)
	return out
}

// TestSourceRejectsUndecodableLines checks that a line the decoder rejects is a dead letter.
func TestSourceRejectsUndecodableLines(t *testing.T) {
	g := NewGenerator(Config{Events: 10})
	readers, err := NewSource(g).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := readers[0].(*split)
	var rejected []string
	r.SetReject(func(reason string, raw any) { rejected = append(rejected, reason) })
	g.adTexts[g.choose(3).ad][0] = 'x' // corrupt the text of event 3's ad
	defer func() { g.adTexts[g.choose(3).ad][0] = g.campaigns.ads[g.choose(3).ad].String()[0] }()
	events, _ := r.Read(context.Background(), make([]AdEvent, 0, 10))
	if len(rejected) == 0 || len(events)+len(rejected) != 10 {
		t.Fatalf("%d events, %d rejected (%q): want every line accounted for, some rejected", len(events), len(rejected), rejected)
	}
}
