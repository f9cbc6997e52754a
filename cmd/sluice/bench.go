package main

// sluice bench: the Nexmark queries and the Yahoo streaming benchmark on the embedded engine.
//
// Every run prints one summary (a JSON line with --json). How its figures are obtained:
//
//   - seconds: wall-clock time of engine.Run, from before the sources open to after the last
//     result is written; events_per_second = events / seconds.
//   - cores: the CPU cores the run could use, min(GOMAXPROCS, NumCPU). The command sets
//     GOMAXPROCS to the parallelism for the run, so at most that many threads run Go code at once
//     (sources, keyed subtasks, the sink and the garbage collector share them).
//     events_per_second_per_core = events_per_second / cores. cpu_seconds is the CPU time (user +
//     system) the process used during the run, from the kernel's accounting (/proc/self/stat,
//     10 ms resolution; null where there is no procfs); cpu_cores_busy = cpu_seconds / seconds,
//     the cores actually kept busy on average; events_per_cpu_second = events / cpu_seconds, the
//     throughput of one fully used core, which unlike the wall-clock figures does not drop when
//     other processes take CPU from the run.
//   - latency: end-to-end, in processing time, from the moment the source produced the input a
//     result row depends on to the moment the row reaches the sink. After every batch, each
//     source split reports the range of event times it has just produced; the command records
//     when (monotonic clock). A row says which event time it was waiting for
//     (nexmark.Readiness): a pass-through or join row waits for its own event (the split batch
//     whose event times hold it); a window or timer row waits for the watermark that fires it,
//     i.e. for every split to reach window end − 1 + the watermark bound + 1 ms. Latency = (time
//     the row reached the sink) − (time that input was produced). The first 1024 rows and then
//     every 64th are measured, into a log-linear histogram of microseconds (exact below 64 µs,
//     then 32 linear sub-buckets per power of two: about 3% resolution; a percentile is reported
//     as its bucket's upper bound).
//   - rows: result rows that reached the sink; with --output for q4 and q6 (whose rows update)
//     the file holds only the last row per key, written at the end of the input.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/bench/nexmark"
	"github.com/sluicehq/sluice/bench/ysb"
	"github.com/sluicehq/sluice/engine"
)

const benchUsage = `usage:
  sluice bench nexmark --query qN [--events N] [--parallelism P] [--checkpoint-interval D]
                       [--input FILE] [--output FILE] [--json] [--cpuprofile FILE]
  sluice bench nexmark --dump N [--output FILE]
  sluice bench ysb [--events N] [--parallelism P] [--output FILE] [--json] [--cpuprofile FILE]
  sluice bench kafka --kafka BROKERS --mode passthrough|tumbling|latency [--records N] [--rate R]
                     [--commit-interval D]   (a real broker; one JSON line)

Runs a benchmark on the embedded engine and prints one summary (one JSON line with --json):
events, seconds, events_per_second, cores, events_per_second_per_core, cpu_seconds,
p50/p99/max end-to-end latency and more. Results go to a blackhole that counts them, or with
--output FILE to FILE as JSON lines with the query's column names (for q4 and q6, whose results
update, the final row per key). --dump N writes the first N generated Nexmark events as JSON
lines (to stdout, or FILE), the format --input reads.
`

// benchFlags are the flags shared by the benchmarks.
type benchFlags struct {
	events      int64
	parallelism int
	checkpoint  time.Duration
	output      string
	json        bool
	cpuProfile  string
}

func (b *benchFlags) register(fs *flag.FlagSet) {
	fs.Int64Var(&b.events, "events", 1_000_000, "number of generated events (0: until interrupted)")
	fs.IntVar(&b.parallelism, "parallelism", runtime.NumCPU(), "source splits and subtasks per keyed stage; also GOMAXPROCS for the run")
	fs.DurationVar(&b.checkpoint, "checkpoint-interval", 0, "take aligned checkpoints at this interval into a temporary state directory (0: none)")
	fs.StringVar(&b.output, "output", "", "write result rows to FILE as JSON lines (default: count them only)")
	fs.BoolVar(&b.json, "json", false, "print the summary as one JSON line")
	fs.StringVar(&b.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to FILE (go tool pprof)")
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, benchUsage)
		return exitUsage
	}
	switch args[0] {
	case "nexmark":
		return benchNexmark(ctx, args[1:], stdout, stderr)
	case "ysb":
		return benchYSB(ctx, args[1:], stdout, stderr)
	case "kafka":
		return benchKafka(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, benchUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "sluice bench: unknown benchmark %q\n%s", args[0], benchUsage)
	return exitUsage
}

// check validates the shared flags; it returns a usage message or "".
func (b *benchFlags) check() string {
	switch {
	case b.checkpoint < 0:
		return "--checkpoint-interval must be >= 0"
	case b.parallelism < 1:
		return "--parallelism must be >= 1"
	case b.events < 0:
		return "--events must be >= 0"
	}
	return ""
}

func benchNexmark(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice bench nexmark", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var bf benchFlags
	bf.register(fs)
	query := fs.String("query", "", "the query: q0 … q8")
	input := fs.String("input", "", "read the events from FILE (JSON lines, as --dump writes them) instead of the generator")
	dump := fs.Int64("dump", -1, "write the first N generated events as JSON lines and exit")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	usageErr := func(msg string) int {
		fmt.Fprintf(stderr, "sluice bench nexmark: %s\n", msg)
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if *dump >= 0 {
		return dumpNexmark(*dump, bf.output, stdout, stderr)
	}
	if msg := bf.check(); msg != "" {
		return usageErr(msg)
	}
	q, ok := nexmark.QueryByName(strings.ToLower(*query))
	if !ok {
		return usageErr(fmt.Sprintf("--query must be one of q0 … q8, got %q", *query))
	}
	eventsSet := false
	fs.Visit(func(f *flag.Flag) { eventsSet = eventsSet || f.Name == "events" })
	if *input != "" && eventsSet {
		return usageErr("--events and --input exclude each other: every event of the input file is read")
	}

	r := newBenchRun(bf, "nexmark", q.Name, q.Updating)
	var src sluice.Source[nexmark.Event]
	if *input != "" {
		r.input = *input
		r.prog = newProgress(1)
		src = nexmark.NewFileSource([]string{*input}, nexmark.OnBatch(r.prog.mark))
	} else {
		r.prog = newProgress(bf.parallelism)
		src = nexmark.NewSource(nexmark.GeneratorConfig{MaxEvents: bf.events},
			nexmark.Splits(bf.parallelism), nexmark.OnBatch(r.prog.mark))
	}
	return r.run(ctx, stdout, stderr, func(p *sluice.Pipeline, sink *benchSink) {
		q.Attach(nexmark.Events(p, src), sink)
	})
}

func benchYSB(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice bench ysb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var bf benchFlags
	bf.register(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice bench ysb: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if msg := bf.check(); msg != "" {
		fmt.Fprintf(stderr, "sluice bench ysb: %s\n", msg)
		return exitUsage
	}
	r := newBenchRun(bf, "ysb", "ysb", false)
	r.prog = newProgress(bf.parallelism)
	g := ysb.NewGenerator(ysb.Config{Events: bf.events})
	src := ysb.NewSource(g, ysb.Splits(bf.parallelism), ysb.OnBatch(r.prog.mark))
	return r.run(ctx, stdout, stderr, func(p *sluice.Pipeline, sink *benchSink) {
		ysb.Attach(ysb.Events(p, src), g.Campaigns(), sink)
	})
}

// dumpNexmark writes the first n generated events as JSON lines.
func dumpNexmark(n int64, output string, stdout, stderr io.Writer) int {
	w := stdout
	if output != "" {
		f, err := os.Create(output)
		if err != nil {
			fmt.Fprintf(stderr, "sluice bench nexmark: %v\n", err)
			return exitFailed
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	if n > 0 {
		g := nexmark.NewGenerator(nexmark.GeneratorConfig{MaxEvents: n})
		var e nexmark.Event
		buf := make([]byte, 0, 1024)
		for g.Next(&e) {
			buf = append(nexmark.AppendJSON(buf[:0], &e), '\n')
			if _, err := bw.Write(buf); err != nil {
				break
			}
		}
	}
	if err := bw.Flush(); err != nil {
		fmt.Fprintf(stderr, "sluice bench nexmark: writing the events: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// benchRun is one benchmark run and its summary.
type benchRun struct {
	flags     benchFlags
	benchmark string
	query     string
	updating  bool
	input     string
	prog      *progress
	// checkpoints counts the checkpoints completed during the run.
	checkpoints atomic.Int64
}

func newBenchRun(bf benchFlags, benchmark, query string, updating bool) *benchRun {
	return &benchRun{flags: bf, benchmark: benchmark, query: query, updating: updating, input: "generator"}
}

// benchSummary is the JSON line a run prints.
type benchSummary struct {
	Benchmark        string   `json:"benchmark"`
	Query            string   `json:"query"`
	Input            string   `json:"input"`
	Events           int64    `json:"events"`
	Rows             int64    `json:"rows"`
	Seconds          float64  `json:"seconds"`
	EventsPerSecond  float64  `json:"events_per_second"`
	Cores            int      `json:"cores"`
	EventsPerSecCore float64  `json:"events_per_second_per_core"`
	CPUSeconds       *float64 `json:"cpu_seconds"`
	CPUCoresBusy     *float64 `json:"cpu_cores_busy"`
	EventsPerCPUSec  *float64 `json:"events_per_cpu_second"`
	Parallelism      int      `json:"parallelism"`
	P50LatencyMillis float64  `json:"p50_latency_ms"`
	P99LatencyMillis float64  `json:"p99_latency_ms"`
	MaxLatencyMillis float64  `json:"max_latency_ms"`
	LatencySamples   int64    `json:"latency_samples"`
	Late             int64    `json:"late"`
	DeadLetters      int64    `json:"dead_letters"`
	Checkpointing    bool     `json:"checkpointing"`
	Checkpoints      int64    `json:"checkpoints"`
	Output           string   `json:"output"`
	GoVersion        string   `json:"go_version"`
	GOMAXPROCS       int      `json:"gomaxprocs"`
	MachineCPUs      int      `json:"machine_cpus"`
	GCCycles         uint32   `json:"gc_cycles"`
	HeapAllocMB      float64  `json:"heap_alloc_mb"`
}

// run builds the pipeline with attach, runs it and prints the summary.
func (r *benchRun) run(ctx context.Context, stdout, stderr io.Writer, attach func(*sluice.Pipeline, *benchSink)) int {
	name := "sluice bench " + r.benchmark
	sink, err := newBenchSink(r.flags.output, r.updating, r.prog)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitFailed
	}
	p := sluice.NewPipeline(r.benchmark + "-" + r.query)
	attach(p, sink)

	prev := runtime.GOMAXPROCS(r.flags.parallelism)
	defer runtime.GOMAXPROCS(prev)
	runtime.GC()
	var stats engine.Stats
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := cpuSeconds()
	start := time.Now()
	r.prog.start(start)
	stopProfile, err := startCPUProfile(r.flags.cpuProfile)
	opts := []engine.Option{engine.Parallelism(r.flags.parallelism), engine.WithStats(&stats)}
	if r.flags.checkpoint > 0 {
		dir, derr := os.MkdirTemp("", "sluice-bench-state-")
		if derr != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, derr)
			return exitFailed
		}
		defer os.RemoveAll(dir)
		opts = append(opts, engine.Checkpointing(dir, r.flags.checkpoint), engine.OnCheckpoint(func(int64) { r.checkpoints.Add(1) }))
	}
	if err == nil {
		err = engine.Run(ctx, p, opts...)
		stopProfile()
	}
	secs := time.Since(start).Seconds()
	cpu := cpuSeconds() - cpu0
	if cpu0 < 0 {
		cpu = math.NaN()
	}
	runtime.ReadMemStats(&after)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// Interrupted (an unbounded run ends this way): report what was done. Windows that had
		// not fired have no rows, as a cancelled run does not advance the watermark.
		err = nil
		fmt.Fprintf(stderr, "%s: interrupted\n", name)
	}
	if err != nil {
		sink.abandon()
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitFailed
	}
	cores := min(runtime.GOMAXPROCS(0), runtime.NumCPU())
	events := r.prog.events()
	s := benchSummary{
		Benchmark: r.benchmark, Query: r.query, Input: r.input, Events: events, Rows: sink.rows,
		Seconds: round3(secs), EventsPerSecond: math.Round(float64(events) / secs), Cores: cores,
		EventsPerSecCore: math.Round(float64(events) / secs / float64(cores)),
		CPUSeconds:       jsonFloat(round3(cpu)), CPUCoresBusy: jsonFloat(round3(cpu / secs)),
		EventsPerCPUSec: jsonFloat(math.Round(float64(events) / cpu)), Parallelism: r.flags.parallelism,
		P50LatencyMillis: sink.hist.quantileMillis(0.50), P99LatencyMillis: sink.hist.quantileMillis(0.99),
		MaxLatencyMillis: round3(float64(sink.hist.max) / 1e3), LatencySamples: int64(sink.hist.n),
		Late: stats.Late(), DeadLetters: stats.DeadLetters(), Output: cmp.Or(r.flags.output, "blackhole"),
		GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0), MachineCPUs: runtime.NumCPU(),
		GCCycles: after.NumGC - before.NumGC, HeapAllocMB: round3(float64(after.HeapAlloc) / (1 << 20)),
		Checkpointing: r.flags.checkpoint > 0, Checkpoints: r.checkpoints.Load(),
	}
	if r.flags.json {
		b, _ := json.Marshal(s)
		fmt.Fprintln(stdout, string(b))
	} else {
		fmt.Fprintf(stdout, "%s %s: %d events in %.3f s = %.0f events/s (%.0f per core, %d cores; %.2f cores busy, %.0f events per CPU-second), %d rows, latency p50 %.3f ms, p99 %.3f ms, max %.3f ms (%d samples), %d late, %d dead letters\n",
			r.benchmark, r.query, s.Events, s.Seconds, s.EventsPerSecond, s.EventsPerSecCore, s.Cores, cpu/secs, float64(events)/cpu,
			s.Rows, s.P50LatencyMillis, s.P99LatencyMillis, s.MaxLatencyMillis, s.LatencySamples, s.Late, s.DeadLetters)
	}
	return exitOK
}

// startCPUProfile starts a CPU profile into path (none when path is empty) and returns the
// function that stops it.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// cpuSeconds is the CPU time (user + system) the process has used so far, from the kernel's
// accounting in /proc/self/stat (Linux, in clock ticks of 10 ms), or -1 where it is not
// available.
func cpuSeconds() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return -1
	}
	// The command name, in parentheses, may hold spaces: count fields after its closing one.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14 of proc(5)
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return -1
	}
	const clockTicks = 100 // USER_HZ, 100 on every Linux architecture Go supports
	return float64(utime+stime) / clockTicks
}

// jsonFloat is f, or nil (JSON null) when f is not a number.
func jsonFloat(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

// benchSink is the sink of every benchmark: it counts rows, measures the latency of a sample of
// them and writes them to the output file, if any.
type benchSink struct {
	prog     *progress
	hist     histogram
	rows     int64
	f        *os.File
	w        *bufio.Writer
	updating bool
	latest   map[int64][]byte
}

func newBenchSink(output string, updating bool, prog *progress) (*benchSink, error) {
	s := &benchSink{prog: prog, updating: updating}
	if output != "" {
		f, err := os.Create(output)
		if err != nil {
			return nil, err
		}
		s.f, s.w = f, bufio.NewWriterSize(f, 1<<16)
		if updating {
			s.latest = map[int64][]byte{}
		}
	}
	return s, nil
}

// WantJSON reports whether rows are written.
func (s *benchSink) WantJSON() bool { return s.w != nil }

// Row counts the row, samples its latency and writes it (or, for updating queries, keeps it as
// its key's latest row).
func (s *benchSink) Row(readyAt int64, allSplits bool, key int64, js []byte) error {
	s.rows++
	if s.rows <= 1024 || s.rows%64 == 0 {
		if produced, ok := s.prog.producedAt(readyAt, allSplits); ok {
			s.hist.record(max(time.Duration(s.prog.now()-produced).Microseconds(), 0))
		}
	}
	switch {
	case s.w == nil:
		return nil
	case s.updating:
		s.latest[key] = append(s.latest[key][:0], js...)
		return nil
	}
	s.w.Write(js)
	return s.w.WriteByte('\n')
}

// Flush writes buffered rows.
func (s *benchSink) Flush() error {
	if s.w != nil && !s.updating {
		return s.w.Flush()
	}
	return nil
}

// Close writes the final rows of an updating query, in key order, and closes the file.
func (s *benchSink) Close() error {
	if s.w == nil {
		return nil
	}
	keys := make([]int64, 0, len(s.latest))
	for k := range s.latest {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s.w.Write(s.latest[k])
		s.w.WriteByte('\n')
	}
	err := s.w.Flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.w = nil
	return err
}

// abandon closes the file of a failed run.
func (s *benchSink) abandon() {
	if s.f != nil {
		s.f.Close()
	}
}

// progress records when each source split produced which event times, so that a row's latency
// can be measured from the moment the input it waited for was produced.
type progress struct {
	mu     sync.Mutex
	origin time.Time
	splits []splitProgress
	count  int64
}

// splitProgress is the marks of one split, in increasing order of hi.
type splitProgress struct {
	marks   []progressMark
	dropped bool // older marks were dropped
}

// progressMark says that at monotonic time at (nanoseconds since the run's start) a split had
// just produced events with times in [lo, hi], and none later than hi before.
type progressMark struct{ lo, hi, at int64 }

// maxMarks bounds the marks kept per split; when it is reached the older half is dropped (the
// rows that waited for them are long gone).
const maxMarks = 1 << 16

func newProgress(splits int) *progress {
	return &progress{splits: make([]splitProgress, splits), origin: time.Now()}
}

func (p *progress) start(t time.Time) {
	p.mu.Lock()
	p.origin = t
	p.mu.Unlock()
}

func (p *progress) now() int64 { return int64(time.Since(p.origin)) }

// mark is the sources' OnBatch hook.
func (p *progress) mark(split, records int, lo, hi int64) {
	at := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count += int64(records)
	if split >= len(p.splits) {
		p.splits = append(p.splits, make([]splitProgress, split+1-len(p.splits))...)
	}
	sp := &p.splits[split]
	if n := len(sp.marks); n > 0 && hi <= sp.marks[n-1].hi {
		return // no progress (an input out of order): the earlier mark stands
	}
	if len(sp.marks) == maxMarks {
		sp.marks = append(sp.marks[:0], sp.marks[maxMarks/2:]...)
		sp.dropped = true
	}
	sp.marks = append(sp.marks, progressMark{lo: lo, hi: hi, at: at})
}

// events is the number of events the sources produced.
func (p *progress) events() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

// producedAt returns when the input of a row ready at event time t was produced. With all (the
// row waited for the watermark) it is when the last split first produced an event at or after t.
// Otherwise (the row follows from an event with time t) it is when the split that produced an
// event with time t did so: the earliest mark whose [lo, hi] holds t, or, when none does (an
// input out of order), the earliest mark reaching t. ok is false when no split (with all, not
// every split) has reached t, or when the marks that would answer were dropped.
func (p *progress) producedAt(t int64, all bool) (at int64, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	holds, reaches := int64(math.MaxInt64), int64(math.MaxInt64)
	last := int64(math.MinInt64)
	for _, sp := range p.splits {
		ms := sp.marks
		i := sort.Search(len(ms), func(i int) bool { return ms[i].hi >= t })
		switch {
		case i == 0 && sp.dropped:
			return 0, false
		case i == len(ms) && all:
			return 0, false
		case i == len(ms):
			continue
		}
		last = max(last, ms[i].at)
		reaches = min(reaches, ms[i].at)
		if ms[i].lo <= t {
			holds = min(holds, ms[i].at)
		}
	}
	switch {
	case all:
		return last, last != math.MinInt64
	case holds != math.MaxInt64:
		return holds, true
	}
	return reaches, reaches != math.MaxInt64
}

// histogram is a log-linear histogram of microseconds, in the manner of HdrHistogram: values
// below 64 have a bucket each; above, each power of two is split into 32 linear sub-buckets.
type histogram struct {
	counts [64 + 58*32]uint64
	n      uint64
	max    int64
}

func histBucket(v int64) int {
	if v < 64 {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - 6 // v>>shift is in [32, 64)
	return 64 + (shift-1)*32 + int(v>>shift) - 32
}

// histUpper is the largest value of bucket i.
func histUpper(i int) int64 {
	if i < 64 {
		return int64(i)
	}
	shift := (i-64)/32 + 1
	top := int64((i-64)%32 + 32)
	return (top+1)<<shift - 1
}

func (h *histogram) record(micros int64) {
	h.counts[histBucket(micros)]++
	h.n++
	h.max = max(h.max, micros)
}

// quantileMillis returns the q-quantile in milliseconds (0 without samples).
func (h *histogram) quantileMillis(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= max(rank, 1) {
			return round3(float64(min(histUpper(i), h.max)) / 1e3)
		}
	}
	return round3(float64(h.max) / 1e3)
}
