// Package nexmark is a deterministic generator of the Nexmark auction benchmark's event stream,
// ported from Apache Beam's Java generator (sdks/java/testing/nexmark, package
// org.apache.beam.sdk.nexmark.sources.generator).
//
// The stream consists of three kinds of events — a new [Person], a new [Auction] and a [Bid] —
// in the proportion 1 : 3 : 46. Event number n (counted from [GeneratorConfig.FirstEventNumber])
// gets the event id FirstEventID + n; the id alone decides the kind (id % 50: 0 person, 1–3
// auction, otherwise bid) and seeds a fresh java.util.Random ([JavaRandom]) from which every field
// of the event is drawn, in exactly the order Beam draws them. The same configuration therefore
// always yields the same events, byte for byte the same as Beam's generator.
//
// Event time is simulated: event n happens at BaseTime + n·interEventDelay, where the delay
// follows from the configured event rate (10,000 events/s by default, i.e. 100 µs per event),
// optionally varied along a square or sine "rate shape" exactly as Beam does. No wall clock is
// involved. [WatermarkFor] gives the watermark of the Flink SQL Nexmark definitions (event time
// minus 4 s).
//
// Events can be written and read as JSON lines ([AppendJSON], [DecodeJSONLine]), one
// {"person":{…}}, {"auction":{…}} or {"bid":{…}} object per line, with Nexmark's field names
// and times as epoch milliseconds.
//
// Differences from Beam: Beam's Bid has no channel or url; this package's [Bid] carries the two
// fields of the Flink Nexmark schema, but the generator leaves them empty (Beam draws nothing for
// them, and the Flink harness fills them from an unseeded random source that cannot be
// reproduced). Beam runs several generators in parallel by splitting a configuration; here one
// [Generator] follows one configuration, and parallel generators can be built by giving each its
// own FirstEventID/FirstEventNumber/MaxEvents as Beam's GeneratorConfig.split does.
package nexmark
