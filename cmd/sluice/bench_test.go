package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/bench/nexmark"
)

// runBenchCLI runs the command and returns its exit code, stdout and stderr.
func runBenchCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestBenchNexmarkQ7(t *testing.T) {
	out := filepath.Join(t.TempDir(), "q7.jsonl")
	code, stdout, stderr := runBenchCLI(t, "bench", "nexmark", "--query", "q7", "--events", "20000", "--json", "--output", out)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one JSON line, got %q", stdout)
	}
	var s map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &s); err != nil {
		t.Fatalf("%v: %s", err, lines[0])
	}
	for _, k := range []string{"query", "events", "seconds", "events_per_second", "cores", "p99_latency_ms", "rows"} {
		if _, ok := s[k]; !ok {
			t.Errorf("the summary has no %q: %s", k, lines[0])
		}
	}
	if s["query"] != "q7" || s["events"] != 20000.0 || s["late"] != 0.0 || s["dead_letters"] != 0.0 {
		t.Errorf("summary %s", lines[0])
	}
	if secs, eps := s["seconds"].(float64), s["events_per_second"].(float64); secs <= 0 || math.Abs(eps*secs-20000) > 0.01*20000+eps*0.0005 { // seconds is rounded to the ms
		t.Errorf("seconds %v and events_per_second %v do not multiply to the events", secs, eps)
	}
	if c := s["cores"].(float64); c < 1 {
		t.Errorf("cores %v", c)
	}
	if p99 := s["p99_latency_ms"].(float64); p99 <= 0 || s["latency_samples"].(float64) < 1 {
		t.Errorf("p99 latency %v ms from %v samples", p99, s["latency_samples"])
	}

	// 20,000 events at 10,000 events/s are 2 s of event time: one 10 s window, whose rows are the
	// bids at its highest price.
	var maxPrice int64
	var want []string
	g := nexmark.NewGenerator(nexmark.GeneratorConfig{MaxEvents: 20000})
	var e nexmark.Event
	var bids []nexmark.Bid
	for g.Next(&e) {
		if e.Kind == nexmark.KindBid {
			bids = append(bids, e.Bid)
			maxPrice = max(maxPrice, e.Bid.Price)
		}
	}
	for _, b := range bids {
		if b.Price == maxPrice {
			want = append(want, string(nexmark.Q7Row{Auction: b.Auction, Price: b.Price, Bidder: b.Bidder, DateTime: b.DateTime, Extra: b.Extra}.AppendJSON(nil)))
		}
	}
	got := readLines(t, out)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("output rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(got[0]), &row); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"auction", "price", "bidder", "dateTime", "extra"} {
		if _, ok := row[k]; !ok || len(row) != 5 {
			t.Errorf("row %s: want exactly the columns auction, price, bidder, dateTime, extra", got[0])
		}
	}
	if s["rows"] != float64(len(want)) {
		t.Errorf("rows %v, want %d", s["rows"], len(want))
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestBenchNexmarkInputMatchesGenerator dumps events, reads them back with --input, and checks
// that q4 (an updating query: the file holds the last row per category) gives the same rows as
// from the generator.
func TestBenchNexmarkInputMatchesGenerator(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "events.jsonl")
	if code, _, stderr := runBenchCLI(t, "bench", "nexmark", "--dump", "5000", "--output", events); code != exitOK {
		t.Fatalf("dump: exit %d: %s", code, stderr)
	}
	if n := len(readLines(t, events)); n != 5000 {
		t.Fatalf("dumped %d lines, want 5000", n)
	}
	fromGen, fromFile := filepath.Join(dir, "gen.jsonl"), filepath.Join(dir, "file.jsonl")
	if code, _, stderr := runBenchCLI(t, "bench", "nexmark", "--query", "q4", "--events", "5000", "--output", fromGen); code != exitOK {
		t.Fatalf("generator run: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := runBenchCLI(t, "bench", "nexmark", "--query", "q4", "--input", events, "--output", fromFile, "--json")
	if code != exitOK {
		t.Fatalf("input run: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, `"events":5000`) || !strings.Contains(stdout, `"input":"`+events+`"`) {
		t.Errorf("summary %s", stdout)
	}
	a, b := readLines(t, fromGen), readLines(t, fromFile)
	if len(a) == 0 || strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("q4 rows from the generator:\n%s\nfrom the file:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	for _, l := range a {
		if !strings.HasPrefix(l, `{"category":`) || !strings.Contains(l, `,"avg_price":`) {
			t.Errorf("q4 row %s", l)
		}
	}
}

func TestBenchYSB(t *testing.T) {
	code, stdout, stderr := runBenchCLI(t, "bench", "ysb", "--events", "50000", "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var s struct {
		Query  string  `json:"query"`
		Events int64   `json:"events"`
		Rows   int64   `json:"rows"`
		EPS    float64 `json:"events_per_second"`
	}
	if err := json.Unmarshal([]byte(stdout), &s); err != nil || s.Query != "ysb" || s.Events != 50000 || s.Rows != 100 || s.EPS <= 0 {
		t.Fatalf("summary %s (%v): want 50000 events and 100 rows (one window per campaign)", stdout, err)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	cases := map[string][]string{
		"checkpoints":   {"bench", "nexmark", "--query", "q0", "--events", "10", "--checkpoint-interval", "-1s"},
		"unknown query": {"bench", "nexmark", "--query", "q9"},
		"no query":      {"bench", "nexmark", "--events", "10"},
		"bad benchmark": {"bench", "linear-road"},
		"events+input":  {"bench", "nexmark", "--query", "q0", "--events", "10", "--input", "x.jsonl"},
		"ysb checkpts":  {"bench", "ysb", "--checkpoint-interval", "-1s"},
	}
	for name, args := range cases {
		code, _, stderr := runBenchCLI(t, args...)
		if code != exitUsage || stderr == "" {
			t.Errorf("%s: exit %d, stderr %q: want %d and a message", name, code, stderr, exitUsage)
		}
		if name == "checkpoints" && !strings.Contains(stderr, "--checkpoint-interval") {
			t.Errorf("checkpoints: the message must name the flag: %q", stderr)
		}
	}
}

// TestBenchWithCheckpoints: a checkpointed run takes checkpoints (its state types can all be
// encoded) and gives the same rows as a run without.
func TestBenchWithCheckpoints(t *testing.T) {
	type summary struct {
		Rows          int64 `json:"rows"`
		Checkpointing bool  `json:"checkpointing"`
		Checkpoints   int64 `json:"checkpoints"`
	}
	runQ := func(q string, extra ...string) (summary, string) {
		out := filepath.Join(t.TempDir(), q+".jsonl")
		args := append([]string{"bench", "nexmark", "--query", q, "--events", "200000", "--parallelism", "2", "--json", "--output", out}, extra...)
		code, stdout, stderr := runBenchCLI(t, args...)
		if code != exitOK || strings.Contains(stderr, "checkpoint failed") {
			t.Fatalf("%s %v: exit %d: %s", q, extra, code, stderr)
		}
		var s summary
		if err := json.Unmarshal([]byte(stdout), &s); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(out)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		sort.Strings(lines)
		return s, strings.Join(lines, "\n")
	}
	for _, q := range []string{"q3", "q4", "q5", "q6", "q7", "q8"} {
		plain, want := runQ(q)
		ck, got := runQ(q, "--checkpoint-interval", "5ms")
		if !ck.Checkpointing || ck.Checkpoints == 0 {
			t.Errorf("%s: checkpointing %v with %d checkpoints completed", q, ck.Checkpointing, ck.Checkpoints)
		}
		if plain.Checkpointing || got != want {
			t.Errorf("%s: the checkpointed run's rows differ from the plain run's", q)
		}
	}
}
