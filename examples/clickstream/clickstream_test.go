package clickstream

import (
	"context"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type alerts struct {
	mu  sync.Mutex
	got []Alert
}

func (a *alerts) Write(v Alert) error {
	a.mu.Lock()
	a.got = append(a.got, v)
	a.mu.Unlock()
	return nil
}
func (a *alerts) Close() error { return nil }

func runDemo(t *testing.T, cfg Config, parallelism int) ([]Alert, *engine.Stats) {
	t.Helper()
	out := &alerts{}
	late := sluice.SinkFunc[LateClick](func(l LateClick) error {
		t.Errorf("late click: %+v", l)
		return nil
	})
	j := Build(cfg, out, late)
	var st engine.Stats
	if err := engine.Run(context.Background(), j.Pipeline, engine.Parallelism(parallelism), engine.WithStats(&st)); err != nil {
		t.Fatal(err)
	}
	if j.Events.Load() != cfg.Events {
		t.Fatalf("generated %d events, want %d", j.Events.Load(), cfg.Events)
	}
	return out.got, &st
}

// TestAlertsMatchBruteForce checks the pipeline against a direct count of the generated clicks.
func TestAlertsMatchBruteForce(t *testing.T) {
	cfg := Config{Events: 300_000, Seed: 7}
	got, st := runDemo(t, cfg, 2)
	cfg.defaults()
	counts := map[[2]int64]map[string]int64{}
	for seq := int64(0); seq < cfg.Events; seq++ {
		c := cfg.Click(seq)
		start := c.At - ((c.At%60_000)+60_000)%60_000
		k := [2]int64{start, start + 60_000}
		if counts[k] == nil {
			counts[k] = map[string]int64{}
		}
		counts[k][c.Page]++
	}
	var want []Alert
	for w, pages := range counts {
		for page, n := range pages {
			if n > cfg.Threshold {
				want = append(want, Alert{Page: page, WindowStart: w[0], WindowEnd: w[1], Count: n, Threshold: cfg.Threshold})
			}
		}
	}
	slices.SortFunc(want, func(a, b Alert) int {
		if a.WindowStart != b.WindowStart {
			return int(a.WindowStart - b.WindowStart)
		}
		if a.Page < b.Page {
			return -1
		}
		return 1
	})
	if len(want) == 0 {
		t.Fatal("the brute force found no alerts: the test would prove nothing")
	}
	if !slices.Equal(got, want) {
		t.Fatalf("alerts differ:\n got %d: %v\nwant %d: %v", len(got), got, len(want), want)
	}
	if st.Late() != 0 || st.DeadLetters() != 0 {
		t.Fatalf("late=%d dead letters=%d, want 0", st.Late(), st.DeadLetters())
	}
}

// TestDeterministicAcrossParallelism: the same seed gives the same alert lines in the same order
// with one subtask or several, one source split or several.
func TestDeterministicAcrossParallelism(t *testing.T) {
	a, _ := runDemo(t, Config{Events: 200_000, Seed: 3}, 1)
	b, _ := runDemo(t, Config{Events: 200_000, Seed: 3, Splits: 3}, 4)
	if !slices.Equal(a, b) {
		t.Fatalf("parallelism changed the output:\n%v\n%v", a, b)
	}
}
