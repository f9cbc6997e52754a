package nexmark

import (
	"errors"
	"fmt"
	"math"
)

// Constants of Beam's generator model (GeneratorConfig, PersonGenerator, AuctionGenerator,
// BidGenerator). They are fixed by the model, not configurable.
const (
	// FirstPersonID is the id of the first generated person.
	FirstPersonID = 1000
	// FirstAuctionID is the id of the first generated auction.
	FirstAuctionID = 1000
	// FirstCategoryID is the lowest auction category; categories run to FirstCategoryID+4.
	FirstCategoryID = 10
	// NumCategories is the number of auction categories.
	NumCategories = 5

	// PersonProportion, AuctionProportion and BidProportion give the mix of event kinds: out of
	// every ProportionDenominator consecutive event ids, the first PersonProportion are persons,
	// the next AuctionProportion auctions and the rest bids.
	PersonProportion = 1
	// AuctionProportion: see PersonProportion.
	AuctionProportion = 3
	// BidProportion: see PersonProportion.
	BidProportion = 46
	// ProportionDenominator is PersonProportion + AuctionProportion + BidProportion (50).
	ProportionDenominator = PersonProportion + AuctionProportion + BidProportion

	// personIDLead and auctionIDLead are how many not-yet-created ids a random pick may reach.
	personIDLead  = 10
	auctionIDLead = 10
	// hotSellerBatch, hotAuctionBatch and hotBidderBatch are Beam's HOT_SELLER_RATIO,
	// HOT_AUCTION_RATIO and HOT_BIDDER_RATIO: a hot seller/auction/bidder is the first (second
	// for bidders) of the latest batch of this many people or auctions.
	hotSellerBatch  = 100
	hotAuctionBatch = 100
	hotBidderBatch  = 100
	// minStringLength is the shortest random string before trimming.
	minStringLength = 3
)

// DefaultBaseTime is the event time of the first event when GeneratorConfig.BaseTime is zero:
// Beam's NexmarkUtils.BASE_TIME, 2015-07-15T00:00:00Z, in milliseconds since the Unix epoch.
const DefaultBaseTime int64 = 1436918400000

// RateShape is how the event rate varies between GeneratorConfig.FirstEventRate and
// NextEventRate, as Beam's NexmarkUtils.RateShape. With equal rates the shape does not matter.
type RateShape uint8

const (
	// RateShapeSine steps through ten rates along a cosine from FirstEventRate to NextEventRate
	// and back, one step every RatePeriodSec/10 seconds (rounded up). Beam's default.
	RateShapeSine RateShape = iota
	// RateShapeSquare alternates between FirstEventRate and NextEventRate every RatePeriodSec/2
	// seconds (rounded up).
	RateShapeSquare
)

// String returns "sine" or "square".
func (s RateShape) String() string {
	switch s {
	case RateShapeSine:
		return "sine"
	case RateShapeSquare:
		return "square"
	}
	return fmt.Sprintf("RateShape(%d)", uint8(s))
}

// RateUnit is the unit of GeneratorConfig.FirstEventRate and NextEventRate.
type RateUnit uint8

const (
	// PerSecond means events per second (Beam's default).
	PerSecond RateUnit = iota
	// PerMinute means events per minute.
	PerMinute
)

// String returns "per second" or "per minute".
func (u RateUnit) String() string {
	switch u {
	case PerSecond:
		return "per second"
	case PerMinute:
		return "per minute"
	}
	return fmt.Sprintf("RateUnit(%d)", uint8(u))
}

// microsPerUnit returns the number of microseconds in one unit, or 0 for an invalid unit.
func (u RateUnit) microsPerUnit() int64 {
	switch u {
	case PerSecond:
		return 1_000_000
	case PerMinute:
		return 60_000_000
	}
	return 0
}

// rateToPeriodUs is Beam's RateUnit.rateToPeriodUs: the microseconds between events at rate,
// rounded to nearest.
func (u RateUnit) rateToPeriodUs(rate int64) int64 {
	return (u.microsPerUnit() + rate/2) / rate
}

// GeneratorConfig controls a [Generator]. It mirrors Beam's GeneratorConfig together with the
// NexmarkConfiguration fields the generator reads. Every field whose zero value is not
// meaningful takes Beam's default when left zero (see [DefaultConfig]), so GeneratorConfig{}
// describes Beam's standard stream with a single generator. Negative values are invalid for
// every field but BaseTime.
type GeneratorConfig struct {
	// BaseTime is the event time of event number 0, in milliseconds since the Unix epoch.
	// Zero selects DefaultBaseTime (Beam's fixed 2015-07-15T00:00:00Z), so the stream never
	// depends on the wall clock; there is no way to ask for the epoch itself (use 1).
	BaseTime int64
	// FirstEventID is added to every event number to give the event id, which decides the event
	// kind and seeds its random draws. Default 0.
	FirstEventID int64
	// FirstEventNumber is the number of the first event generated; event numbers decide event
	// times. Default 0. (Beam's splitAtEventId uses it to resume a timeline part way.)
	FirstEventNumber int64
	// MaxEvents bounds how many events Next yields; zero means no bound.
	MaxEvents int64

	// NumEventGenerators is how many generators share the configured rate; each advances
	// event time NumEventGenerators times as fast per event. Default 1. (Beam's
	// NexmarkConfiguration defaults to 100 parallel generators; one generator here reproduces
	// Beam's stream with numEventGenerators=1.)
	NumEventGenerators int
	// FirstEventRate is the initial overall event rate, in RateUnit. Default 10,000, which with
	// one generator puts 100 µs of event time between events.
	FirstEventRate int
	// NextEventRate is the rate the shape moves to, in RateUnit. Zero means FirstEventRate (a
	// constant rate). Beam's default is 10,000 for both.
	NextEventRate int
	// RateUnit is the unit of the two rates. Default PerSecond.
	RateUnit RateUnit
	// RateShape is how the rate moves between the two rates. Default RateShapeSine.
	RateShape RateShape
	// RatePeriodSec is the period of the rate shape, in seconds. Default 600.
	RatePeriodSec int

	// AvgPersonByteSize is the average idealised size of a person record; Extra pads to it.
	// Default 200.
	AvgPersonByteSize int
	// AvgAuctionByteSize is the average idealised size of an auction record. Default 500.
	AvgAuctionByteSize int
	// AvgBidByteSize is the average idealised size of a bid record. Default 100.
	AvgBidByteSize int

	// HotAuctionRatio: a bid is for a hot auction with probability 1 − 1/HotAuctionRatio.
	// Default 2.
	HotAuctionRatio int
	// HotSellersRatio: an auction has a hot seller with probability 1 − 1/HotSellersRatio.
	// Default 4.
	HotSellersRatio int
	// HotBiddersRatio: a bid is by a hot bidder with probability 1 − 1/HotBiddersRatio.
	// Default 4.
	HotBiddersRatio int
	// NumInFlightAuctions is the average number of auctions open at once; it sets auction
	// lengths and which auctions random bids go to. Default 100.
	NumInFlightAuctions int
	// NumActivePeople is how many of the latest people random sellers and bidders are drawn
	// from. Default 1000.
	NumActivePeople int
	// OutOfOrderGroupSize shuffles event numbers within groups of this many events (Beam's
	// outOfOrderGroupSize: number n becomes floor(n/g)·g + (953·n mod g)). Default 1, in order.
	OutOfOrderGroupSize int64
}

// DefaultConfig returns the configuration of Beam's standard stream with one generator, every
// field spelled out: BaseTime DefaultBaseTime, 10,000 events/s (100 µs apart), sizes
// 200/500/100 bytes, hot ratios 2 (auctions), 4 (sellers), 4 (bidders), 100 auctions in
// flight, 1000 active people, no reordering, no bound on the number of events.
func DefaultConfig() GeneratorConfig {
	return GeneratorConfig{
		BaseTime:            DefaultBaseTime,
		NumEventGenerators:  1,
		FirstEventRate:      10_000,
		NextEventRate:       10_000,
		RateUnit:            PerSecond,
		RateShape:           RateShapeSine,
		RatePeriodSec:       600,
		AvgPersonByteSize:   200,
		AvgAuctionByteSize:  500,
		AvgBidByteSize:      100,
		HotAuctionRatio:     2,
		HotSellersRatio:     4,
		HotBiddersRatio:     4,
		NumInFlightAuctions: 100,
		NumActivePeople:     1000,
		OutOfOrderGroupSize: 1,
	}
}

// withDefaults returns c with every zero field that has a default replaced by it.
func (c GeneratorConfig) withDefaults() GeneratorConfig {
	d := DefaultConfig()
	if c.BaseTime == 0 {
		c.BaseTime = d.BaseTime
	}
	if c.NumEventGenerators == 0 {
		c.NumEventGenerators = d.NumEventGenerators
	}
	if c.FirstEventRate == 0 {
		c.FirstEventRate = d.FirstEventRate
	}
	if c.NextEventRate == 0 {
		c.NextEventRate = c.FirstEventRate
	}
	if c.RatePeriodSec == 0 {
		c.RatePeriodSec = d.RatePeriodSec
	}
	if c.AvgPersonByteSize == 0 {
		c.AvgPersonByteSize = d.AvgPersonByteSize
	}
	if c.AvgAuctionByteSize == 0 {
		c.AvgAuctionByteSize = d.AvgAuctionByteSize
	}
	if c.AvgBidByteSize == 0 {
		c.AvgBidByteSize = d.AvgBidByteSize
	}
	if c.HotAuctionRatio == 0 {
		c.HotAuctionRatio = d.HotAuctionRatio
	}
	if c.HotSellersRatio == 0 {
		c.HotSellersRatio = d.HotSellersRatio
	}
	if c.HotBiddersRatio == 0 {
		c.HotBiddersRatio = d.HotBiddersRatio
	}
	if c.NumInFlightAuctions == 0 {
		c.NumInFlightAuctions = d.NumInFlightAuctions
	}
	if c.NumActivePeople == 0 {
		c.NumActivePeople = d.NumActivePeople
	}
	if c.OutOfOrderGroupSize == 0 {
		c.OutOfOrderGroupSize = d.OutOfOrderGroupSize
	}
	return c
}

// Validate reports whether c (after defaults are applied to its zero fields) describes a
// stream the generator can produce, naming the first offending field if not.
func (c GeneratorConfig) Validate() error {
	_, err := newTimeline(c.withDefaults())
	return err
}

// maxJavaInt is Java's Integer.MAX_VALUE; Beam keeps these settings in Java ints.
const maxJavaInt = math.MaxInt32

// timeline is the event-time model of Beam's GeneratorConfig: which event time each event
// number gets.
type timeline struct {
	baseTime          int64
	interEventDelayUs []int64
	stepLengthSec     int64
	eventsPerEpoch    int64
	epochPeriodMs     int64
}

// newTimeline checks c, which must have its defaults applied, and derives its timeline as
// Beam's GeneratorConfig constructor does.
func newTimeline(c GeneratorConfig) (*timeline, error) {
	checks := []struct {
		name string
		v    int64
	}{
		{"FirstEventID", c.FirstEventID},
		{"FirstEventNumber", c.FirstEventNumber},
		{"MaxEvents", c.MaxEvents},
	}
	for _, ch := range checks {
		if ch.v < 0 {
			return nil, fmt.Errorf("nexmark: GeneratorConfig.%s is negative (%d)", ch.name, ch.v)
		}
	}
	positive := []struct {
		name string
		v    int
	}{
		{"NumEventGenerators", c.NumEventGenerators},
		{"FirstEventRate", c.FirstEventRate},
		{"NextEventRate", c.NextEventRate},
		{"RatePeriodSec", c.RatePeriodSec},
		{"AvgPersonByteSize", c.AvgPersonByteSize},
		{"AvgAuctionByteSize", c.AvgAuctionByteSize},
		{"AvgBidByteSize", c.AvgBidByteSize},
		{"HotAuctionRatio", c.HotAuctionRatio},
		{"HotSellersRatio", c.HotSellersRatio},
		{"HotBiddersRatio", c.HotBiddersRatio},
		{"NumInFlightAuctions", c.NumInFlightAuctions},
		{"NumActivePeople", c.NumActivePeople},
	}
	for _, p := range positive {
		if p.v <= 0 || p.v > maxJavaInt {
			return nil, fmt.Errorf("nexmark: GeneratorConfig.%s must be in [1, %d], got %d", p.name, maxJavaInt, p.v)
		}
	}
	if c.OutOfOrderGroupSize <= 0 {
		return nil, fmt.Errorf("nexmark: GeneratorConfig.OutOfOrderGroupSize must be positive, got %d", c.OutOfOrderGroupSize)
	}
	if c.RateUnit.microsPerUnit() == 0 {
		return nil, fmt.Errorf("nexmark: GeneratorConfig.RateUnit is invalid (%d)", uint8(c.RateUnit))
	}
	if c.RateShape != RateShapeSine && c.RateShape != RateShapeSquare {
		return nil, fmt.Errorf("nexmark: GeneratorConfig.RateShape is invalid (%d)", uint8(c.RateShape))
	}

	t := &timeline{baseTime: c.BaseTime}
	t.interEventDelayUs = interEventDelaysUs(c)
	for _, d := range t.interEventDelayUs {
		if d <= 0 {
			return nil, errors.New("nexmark: GeneratorConfig: an event rate is too high for its RateUnit (less than 1 µs between events)")
		}
	}
	// Beam's RateShape.stepLengthSec: the period split into the shape's steps, rounded up.
	steps := int64(10)
	if c.RateShape == RateShapeSquare {
		steps = 2
	}
	t.stepLengthSec = (int64(c.RatePeriodSec) + steps - 1) / steps
	if len(t.interEventDelayUs) > 1 {
		for _, d := range t.interEventDelayUs {
			n := t.stepLengthSec * 1_000_000 / d
			t.eventsPerEpoch += n
			t.epochPeriodMs += n * d / 1000
		}
		if t.eventsPerEpoch == 0 {
			return nil, errors.New("nexmark: GeneratorConfig: RatePeriodSec is too short for the event rates (no rate step would hold an event)")
		}
	}
	return t, nil
}

// interEventDelaysUs is Beam's RateShape.interEventDelayUs(firstRate, nextRate, unit,
// numGenerators): one delay for a constant rate, else one per step of the shape.
func interEventDelaysUs(c GeneratorConfig) []int64 {
	u := c.RateUnit
	gens := int64(c.NumEventGenerators)
	first, next := int64(c.FirstEventRate), int64(c.NextEventRate)
	if first == next {
		return []int64{u.rateToPeriodUs(first) * gens}
	}
	if c.RateShape == RateShapeSquare {
		return []int64{u.rateToPeriodUs(first) * gens, u.rateToPeriodUs(next) * gens}
	}
	const n = 10
	mid := float64(first+next) / 2.0
	amp := float64(first-next) / 2.0 // may be negative
	delays := make([]int64, n)
	for i := range delays {
		r := (2.0 * math.Pi * float64(i)) / n
		rate := mid + amp*math.Cos(r)
		delays[i] = u.rateToPeriodUs(javaRound(rate)) * gens
	}
	return delays
}

// timestampForEvent is Beam's GeneratorConfig.timestampAndInterEventDelayUsForEvent(n).getKey():
// the event time, in epoch milliseconds, of event number n.
func (t *timeline) timestampForEvent(n int64) int64 {
	if len(t.interEventDelayUs) == 1 {
		return t.baseTime + (n*t.interEventDelayUs[0])/1000
	}
	epoch := n / t.eventsPerEpoch
	n %= t.eventsPerEpoch
	var offsetInEpochMs int64
	for _, d := range t.interEventDelayUs {
		numEventsForThisCycle := t.stepLengthSec * 1_000_000 / d
		if n < numEventsForThisCycle {
			offsetInCycleUs := n * d
			return t.baseTime + epoch*t.epochPeriodMs + offsetInEpochMs + offsetInCycleUs/1000
		}
		n -= numEventsForThisCycle
		offsetInEpochMs += numEventsForThisCycle * d / 1000
	}
	panic("nexmark: internal error: eventsPerEpoch inconsistent with the rate steps")
}

// interEventDelayForEvent is timestampAndInterEventDelayUsForEvent(n).getValue(): the
// inter-event delay, in microseconds, in force at event number n.
func (t *timeline) interEventDelayForEvent(n int64) int64 {
	if len(t.interEventDelayUs) == 1 {
		return t.interEventDelayUs[0]
	}
	n %= t.eventsPerEpoch
	for _, d := range t.interEventDelayUs {
		numEventsForThisCycle := t.stepLengthSec * 1_000_000 / d
		if n < numEventsForThisCycle {
			return d
		}
		n -= numEventsForThisCycle
	}
	panic("nexmark: internal error: eventsPerEpoch inconsistent with the rate steps")
}

// javaRound is Java's Math.round(double) for the values used here: the nearest integer, ties
// rounded up (towards positive infinity), computed exactly (Math.round is not floor(x+0.5),
// whose addition can round).
func javaRound(x float64) int64 {
	if math.IsNaN(x) {
		return 0
	}
	if x >= math.MaxInt64 {
		return math.MaxInt64
	}
	if x <= math.MinInt64 {
		return math.MinInt64
	}
	f := math.Floor(x)
	if x-f >= 0.5 { // exact: x and floor(x) are within 1 and share an exponent range
		f++
	}
	return int64(f)
}
