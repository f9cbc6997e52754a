package nexmark

// Nexmark queries q0–q8 on the public Sluice API.
//
// Every query is a function from the stream of events to a typed stream of rows (Q0 … Q8), built
// with sluice.FlatMap/KeyBy/Window/Aggregate/Process only; nothing in the engine knows about
// Nexmark. The event stream comes from Events: event time is the event's dateTime and the
// watermark trails it by 4 s, as in the Flink SQL definitions.
//
// Rows implement Row: their JSON encoding uses exactly the column names of the Nexmark Flink SQL
// result tables (timestamps in epoch milliseconds), and each row says when, in the source's event
// time, it could first exist (Readiness), so a benchmark can measure end-to-end latency. Queries
// whose results update (q4, q6) emit one row per change; Key tells which result a row replaces,
// and the final result is the last row per key. The registry (Queries, QueryByName) attaches any
// query to a type-erased RowSink, which is how the `sluice bench` command runs them.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/watermark"
)

// OutOfOrderness is the bound of the events' watermark: the Flink SQL Nexmark tables declare
// WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND.
//
// Sluice's bounded-out-of-orderness generator follows Flink's DataStream API and emits
// maxTimestamp − 4000 − 1, one millisecond behind the SQL watermark maxTimestamp − 4000. Two
// things differ, both by that millisecond: a window fires once the source has seen an event
// 4001 ms (rather than 4000 ms) past the window's end − 1, and an event exactly 4000 ms behind
// the newest one whose timestamp is its window's last millisecond is on time in Sluice but late
// (dropped) in Flink SQL. Results differ only for such an event; the default generator's events
// are in order, so no query's results differ.
const OutOfOrderness = WatermarkDelayMillis * time.Millisecond

// Events adds src to p as the Nexmark event stream: event time is the held record's dateTime,
// the watermark is dateTime − 4 s (see OutOfOrderness).
func Events(p *sluice.Pipeline, src sluice.Source[Event]) sluice.Stream[Event] {
	return sluice.FromSource(p, src, sluice.EventTimeMillis(eventTime,
		watermark.BoundedOutOfOrderness(OutOfOrderness))).Name("nexmark-events")
}

func eventTime(e Event) int64 { return e.Timestamp() }

// windowStart returns the start of the epoch-aligned window of the given size holding ts.
func windowStart(ts, size int64) int64 {
	m := ts % size
	if m < 0 {
		m += size
	}
	return ts - m
}

// Readiness says when a result row could first exist, in the source's event time: the row is
// ready once the source has produced an event with event time At. A benchmark measures a row's
// latency from the moment the source produced that event to the moment the row reaches the sink.
type Readiness struct {
	// At is an event time in epoch milliseconds.
	At int64
	// AllSplits is true when every split of the source must have reached At: the row waited for
	// the watermark (a window or an event-time timer fired). It is false when the row follows
	// from one event with event time At, which one split produced.
	AllSplits bool
}

// readyByEvent is the readiness of a row caused by an event with event time ts.
func readyByEvent(ts int64) Readiness { return Readiness{At: ts} }

// readyByWatermark is the readiness of a row emitted when the watermark reaches ts: the source
// must have seen an event with time ts + 4000 + 1 (the watermark is maxTimestamp − 4000 − 1).
func readyByWatermark(ts int64) Readiness {
	if ts > math.MaxInt64-WatermarkDelayMillis-1 {
		return Readiness{At: math.MaxInt64, AllSplits: true}
	}
	return Readiness{At: ts + WatermarkDelayMillis + 1, AllSplits: true}
}

// Row is a result row of a query.
type Row interface {
	// AppendJSON appends the row as one JSON object keyed by the query's column names, without a
	// newline, and returns the extended slice.
	AppendJSON(dst []byte) []byte
	// Ready says when the row could first exist.
	Ready() Readiness
	// Key identifies the result a row of an updating query replaces (q4: the category, q6: the
	// seller); it is 0 for the rows of other queries.
	Key() int64
}

// RowSink receives the rows of a query with their types erased, so that one sink (the bench
// command's counter, latency recorder and file writer) serves every query.
type RowSink interface {
	// WantJSON reports whether Row needs each row's JSON encoding; without it, rows are not
	// encoded.
	WantJSON() bool
	// Row receives one row: its readiness (Readiness.At and Readiness.AllSplits), its key
	// (updating queries) and, when WantJSON, its JSON encoding, valid only during the call. It is
	// called from one goroutine. (The arguments are plain values so that one sink type can serve
	// other benchmarks too.)
	Row(readyAt int64, allSplits bool, key int64, json []byte) error
	// Close is called once after the last row.
	Close() error
}

// rowSink adapts a RowSink to the typed sink of one query's rows.
type rowSink[R Row] struct {
	s    RowSink
	json bool
	buf  []byte
}

func newRowSink[R Row](s RowSink) *rowSink[R] {
	return &rowSink[R]{s: s, json: s.WantJSON(), buf: make([]byte, 0, 256)}
}

// Write hands r to the RowSink.
func (a *rowSink[R]) Write(r R) error {
	var b []byte
	if a.json {
		a.buf = r.AppendJSON(a.buf[:0])
		b = a.buf
	}
	ready := r.Ready()
	return a.s.Row(ready.At, ready.AllSplits, r.Key(), b)
}

// Flush flushes the RowSink when it buffers.
func (a *rowSink[R]) Flush() error {
	if f, ok := a.s.(sluice.Flusher); ok {
		return f.Flush()
	}
	return nil
}

// Close closes the RowSink.
func (a *rowSink[R]) Close() error { return a.s.Close() }

// Query is one Nexmark query in the registry.
type Query struct {
	// Name is "q0" … "q8".
	Name string
	// Description says what the query computes, in one line.
	Description string
	// Columns are the names of the result columns, in order.
	Columns []string
	// Updating is true when rows replace earlier rows with the same Key (q4, q6): the final
	// result is the last row per key.
	Updating bool

	attach func(events sluice.Stream[Event], sink RowSink)
}

// Attach builds the query on events and sends its rows to sink.
func (q Query) Attach(events sluice.Stream[Event], sink RowSink) { q.attach(events, sink) }

// attachRows turns a typed query into an attach function.
func attachRows[R Row](query func(sluice.Stream[Event]) sluice.Stream[R]) func(sluice.Stream[Event], RowSink) {
	return func(events sluice.Stream[Event], s RowSink) {
		sluice.SinkTo(query(events), sluice.Sink[R](newRowSink[R](s))).Name("results")
	}
}

var queries = []Query{
	{Name: "q0", Description: "pass-through: every bid", Columns: bidColumns, attach: attachRows(Q0)},
	{Name: "q1", Description: "currency conversion: every bid, price × 0.908", Columns: bidColumns, attach: attachRows(Q1)},
	{Name: "q2", Description: "selection: bids on auctions whose id is a multiple of 123", Columns: []string{"auction", "price"}, attach: attachRows(Q2)},
	{Name: "q3", Description: "local item suggestion: auctions in category 10 joined with their sellers in OR, ID or CA", Columns: []string{"name", "city", "state", "id"}, attach: attachRows(Q3)},
	{Name: "q4", Description: "average winning price per category", Columns: []string{"category", "avg_price"}, Updating: true, attach: attachRows(Q4)},
	{Name: "q5", Description: "hot items: per hopping window (10 s, slide 2 s), the auctions with the most bids", Columns: []string{"auction", "num", "starttime", "endtime"}, attach: attachRows(Q5)},
	{Name: "q6", Description: "average winning price of each seller's 10 latest-expiring auctions", Columns: []string{"seller", "avg_price"}, Updating: true, attach: attachRows(Q6)},
	{Name: "q7", Description: "highest bid: per 10 s tumbling window, every bid at the window's maximum price", Columns: []string{"auction", "price", "bidder", "dateTime", "extra"}, attach: attachRows(Q7)},
	{Name: "q8", Description: "monitor new users: persons who registered and opened an auction in the same 10 s window", Columns: []string{"id", "name", "starttime"}, attach: attachRows(Q8)},
}

var bidColumns = []string{"auction", "bidder", "price", "dateTime", "extra"}

// Queries returns the registry of queries, q0 to q8.
func Queries() []Query { return slices.Clone(queries) }

// QueryByName returns the query named name ("q0" … "q8").
func QueryByName(name string) (Query, bool) {
	for _, q := range queries {
		if q.Name == name {
			return q, true
		}
	}
	return Query{}, false
}

// appendKey appends `,"name":` (or `{"name":` for the first column).
func appendKey(dst []byte, first bool, name string) []byte {
	if first {
		dst = append(dst, '{', '"')
	} else {
		dst = append(dst, ',', '"')
	}
	dst = append(dst, name...)
	return append(dst, '"', ':')
}

// appendFloat appends f as JSON: the shortest decimal that reads back as f.
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// --- Sources -------------------------------------------------------------------------------

// SourceOption configures NewSource and NewFileSource.
type SourceOption func(*sourceConfig)

type sourceConfig struct {
	splits  int
	block   int64
	onBatch func(split, records int, minTime, maxTime int64)
}

// Splits sets the number of splits of a generator source, each generated by its own task. The
// event numbers are dealt to the splits in blocks (see BlockSize), so every split's events are
// in time order and the splits stay within one block of each other. Default 1.
func Splits(n int) SourceOption { return func(c *sourceConfig) { c.splits = max(n, 1) } }

// BlockSize sets how many consecutive events a generator split produces before the next split
// takes over: split i of n generates blocks i, i+n, i+2n, … Default 1024 (about 0.1 s of event
// time at the default rate, far below the 4 s watermark bound).
func BlockSize(n int64) SourceOption { return func(c *sourceConfig) { c.block = max(n, 1) } }

// OnBatch registers a function called by each split after every batch it produced, with the
// split's index, the number of events and the smallest and largest event time among them, and
// once more with no events and math.MaxInt64 as both times when the split ends. A generator split
// reports each block of a batch separately, so that the times of one call cover only events it
// produced. It is called from the split's goroutine; benchmarks use it to count events and to
// timestamp the progress of event time for latency measurement. Default: none.
func OnBatch(f func(split, records int, minTime, maxTime int64)) SourceOption {
	return func(c *sourceConfig) { c.onBatch = f }
}

func newSourceConfig(opts []SourceOption) sourceConfig {
	c := sourceConfig{splits: 1, block: 1024}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Source is the generated Nexmark event stream as a sluice.Source[Event]: the events of a
// GeneratorConfig (bounded by its MaxEvents, unbounded when it is zero), dealt in blocks to one or
// more splits. Each event is exactly the one a single Generator produces at that position, so the
// stream's content does not depend on the number of splits.
type Source struct {
	cfg GeneratorConfig
	sc  sourceConfig
}

// NewSource returns a source of the events of cfg.
func NewSource(cfg GeneratorConfig, opts ...SourceOption) *Source {
	return &Source{cfg: cfg.withDefaults(), sc: newSourceConfig(opts)}
}

// Open validates the configuration and returns the splits.
func (s *Source) Open(context.Context) ([]sluice.SplitReader[Event], error) {
	if err := s.cfg.Validate(); err != nil {
		return nil, err
	}
	readers := make([]sluice.SplitReader[Event], s.sc.splits)
	for i := range readers {
		readers[i] = &genSplit{cfg: s.cfg, index: i, step: int64(s.sc.splits), block: s.sc.block, cur: -1,
			next: int64(i), onBatch: s.sc.onBatch}
	}
	return readers, nil
}

// genSplit generates the blocks index, index+step, … of the stream.
type genSplit struct {
	cfg     GeneratorConfig
	index   int
	step    int64 // number of splits
	block   int64 // events per block
	next    int64 // the next block
	cur     int64 // the block being generated, -1 before the first
	emitted int64 // events of the current block returned so far
	gen     *Generator
	onBatch func(int, int, int64, int64)
	done    bool
}

// startBlock positions the split on its next block; it reports false past the last event.
func (s *genSplit) startBlock() bool {
	first := s.next * s.block
	s.cur, s.emitted = s.next, 0
	s.next += s.step
	n := s.block
	if s.cfg.MaxEvents > 0 {
		if first >= s.cfg.MaxEvents {
			return false
		}
		n = min(n, s.cfg.MaxEvents-first)
	}
	c := s.cfg
	c.FirstEventNumber += first
	c.MaxEvents = n
	s.gen = NewGenerator(c)
	return true
}

// Read generates up to cap(dst)-len(dst) events into dst.
func (s *genSplit) Read(ctx context.Context, dst []Event) ([]Event, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	if s.done {
		return dst, io.EOF
	}
	segment := len(dst) // the events since the last block switch
	for want := max(cap(dst)-len(dst), 1); want > 0; want-- {
		if s.gen == nil || !s.gen.HasNext() {
			s.report(dst[segment:])
			segment = len(dst)
			if !s.startBlock() {
				s.done = true
				break
			}
		}
		n := len(dst)
		dst = slices.Grow(dst, 1)[:n+1]
		s.gen.Next(&dst[n])
		s.emitted++
	}
	s.report(dst[segment:])
	if s.done {
		if s.onBatch != nil {
			s.onBatch(s.index, 0, math.MaxInt64, math.MaxInt64)
		}
		return dst, io.EOF
	}
	return dst, nil
}

// report calls the OnBatch hook for events produced in one block.
func (s *genSplit) report(evs []Event) {
	if s.onBatch != nil && len(evs) > 0 {
		lo, hi := timeRange(evs)
		s.onBatch(s.index, len(evs), lo, hi)
	}
}

// timeRange returns the smallest and largest event time of evs.
func timeRange(evs []Event) (lo, hi int64) {
	lo, hi = math.MaxInt64, math.MinInt64
	for i := range evs {
		t := evs[i].Timestamp()
		lo, hi = min(lo, t), max(hi, t)
	}
	return lo, hi
}

// Close does nothing.
func (s *genSplit) Close() error { return nil }

// FileSource reads Nexmark events from JSON-lines files in the format of AppendJSON (see
// DecodeJSONLine: {"person":…}, {"auction":…}, {"bid":…} or a bare bid object per line), one
// split per file. Blank lines are skipped; a line that does not decode goes to the dead-letter
// stream with the file, the line number and the reason. It implements sluice.Source[Event].
//
// Lines in exactly the layout AppendJSON writes (its field order, no white space inside) are
// decoded by a hand-written parser, about thirty times faster than DecodeJSONLine, which reads
// every other line; both give the same events.
type FileSource struct {
	paths []string
	sc    sourceConfig
}

// NewFileSource returns a source reading the given files. Of the options only OnBatch applies.
func NewFileSource(paths []string, opts ...SourceOption) *FileSource {
	return &FileSource{paths: paths, sc: newSourceConfig(opts)}
}

// Open opens the files.
func (s *FileSource) Open(context.Context) ([]sluice.SplitReader[Event], error) {
	if len(s.paths) == 0 {
		return nil, errors.New("nexmark: file source without files")
	}
	readers := make([]sluice.SplitReader[Event], 0, len(s.paths))
	for i, p := range s.paths {
		f, err := os.Open(p)
		if err != nil {
			for _, r := range readers {
				r.Close()
			}
			return nil, fmt.Errorf("opening nexmark input: %w", err)
		}
		readers = append(readers, &fileSplit{f: f, r: bufio.NewReaderSize(f, 1<<20), path: p, index: i, onBatch: s.sc.onBatch})
	}
	return readers, nil
}

// maxLineBytes bounds an input line; a longer one is rejected.
const maxLineBytes = 1 << 20

type fileSplit struct {
	f       *os.File
	r       *bufio.Reader
	path    string
	index   int
	line    int64
	long    []byte
	tooLong bool
	reject  func(reason string, raw any)
	onBatch func(int, int, int64, int64)
	done    bool
	fast    lineDecoder
}

// SetReject receives the dead-letter route of undecodable lines.
func (s *fileSplit) SetReject(reject func(reason string, raw any)) { s.reject = reject }

// readLine returns the next line without its end of line; io.EOF after the last.
func (s *fileSplit) readLine() ([]byte, error) {
	s.long, s.tooLong = s.long[:0], false
	for {
		chunk, err := s.r.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			if len(s.long)+len(chunk) <= maxLineBytes {
				s.long = append(s.long, chunk...)
			} else {
				s.tooLong = true
			}
			continue
		case err == io.EOF && len(chunk) == 0 && len(s.long) == 0:
			return nil, io.EOF
		case err != nil && err != io.EOF:
			return nil, err
		}
		s.line++
		if len(s.long) > 0 {
			chunk = append(s.long, chunk...)
		}
		return chunk, nil
	}
}

// Read decodes the next lines into dst.
func (s *fileSplit) Read(ctx context.Context, dst []Event) ([]Event, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	if s.done {
		return dst, io.EOF
	}
	first := len(dst)
	for want := max(cap(dst)-len(dst), 1); want > 0; {
		line, err := s.readLine()
		if err == io.EOF {
			s.done = true
			break
		}
		if err != nil {
			return dst, fmt.Errorf("reading %s: %w", s.path, err)
		}
		if isBlank(line) {
			continue
		}
		var e Event
		if err := s.decode(line, &e); err != nil {
			if s.reject == nil {
				return dst, err
			}
			s.reject(err.Error(), string(line))
			continue
		}
		dst = append(dst, e)
		want--
	}
	if s.onBatch != nil && len(dst) > first {
		lo, hi := timeRange(dst[first:])
		s.onBatch(s.index, len(dst)-first, lo, hi)
	}
	if s.done {
		if s.onBatch != nil {
			s.onBatch(s.index, 0, math.MaxInt64, math.MaxInt64)
		}
		return dst, io.EOF
	}
	return dst, nil
}

func (s *fileSplit) decode(line []byte, e *Event) error {
	if s.tooLong || len(line) > maxLineBytes {
		return fmt.Errorf("%s:%d: line longer than %d bytes", s.path, s.line, maxLineBytes)
	}
	if s.fast.decode(line, e) {
		return nil
	}
	if err := DecodeJSONLine(line, e); err != nil {
		return fmt.Errorf("%s:%d: %w", s.path, s.line, err)
	}
	return nil
}

// Close closes the file.
func (s *fileSplit) Close() error { return s.f.Close() }

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// lineDecoder decodes the lines AppendJSON writes — its wrappers, field order and spelling, no
// white space inside, strings with no \u escapes — and the bare bid object in the same order,
// with one allocation per event (its strings share one). It reports false for anything else,
// including anything DecodeJSONLine would reject, and then DecodeJSONLine decides.
type lineDecoder struct {
	b     []byte
	i     int
	ok    bool
	buf   []byte    // the events' string contents, unescaped
	spans [6][2]int // the strings' offsets in buf
	n     int
}

// lit consumes the literal s.
func (d *lineDecoder) lit(s string) {
	if d.ok && len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return
	}
	d.ok = false
}

// int consumes a JSON integer: -?(0|[1-9][0-9]*), at most 18 digits.
func (d *lineDecoder) int() int64 {
	if !d.ok {
		return 0
	}
	neg := d.i < len(d.b) && d.b[d.i] == '-'
	if neg {
		d.i++
	}
	start := d.i
	var v int64
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		v = v*10 + int64(d.b[d.i]-'0')
		d.i++
	}
	n := d.i - start
	if n == 0 || n > 18 || n > 1 && d.b[start] == '0' {
		d.ok = false
	}
	if d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.ok = false
	}
	if neg {
		return -v
	}
	return v
}

// str consumes a JSON string, appending its content to buf, and returns its span's index.
// Escapes other than \u are decoded; a \u escape, a control character or invalid UTF-8 fails.
func (d *lineDecoder) str() int {
	k := d.n
	d.n++
	if !d.ok || d.i >= len(d.b) || d.b[d.i] != '"' {
		d.ok = false
		return k
	}
	d.i++
	start, ascii := len(d.buf), true
	for d.i < len(d.b) {
		run := d.i
		for d.i < len(d.b) && !strStop[d.b[d.i]] {
			d.i++
		}
		d.buf = append(d.buf, d.b[run:d.i]...)
		if d.i == len(d.b) {
			break
		}
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			if !ascii && !utf8.Valid(d.buf[start:]) {
				d.ok = false
			}
			d.spans[k] = [2]int{start, len(d.buf)}
			return k
		case c < 0x20 || d.i+1 == len(d.b):
			d.ok = false
			return k
		case c >= utf8.RuneSelf:
			ascii = false
			d.buf = append(d.buf, c)
			d.i++
			continue
		}
		// A backslash.
		d.i++
		switch c = d.b[d.i]; c {
		case '"', '\\', '/':
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		default:
			d.ok = false
			return k
		}
		d.buf = append(d.buf, c)
		d.i++
	}
	d.ok = false
	return k
}

// strStop marks the bytes that interrupt a plain run of string content: the quote, the
// backslash, control characters and non-ASCII bytes (checked for valid UTF-8).
var strStop = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf
	}
	return t
}()

// decode decodes line into e and reports whether it could; it leaves e alone when it cannot.
func (d *lineDecoder) decode(line []byte, e *Event) bool {
	d.b, d.i, d.ok, d.buf, d.n = bytes.TrimSpace(line), 0, true, d.buf[:0], 0
	var ev Event
	switch {
	case bytes.HasPrefix(d.b, []byte(`{"person":`)):
		ev.Kind = KindPerson
		p := &ev.Person
		d.lit(`{"person":{"id":`)
		p.ID = d.int()
		d.lit(`,"name":`)
		d.str()
		d.lit(`,"emailAddress":`)
		d.str()
		d.lit(`,"creditCard":`)
		d.str()
		d.lit(`,"city":`)
		d.str()
		d.lit(`,"state":`)
		d.str()
		d.lit(`,"dateTime":`)
		p.DateTime = d.int()
		d.lit(`,"extra":`)
		d.str()
		d.lit(`}}`)
	case bytes.HasPrefix(d.b, []byte(`{"auction":{`)):
		ev.Kind = KindAuction
		a := &ev.Auction
		d.lit(`{"auction":{"id":`)
		a.ID = d.int()
		d.lit(`,"itemName":`)
		d.str()
		d.lit(`,"description":`)
		d.str()
		d.lit(`,"initialBid":`)
		a.InitialBid = d.int()
		d.lit(`,"reserve":`)
		a.Reserve = d.int()
		d.lit(`,"dateTime":`)
		a.DateTime = d.int()
		d.lit(`,"expires":`)
		a.Expires = d.int()
		d.lit(`,"seller":`)
		a.Seller = d.int()
		d.lit(`,"category":`)
		a.Category = d.int()
		d.lit(`,"extra":`)
		d.str()
		d.lit(`}}`)
	default:
		ev.Kind = KindBid
		wrapped := bytes.HasPrefix(d.b, []byte(`{"bid":`))
		if wrapped {
			d.lit(`{"bid":`)
		}
		d.bid(&ev.Bid)
		if wrapped {
			d.lit(`}`)
		}
	}
	if !d.ok || d.i != len(d.b) {
		return false
	}
	all := string(d.buf)
	span := func(k int) string { return all[d.spans[k][0]:d.spans[k][1]] }
	switch ev.Kind {
	case KindPerson:
		p := &ev.Person
		p.Name, p.EmailAddress, p.CreditCard, p.City, p.State, p.Extra = span(0), span(1), span(2), span(3), span(4), span(5)
	case KindAuction:
		a := &ev.Auction
		a.ItemName, a.Description, a.Extra = span(0), span(1), span(2)
	default:
		ev.Bid.Channel, ev.Bid.URL, ev.Bid.Extra = span(0), span(1), span(2)
	}
	*e = ev
	return true
}

// bid decodes the fields of a bid object; its strings are spans 0 to 2.
func (d *lineDecoder) bid(b *Bid) {
	d.lit(`{"auction":`)
	b.Auction = d.int()
	d.lit(`,"bidder":`)
	b.Bidder = d.int()
	d.lit(`,"price":`)
	b.Price = d.int()
	d.lit(`,"channel":`)
	d.str()
	d.lit(`,"url":`)
	d.str()
	d.lit(`,"dateTime":`)
	b.DateTime = d.int()
	d.lit(`,"extra":`)
	d.str()
	d.lit(`}`)
}
