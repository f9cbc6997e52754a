package nexmark

import (
	"math"
	"slices"
)

// Word lists of Beam's PersonGenerator, in Beam's order (the order is part of the stream).
var (
	usStates   = [...]string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities   = [...]string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	firstNames = [...]string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames  = [...]string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
)

// personNames holds every "First Last" combination, indexed by first*len(lastNames)+last, so that
// generating a name allocates nothing.
var personNames = func() []string {
	names := make([]string, 0, len(firstNames)*len(lastNames))
	for _, f := range firstNames {
		for _, l := range lastNames {
			names = append(names, f+" "+l)
		}
	}
	return names
}()

// Generator produces Beam's deterministic Nexmark event stream for one [GeneratorConfig]. It is
// the port of Beam's Generator (sources/generator/Generator.java) and of the person, auction and
// bid generators of its model package. A Generator is not safe for concurrent use; run one per
// goroutine with disjoint configurations to generate in parallel.
type Generator struct {
	cfg   GeneratorConfig
	tl    *timeline
	count int64 // events generated so far (Beam's eventsCountSoFar)
	rnd   JavaRandom
	buf   []byte // scratch for the strings of the event being generated
}

// NewGenerator returns a generator for cfg, whose zero fields take their defaults (see
// [GeneratorConfig]). It panics if the configuration is invalid; use
// [GeneratorConfig.Validate] first to get an error instead.
func NewGenerator(cfg GeneratorConfig) *Generator {
	cfg = cfg.withDefaults()
	tl, err := newTimeline(cfg)
	if err != nil {
		panic(err)
	}
	return &Generator{cfg: cfg, tl: tl, buf: make([]byte, 0, 1024)}
}

// Config returns the generator's configuration with its defaults filled in.
func (g *Generator) Config() GeneratorConfig { return g.cfg }

// Count returns how many events the generator has produced so far.
func (g *Generator) Count() int64 { return g.count }

// HasNext reports whether Next will produce another event, that is whether MaxEvents is zero or
// not yet reached.
func (g *Generator) HasNext() bool {
	return g.cfg.MaxEvents == 0 || g.count < g.cfg.MaxEvents
}

// nextEventNumber is Beam's GeneratorConfig.nextEventNumber(eventsCountSoFar).
func (g *Generator) nextEventNumber() int64 {
	return g.cfg.FirstEventNumber + g.count
}

// nextAdjustedEventNumber is Beam's GeneratorConfig.nextAdjustedEventNumber: the event number
// shuffled within its out-of-order group.
func (g *Generator) nextAdjustedEventNumber() int64 {
	n := g.cfg.OutOfOrderGroupSize
	eventNumber := g.nextEventNumber()
	base := (eventNumber / n) * n
	offset := (eventNumber * 953) % n
	return base + offset
}

// NextEventID returns the id of the event the next call to Next will produce: FirstEventID plus
// its (adjusted) event number. The id decides the event's kind and seeds its random draws.
func (g *Generator) NextEventID() int64 {
	return g.cfg.FirstEventID + g.nextAdjustedEventNumber()
}

// NextWatermark returns Beam's watermark for the next event: the event time of the first event
// of its out-of-order group, which no later event of this generator precedes. With the default
// OutOfOrderGroupSize of 1 it is the next event's own time. (For the Flink SQL definition, see
// [WatermarkFor].)
func (g *Generator) NextWatermark() int64 {
	n := g.cfg.OutOfOrderGroupSize
	return g.tl.timestampForEvent((g.nextEventNumber() / n) * n)
}

// CurrentInterEventDelayUs returns the event-time gap, in microseconds, in force for the next
// event, as Beam's Generator.currentInterEventDelayUs.
func (g *Generator) CurrentInterEventDelayUs() int64 {
	return g.tl.interEventDelayForEvent(g.nextEventNumber())
}

// Next generates the next event into e, overwriting all of it, and reports true; or, once
// MaxEvents events have been produced, leaves e alone and reports false. Only the event's
// strings are allocated (in one allocation per event).
func (g *Generator) Next(e *Event) bool {
	if !g.HasNext() {
		return false
	}
	eventID := g.NextEventID()
	timestamp := g.tl.timestampForEvent(g.nextAdjustedEventNumber())
	g.rnd.SetSeed(eventID)
	switch rem := eventID % ProportionDenominator; {
	case rem < PersonProportion:
		*e = Event{Kind: KindPerson}
		g.nextPerson(&e.Person, eventID, timestamp)
	case rem < PersonProportion+AuctionProportion:
		*e = Event{Kind: KindAuction}
		g.nextAuction(&e.Auction, eventID, timestamp)
	default:
		*e = Event{Kind: KindBid}
		g.nextBid(&e.Bid, eventID, timestamp)
	}
	g.count++
	return true
}

// lastBase0PersonID is Beam's PersonGenerator.lastBase0PersonId: the id (from 0) of the latest
// person at or before eventID.
func lastBase0PersonID(eventID int64) int64 {
	epoch := eventID / ProportionDenominator
	offset := eventID % ProportionDenominator
	if offset >= PersonProportion {
		offset = PersonProportion - 1
	}
	return epoch*PersonProportion + offset
}

// lastBase0AuctionID is Beam's AuctionGenerator.lastBase0AuctionId: the id (from 0) of the
// latest auction at or before eventID (−1 before the first auction).
func lastBase0AuctionID(eventID int64) int64 {
	epoch := eventID / ProportionDenominator
	offset := eventID % ProportionDenominator
	switch {
	case offset < PersonProportion:
		epoch--
		offset = AuctionProportion - 1
	case offset >= PersonProportion+AuctionProportion:
		offset = AuctionProportion - 1
	default:
		offset -= PersonProportion
	}
	return epoch*AuctionProportion + offset
}

// nextLong is Beam's LongGenerator.nextLong: a value in [0, n), drawn with nextInt when n fits
// (strictly) below Java's Integer.MAX_VALUE, else as |nextLong() % n| (skewed, as in Beam).
func (g *Generator) nextLong(n int64) int64 {
	if n < math.MaxInt32 {
		return int64(g.rnd.NextIntn(int32(n)))
	}
	v := g.rnd.NextLong() % n
	if v < 0 {
		v = -v // as Java's Math.abs, including its overflow at MinInt64 (unreachable here)
	}
	return v
}

// nextBase0PersonID is Beam's PersonGenerator.nextBase0PersonId: a random person among the
// active ones, or a few ids ahead.
func (g *Generator) nextBase0PersonID(eventID int64) int64 {
	numPeople := lastBase0PersonID(eventID) + 1
	activePeople := min(numPeople, int64(g.cfg.NumActivePeople))
	n := g.nextLong(activePeople + personIDLead)
	return numPeople - activePeople + n
}

// nextBase0AuctionID is Beam's AuctionGenerator.nextBase0AuctionId: a random auction among
// those probably still open, or a few ids ahead.
func (g *Generator) nextBase0AuctionID(eventID int64) int64 {
	maxAuction := lastBase0AuctionID(eventID)
	minAuction := max(maxAuction-int64(g.cfg.NumInFlightAuctions), 0)
	return minAuction + g.nextLong(maxAuction-minAuction+1+auctionIDLead)
}

// nextPrice is Beam's PriceGenerator.nextPrice: log-uniform between 100 and 100,000,000 cents.
func (g *Generator) nextPrice() int64 {
	return javaRound(math.Pow(10.0, g.rnd.NextDouble()*6.0) * 100.0)
}

// appendString is Beam's StringsGenerator.nextString(random, maxLength), appended to g.buf: a
// string of 3 to maxLength−1 characters, each a space (1 in 13) or a lower-case letter, with
// leading and trailing spaces trimmed. It returns the offsets of the string in g.buf.
func (g *Generator) appendString(maxLength int32) (start, end int) {
	start = len(g.buf)
	n := minStringLength + g.rnd.NextIntn(maxLength-minStringLength)
	for ; n > 0; n-- {
		if g.rnd.NextIntn(13) == 0 {
			g.buf = append(g.buf, ' ')
		} else {
			g.buf = append(g.buf, byte('a'+g.rnd.NextIntn(26)))
		}
	}
	// Java's String.trim: only spaces can occur here.
	end = len(g.buf)
	for end > start && g.buf[end-1] == ' ' {
		end--
	}
	lead := start
	for lead < end && g.buf[lead] == ' ' {
		lead++
	}
	if lead > start {
		copy(g.buf[start:], g.buf[lead:end])
		end -= lead - start
	}
	g.buf = g.buf[:end]
	return start, end
}

// appendExactString is Beam's StringsGenerator.nextExactString, appended to g.buf: length
// characters, six taken from each nextInt() as 'a' + rnd%26 with Java's signed remainder, so
// negative draws give the characters 'H' to '`' (including '\\' and '^').
func (g *Generator) appendExactString(length int) {
	start := len(g.buf)
	g.buf = slices.Grow(g.buf, length)[:start+length]
	out := g.buf[start:]
	var rnd int32
	n := 0
	for i := range out {
		if n == 0 {
			rnd = g.rnd.NextInt()
			n = 6 // log_26(2^31)
		}
		out[i] = byte('a' + rnd%26)
		rnd /= 26
		n--
	}
}

// appendExtra is Beam's StringsGenerator.nextExtra, appended to g.buf: padding such that
// currentSize plus its length averages desiredAverageSize (±20%), or nothing when currentSize
// already exceeds it. It returns the offsets of the padding in g.buf.
func (g *Generator) appendExtra(currentSize, desiredAverageSize int) (start, end int) {
	start = len(g.buf)
	if currentSize > desiredAverageSize {
		return start, start
	}
	desiredAverageSize -= currentSize
	delta := int(javaRound(float64(desiredAverageSize) * 0.2))
	minSize := desiredAverageSize - delta
	desiredSize := minSize
	if delta != 0 {
		desiredSize += int(g.rnd.NextIntn(int32(2 * delta)))
	}
	g.appendExactString(desiredSize)
	return start, len(g.buf)
}

// appendCreditCard is Beam's PersonGenerator.nextCreditCard: four "%04d" groups of
// nextInt(10000), separated by spaces.
func (g *Generator) appendCreditCard() (start, end int) {
	start = len(g.buf)
	for i := 0; i < 4; i++ {
		if i > 0 {
			g.buf = append(g.buf, ' ')
		}
		v := g.rnd.NextIntn(10000)
		g.buf = append(g.buf, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
	}
	return start, len(g.buf)
}

// nextPerson is Beam's PersonGenerator.nextPerson.
func (g *Generator) nextPerson(p *Person, eventID, timestamp int64) {
	g.buf = g.buf[:0]
	first := g.rnd.NextIntn(int32(len(firstNames)))
	last := g.rnd.NextIntn(int32(len(lastNames)))
	name := personNames[int(first)*len(lastNames)+int(last)]
	// nextEmail: nextString(7) + "@" + nextString(5) + ".com".
	emailStart, _ := g.appendString(7)
	g.buf = append(g.buf, '@')
	g.appendString(5)
	g.buf = append(g.buf, ".com"...)
	emailEnd := len(g.buf)
	ccStart, ccEnd := g.appendCreditCard()
	city := usCities[g.rnd.NextIntn(int32(len(usCities)))]
	state := usStates[g.rnd.NextIntn(int32(len(usStates)))]
	currentSize := 8 + len(name) + (emailEnd - emailStart) + (ccEnd - ccStart) + len(city) + len(state)
	extraStart, extraEnd := g.appendExtra(currentSize, g.cfg.AvgPersonByteSize)

	s := string(g.buf)
	p.ID = lastBase0PersonID(eventID) + FirstPersonID
	p.Name = name
	p.EmailAddress = s[emailStart:emailEnd]
	p.CreditCard = s[ccStart:ccEnd]
	p.City = city
	p.State = state
	p.DateTime = timestamp
	p.Extra = s[extraStart:extraEnd]
}

// nextAuction is Beam's AuctionGenerator.nextAuction.
func (g *Generator) nextAuction(a *Auction, eventID, timestamp int64) {
	g.buf = g.buf[:0]
	id := lastBase0AuctionID(eventID) + FirstAuctionID

	var seller int64
	// P(hot seller) = 1 - 1/HotSellersRatio: the first of the latest batch of people.
	if g.rnd.NextIntn(int32(g.cfg.HotSellersRatio)) > 0 {
		seller = (lastBase0PersonID(eventID) / hotSellerBatch) * hotSellerBatch
	} else {
		seller = g.nextBase0PersonID(eventID)
	}
	seller += FirstPersonID

	category := FirstCategoryID + int64(g.rnd.NextIntn(NumCategories))
	initialBid := g.nextPrice()
	expires := timestamp + g.nextAuctionLengthMs(timestamp)
	nameStart, nameEnd := g.appendString(20)
	descStart, descEnd := g.appendString(100)
	reserve := initialBid + g.nextPrice()
	currentSize := 8 + (nameEnd - nameStart) + (descEnd - descStart) + 8 + 8 + 8 + 8 + 8
	extraStart, extraEnd := g.appendExtra(currentSize, g.cfg.AvgAuctionByteSize)

	s := string(g.buf)
	a.ID = id
	a.ItemName = s[nameStart:nameEnd]
	a.Description = s[descStart:descEnd]
	a.InitialBid = initialBid
	a.Reserve = reserve
	a.DateTime = timestamp
	a.Expires = expires
	a.Seller = seller
	a.Category = category
	a.Extra = s[extraStart:extraEnd]
}

// nextAuctionLengthMs is Beam's AuctionGenerator.nextAuctionLengthMs: a length averaging the
// event-time span in which NumInFlightAuctions more auctions will be created.
func (g *Generator) nextAuctionLengthMs(timestamp int64) int64 {
	currentEventNumber := g.nextAdjustedEventNumber()
	numEventsForAuctions := int64(g.cfg.NumInFlightAuctions) * ProportionDenominator / AuctionProportion
	futureAuction := g.tl.timestampForEvent(currentEventNumber + numEventsForAuctions)
	horizonMs := futureAuction - timestamp
	return 1 + g.nextLong(max(horizonMs*2, 1))
}

// nextBid is Beam's BidGenerator.nextBid.
func (g *Generator) nextBid(b *Bid, eventID, timestamp int64) {
	g.buf = g.buf[:0]
	var auction int64
	// P(hot auction) = 1 - 1/HotAuctionRatio: the first of the latest batch of auctions.
	if g.rnd.NextIntn(int32(g.cfg.HotAuctionRatio)) > 0 {
		auction = (lastBase0AuctionID(eventID) / hotAuctionBatch) * hotAuctionBatch
	} else {
		auction = g.nextBase0AuctionID(eventID)
	}
	auction += FirstAuctionID

	var bidder int64
	// P(hot bidder) = 1 - 1/HotBiddersRatio: the second of the latest batch of people, so that
	// hot bidders and hot sellers differ.
	if g.rnd.NextIntn(int32(g.cfg.HotBiddersRatio)) > 0 {
		bidder = (lastBase0PersonID(eventID)/hotBidderBatch)*hotBidderBatch + 1
	} else {
		bidder = g.nextBase0PersonID(eventID)
	}
	bidder += FirstPersonID

	price := g.nextPrice()
	const currentSize = 8 + 8 + 8 + 8
	extraStart, extraEnd := g.appendExtra(currentSize, g.cfg.AvgBidByteSize)

	b.Auction = auction
	b.Bidder = bidder
	b.Price = price
	b.DateTime = timestamp
	b.Extra = string(g.buf[extraStart:extraEnd])
}
