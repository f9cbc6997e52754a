package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connector/file"
	"github.com/sluicehq/sluice/engine"
)

// The crash child: TestCrashChild runs the keyed process pipeline with checkpoints into
// $SLUICE_CRASH_DIR and an exactly-once file sink when $SLUICE_CRASH_DIR is set, and is skipped
// otherwise. TestCrashRecoveryStateBackends runs it as a subprocess (this test binary) and kills
// it with SIGKILL.
const crashEvents, crashKeys = 1_000_000, 20_000

func crashOptions(dir, backend string) []engine.Option {
	opts := []engine.Option{engine.Parallelism(2), engine.Checkpointing(filepath.Join(dir, "checkpoints"), 20*time.Millisecond)}
	if backend == "pebble" {
		opts = append(opts, engine.StateBackend(engine.Pebble(filepath.Join(dir, "pebble"), engine.KeyBudget(1_000), engine.CacheSize(16<<20))))
	}
	return opts
}

func TestCrashChild(t *testing.T) {
	dir := os.Getenv("SLUICE_CRASH_DIR")
	if dir == "" {
		t.Skip("the subprocess of TestCrashRecoveryStateBackends")
	}
	n, _ := strconv.Atoi(os.Getenv("SLUICE_CRASH_EVENTS"))
	p := spillPipelineTo(&manyKeys{n: n, keys: crashKeys, pause: -1}, file.ExactlyOnceJSONLines[string](filepath.Join(dir, "out.jsonl")))
	if err := engine.Run(context.Background(), p, crashOptions(dir, os.Getenv("SLUICE_CRASH_BACKEND"))...); err != nil {
		t.Fatal(err)
	}
}

// TestCrashRecoveryStateBackends runs the keyed process pipeline (value, map and list state and
// timers over 20k keys) as a subprocess, on the memory backend and on Pebble with a 1,000-key
// budget, kills it with SIGKILL at random moments at least 20 times, starts it again each time,
// and checks the committed output holds exactly the records of an uninterrupted run.
func TestCrashRecoveryStateBackends(t *testing.T) {
	if testing.Short() || raceScale > 1 {
		t.Skip("runs the pipeline ~25 times per backend; run without -short and without -race (where the kills land before the first checkpoint)")
	}
	n := crashEvents
	ref, refOut := spillPipeline(&manyKeys{n: n, keys: crashKeys, pause: -1})
	began := time.Now()
	if err := engine.Run(context.Background(), ref, engine.Parallelism(2)); err != nil {
		t.Fatal(err)
	}
	// The kills fall at random in a window as long as the uninterrupted run (without
	// checkpoints, and without a process to start: the child takes longer): a fixed window lets
	// a fast machine finish most runs before their kill.
	span := max(time.Since(began), 100*time.Millisecond)
	want := refOut.sorted()
	for _, backend := range []string{"memory", "pebble"} {
		t.Run(backend, func(t *testing.T) { crashLoop(t, backend, n, want, span) })
	}
}

func crashLoop(t *testing.T, backend string, n int, want []string, span time.Duration) {
	dir := t.TempDir()
	restored := 0
	start := func() (*exec.Cmd, chan error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SLUICE_CRASH_DIR="+dir, "SLUICE_CRASH_BACKEND="+backend,
			"SLUICE_CRASH_EVENTS="+strconv.Itoa(n))
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			err := cmd.Wait()
			if strings.Contains(out.String(), "restored checkpoint") {
				restored++
			}
			if err != nil {
				err = fmt.Errorf("%w\n%s", err, out.String())
			}
			done <- err
		}()
		return cmd, done
	}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	kills, runs := 0, 0
	// lo delays the kills while they land before the first checkpoint (a loaded machine starts
	// the child slowly), so that recovery, not only a fresh start, is exercised. It stays below
	// half the window, so that fresh runs are still killed more often than not.
	var lo time.Duration
	for kills < 20 {
		if runs++; runs > 200 {
			t.Fatalf("only %d kills landed in %d runs", kills, runs)
		}
		cmd, done := start()
		timer := time.NewTimer(lo + time.Duration(r.Int64N(int64(span))))
		select {
		case err := <-done:
			timer.Stop()
			if err != nil {
				t.Fatalf("run %d: %v", runs, err)
			}
			// It finished before the kill: start again from scratch, so kills land on work.
			for _, sub := range []string{"checkpoints", "pebble", "out.jsonl", "out.jsonl.pending"} {
				os.RemoveAll(filepath.Join(dir, sub))
			}
		case <-timer.C:
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
			if m, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "chk-*", "MANIFEST.json")); len(m) == 0 {
				lo = min(lo+span/8, span/2)
			}
		}
	}
	_, done := start()
	if err := <-done; err != nil {
		t.Fatalf("final run after %d kills: %v", kills, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var v string
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, v)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("%s backend, after %d SIGKILLs over %d runs: %d records, want %d; first difference at %s",
			backend, kills, runs, len(got), len(want), firstDifference(got, want))
	}
	if restored < 5 {
		t.Fatalf("only %d runs resumed from a checkpoint: the kills did not exercise recovery", restored)
	}
	t.Logf("%s backend: %d SIGKILLs over %d runs, %d resumed from a checkpoint, %d events; output identical (%d records)",
		backend, kills, runs, restored, n, len(got))
}
