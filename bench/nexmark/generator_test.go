package nexmark

import (
	"math"
	"strings"
	"testing"
)

func generate(t testing.TB, cfg GeneratorConfig, n int) []Event {
	t.Helper()
	cfg.MaxEvents = int64(n)
	g := NewGenerator(cfg)
	events := make([]Event, 0, n)
	var e Event
	for g.Next(&e) {
		events = append(events, e)
	}
	if len(events) != n {
		t.Fatalf("generated %d events, want %d", len(events), n)
	}
	return events
}

func TestDeterministic(t *testing.T) {
	for name, cfg := range goldenConfigs {
		a := generate(t, cfg, 5000)
		b := generate(t, cfg, 5000)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s: event %d differs between runs:\n%+v\n%+v", name, i, a[i], b[i])
			}
		}
	}
}

// TestZeroConfigIsDefault checks that zero fields take Beam's defaults.
func TestZeroConfigIsDefault(t *testing.T) {
	a := generate(t, GeneratorConfig{}, 500)
	b := generate(t, DefaultConfig(), 500)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("event %d: zero config gives %+v, DefaultConfig gives %+v", i, a[i], b[i])
		}
	}
	if got := NewGenerator(GeneratorConfig{}).Config(); got.BaseTime != DefaultBaseTime || got.NextEventRate != 10_000 {
		t.Errorf("defaults not applied: %+v", got)
	}
}

func TestKindProportions(t *testing.T) {
	const n = 50_000
	var counts [4]int
	g := NewGenerator(GeneratorConfig{MaxEvents: n})
	var e Event
	for i := int64(0); g.Next(&e); i++ {
		counts[e.Kind]++
		var want EventKind
		switch i % 50 {
		case 0:
			want = KindPerson
		case 1, 2, 3:
			want = KindAuction
		default:
			want = KindBid
		}
		if e.Kind != want {
			t.Fatalf("event %d is a %v, want a %v", i, e.Kind, want)
		}
	}
	if counts[KindPerson] != n/50 || counts[KindAuction] != 3*n/50 || counts[KindBid] != 46*n/50 {
		t.Fatalf("counts person/auction/bid = %d/%d/%d, want %d/%d/%d",
			counts[KindPerson], counts[KindAuction], counts[KindBid], n/50, 3*n/50, 46*n/50)
	}
}

// TestStreamInvariants checks the shape of the default stream: ids and times as in Beam, and
// every field within the ranges Beam's model gives it.
func TestStreamInvariants(t *testing.T) {
	const n = 60_000 // past 50,000 events, NumActivePeople (1000) starts to bind
	cfg := DefaultConfig()
	cfg.MaxEvents = n
	g := NewGenerator(cfg)
	var e Event
	nextPerson, nextAuction := int64(FirstPersonID), int64(FirstAuctionID)
	lastTime := int64(math.MinInt64)
	hotAuctions, hotBidders, hotSellers, bids, auctions := 0, 0, 0, 0, 0
	for i := int64(0); ; i++ {
		if id := g.NextEventID(); id != i {
			t.Fatalf("event %d has id %d", i, id)
		}
		if !g.Next(&e) {
			break
		}
		ts := e.Timestamp()
		if want := DefaultBaseTime + i*100/1000; ts != want {
			t.Fatalf("event %d at %d, want %d (100 µs per event)", i, ts, want)
		}
		if ts < lastTime {
			t.Fatalf("event %d: time went back from %d to %d", i, lastTime, ts)
		}
		lastTime = ts
		// Ids available at event i: persons 1000..lastPerson, auctions 1000..lastAuction.
		lastPerson := FirstPersonID + lastBase0PersonID(i)
		lastAuction := FirstAuctionID + lastBase0AuctionID(i)
		switch e.Kind {
		case KindPerson:
			p := e.Person
			if p.ID != nextPerson {
				t.Fatalf("event %d: person id %d, want %d", i, p.ID, nextPerson)
			}
			nextPerson++
			if !strings.Contains(p.EmailAddress, "@") || !strings.HasSuffix(p.EmailAddress, ".com") {
				t.Fatalf("event %d: email %q", i, p.EmailAddress)
			}
			if len(p.CreditCard) != 19 {
				t.Fatalf("event %d: credit card %q", i, p.CreditCard)
			}
			checkExtra(t, i, p.Extra)
		case KindAuction:
			a := e.Auction
			auctions++
			if a.ID != nextAuction {
				t.Fatalf("event %d: auction id %d, want %d", i, a.ID, nextAuction)
			}
			nextAuction++
			if a.Category < 10 || a.Category > 14 {
				t.Fatalf("event %d: category %d", i, a.Category)
			}
			checkPrice(t, i, a.InitialBid)
			if a.Reserve < a.InitialBid+100 || a.Reserve > a.InitialBid+100_000_000 {
				t.Fatalf("event %d: reserve %d for initial bid %d", i, a.Reserve, a.InitialBid)
			}
			// Length in [1, 2·horizon]; the horizon is 1666 events, 166 ms at 100 µs.
			if a.Expires <= a.DateTime || a.Expires > a.DateTime+2*167 {
				t.Fatalf("event %d: expires %d for dateTime %d", i, a.Expires, a.DateTime)
			}
			if a.Seller < FirstPersonID || a.Seller > lastPerson+personIDLead {
				t.Fatalf("event %d: seller %d beyond last person %d + lead", i, a.Seller, lastPerson)
			}
			if (a.Seller-FirstPersonID)%hotSellerBatch == 0 {
				hotSellers++
			}
			if len(a.ItemName) > 19 || len(a.Description) > 99 || strings.TrimSpace(a.ItemName) != a.ItemName {
				t.Fatalf("event %d: item name %q / description %q", i, a.ItemName, a.Description)
			}
			checkExtra(t, i, a.Extra)
		case KindBid:
			b := e.Bid
			bids++
			checkPrice(t, i, b.Price)
			if b.Auction < FirstAuctionID || b.Auction > lastAuction+auctionIDLead ||
				b.Auction < lastAuction-int64(cfg.NumInFlightAuctions)-hotAuctionBatch {
				t.Fatalf("event %d: auction %d, last auction %d", i, b.Auction, lastAuction)
			}
			if b.Bidder < FirstPersonID || b.Bidder > lastPerson+personIDLead ||
				(i >= 50_000 && b.Bidder < lastPerson-int64(cfg.NumActivePeople)-hotBidderBatch) {
				t.Fatalf("event %d: bidder %d, last person %d", i, b.Bidder, lastPerson)
			}
			if b.Auction == (lastAuction-FirstAuctionID)/hotAuctionBatch*hotAuctionBatch+FirstAuctionID {
				hotAuctions++
			}
			if b.Bidder == (lastPerson-FirstPersonID)/hotBidderBatch*hotBidderBatch+FirstPersonID+1 {
				hotBidders++
			}
			if b.Channel != "" || b.URL != "" {
				t.Fatalf("event %d: channel/url set: %+v", i, b)
			}
			if n := len(b.Extra); n < 54 || n >= 54+28 {
				t.Fatalf("event %d: bid extra of %d bytes, want [54, 82)", i, n)
			}
		default:
			t.Fatalf("event %d: kind %v", i, e.Kind)
		}
	}
	// Hot fractions: ≈ 1 − 1/ratio plus the random picks that land on the hot one.
	if f := float64(hotAuctions) / float64(bids); f < 0.48 || f > 0.53 {
		t.Errorf("hot auction fraction %.3f, want ≈ 0.5", f)
	}
	if f := float64(hotBidders) / float64(bids); f < 0.73 || f > 0.77 {
		t.Errorf("hot bidder fraction %.3f, want ≈ 0.75", f)
	}
	if f := float64(hotSellers) / float64(auctions); f < 0.72 || f > 0.78 {
		t.Errorf("hot seller fraction %.3f, want ≈ 0.75", f)
	}
}

func checkPrice(t *testing.T, i int64, p int64) {
	t.Helper()
	if p < 100 || p > 100_000_000 {
		t.Fatalf("event %d: price %d outside [100, 100000000] cents", i, p)
	}
}

func checkExtra(t *testing.T, i int64, s string) {
	t.Helper()
	for j := 0; j < len(s); j++ {
		if c := s[j]; c < 'H' || c > 'z' {
			t.Fatalf("event %d: extra has byte %q", i, c)
		}
	}
}

// TestPricesLogUniform checks the price distribution: log10(price/100) uniform on [0, 6].
func TestPricesLogUniform(t *testing.T) {
	g := &Generator{}
	g.rnd.SetSeed(1)
	var buckets [6]int
	const n = 60_000
	for i := 0; i < n; i++ {
		p := g.nextPrice()
		if p < 100 || p > 100_000_000 {
			t.Fatalf("price %d out of range", p)
		}
		b := int(math.Log10(float64(p) / 100))
		buckets[min(b, 5)]++
	}
	for b, c := range buckets {
		if c < n/6*9/10 || c > n/6*11/10 {
			t.Errorf("decade %d holds %d prices, want ≈ %d", b, c, n/6)
		}
	}
}

func TestOutOfOrderGroups(t *testing.T) {
	cfg := DefaultConfig()
	cfg.OutOfOrderGroupSize = 10
	cfg.MaxEvents = 1000
	g := NewGenerator(cfg)
	seen := map[int64]bool{}
	var e Event
	for i := int64(0); g.HasNext(); i++ {
		id := g.NextEventID()
		if id/10 != i/10 {
			t.Fatalf("event %d got id %d outside its group", i, id)
		}
		seen[id] = true
		if wm := g.NextWatermark(); wm > DefaultBaseTime+id*100/1000 {
			t.Fatalf("event %d: watermark %d after the event's time", i, wm)
		}
		g.Next(&e)
		if e.Timestamp() != DefaultBaseTime+id*100/1000 {
			t.Fatalf("event %d (id %d) at %d", i, id, e.Timestamp())
		}
	}
	if len(seen) != 1000 {
		t.Fatalf("%d distinct ids in 1000 events; 953 is coprime with 10, so want all", len(seen))
	}
}

func TestRateShapes(t *testing.T) {
	cfg := goldenConfigs["square"].withDefaults()
	tl, err := newTimeline(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// 600/min → 100 ms, 900/min → 66.667 ms (rounded to 66667 µs); 15 s steps.
	if len(tl.interEventDelayUs) != 2 || tl.interEventDelayUs[0] != 100_000 || tl.interEventDelayUs[1] != 66_667 {
		t.Fatalf("square delays %v", tl.interEventDelayUs)
	}
	if tl.stepLengthSec != 15 || tl.eventsPerEpoch != 150+224 {
		t.Fatalf("step %d s, %d events per epoch", tl.stepLengthSec, tl.eventsPerEpoch)
	}
	g := NewGenerator(cfg)
	if d := g.CurrentInterEventDelayUs(); d != 100_000 {
		t.Fatalf("first delay %d", d)
	}
	sine := goldenConfigs["variant"].withDefaults()
	tl, err = newTimeline(sine)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.interEventDelayUs) != 10 {
		t.Fatalf("sine has %d steps", len(tl.interEventDelayUs))
	}
	// Rates from 10,000 to 25,000 and back, three generators: 300 µs down to 120 µs.
	if tl.interEventDelayUs[0] != 300 || tl.interEventDelayUs[5] != 120 {
		t.Fatalf("sine delays %v", tl.interEventDelayUs)
	}
	// Event time never goes back along several epochs.
	last := int64(math.MinInt64)
	for n := int64(0); n < 3*tl.eventsPerEpoch; n += 7 {
		ts := tl.timestampForEvent(n)
		if ts < last {
			t.Fatalf("event number %d at %d, before %d", n, ts, last)
		}
		last = ts
	}
}

func TestConfigValidation(t *testing.T) {
	if err := (GeneratorConfig{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	bad := []struct {
		cfg  GeneratorConfig
		want string
	}{
		{GeneratorConfig{HotAuctionRatio: -1}, "HotAuctionRatio"},
		{GeneratorConfig{NumActivePeople: -5}, "NumActivePeople"},
		{GeneratorConfig{MaxEvents: -1}, "MaxEvents"},
		{GeneratorConfig{OutOfOrderGroupSize: -2}, "OutOfOrderGroupSize"},
		{GeneratorConfig{RateShape: 9}, "RateShape"},
		{GeneratorConfig{RateUnit: 9}, "RateUnit"},
		{GeneratorConfig{FirstEventRate: 3_000_000}, "rate is too high"},
		{GeneratorConfig{RateUnit: PerMinute, FirstEventRate: 1, NextEventRate: 2, RatePeriodSec: 1}, "RatePeriodSec is too short"},
	}
	for _, b := range bad {
		err := b.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%+v: error %v, want one naming %q", b.cfg, err, b.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("NewGenerator accepted an invalid config")
		}
	}()
	NewGenerator(GeneratorConfig{HotBiddersRatio: -1})
}

func TestJavaRound(t *testing.T) {
	cases := []struct {
		x    float64
		want int64
	}{
		{0, 0}, {0.5, 1}, {1.5, 2}, {2.5, 3}, {-0.5, 0}, {-1.5, -1}, {-2.5, -2}, {-2.6, -3},
		{0.49999999999999994, 0}, {4503599627370497, 4503599627370497}, {13.6, 14}, {13.4, 13},
		{math.NaN(), 0}, {math.Inf(1), math.MaxInt64}, {math.Inf(-1), math.MinInt64},
	}
	for _, c := range cases {
		if got := javaRound(c.x); got != c.want {
			t.Errorf("javaRound(%v) = %d, want %d", c.x, got, c.want)
		}
	}
}

func TestWatermarkFor(t *testing.T) {
	if got := WatermarkFor(DefaultBaseTime); got != DefaultBaseTime-4000 {
		t.Fatalf("WatermarkFor = %d", got)
	}
}

// TestNextAllocations checks that generating into a reused Event allocates only the one string
// backing per event (none for bids whose padding is empty).
func TestNextAllocations(t *testing.T) {
	g := NewGenerator(GeneratorConfig{})
	var e Event
	allocs := testing.AllocsPerRun(5000, func() { g.Next(&e) })
	if allocs > 1 {
		t.Fatalf("%.2f allocations per event, want at most 1", allocs)
	}
}
