package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// buildSluice compiles the CLI once per test binary run.
func buildSluice(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluice")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("building sluice: %v\n%s", err, out)
	}
	return bin
}

// TestCrashRecoveryExactlyOnce is the contract of issue 3: `sluice demo clickstream --events N
// --seed S --out FILE --state-dir DIR`, killed with SIGKILL at random moments and started again
// with the same arguments, ends with FILE holding exactly the lines of an uninterrupted run, and
// exits 0 when done. It runs on both state backends: memory, and Pebble with a budget of 10 keys
// per subtask (the demo has 50 pages, so most keys live in the Pebble store between accesses).
func TestCrashRecoveryExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it ~25 times per backend; run without -short")
	}
	bin := buildSluice(t)
	t.Run("memory", func(t *testing.T) { crashLoop(t, bin, "--state-backend", "memory") })
	t.Run("pebble", func(t *testing.T) { crashLoop(t, bin, "--state-backend", "pebble", "--key-budget", "10") })
}

// crashLoop kills the demo at random moments until 20 kills have landed, then checks the output.
func crashLoop(t *testing.T, bin string, backend ...string) {
	dir := t.TempDir()
	const events = "1000000"
	args := func(out, state string) []string {
		a := []string{"demo", "clickstream", "--events", events, "--seed", "42", "--rate", "0",
			"--out", out, "--checkpoint-interval", "20ms", "--parallelism", "2"}
		if state != "" {
			a = append(a, "--state-dir", state)
			a = append(a, backend...)
		}
		return a
	}
	ref := filepath.Join(dir, "reference.jsonl")
	began := time.Now()
	if out, err := exec.Command(bin, args(ref, "")...).CombinedOutput(); err != nil {
		t.Fatalf("reference run: %v\n%s", err, out)
	}
	// The kills fall at random in a window as long as the uninterrupted run (which checkpoints
	// nothing, so a run with state takes longer): a fixed window lets a fast machine finish
	// most runs before their kill.
	span := max(time.Since(began), 50*time.Millisecond)
	want, _ := os.ReadFile(ref)
	if len(bytes.Split(want, []byte("\n"))) < 20 {
		t.Fatalf("the reference output has too few lines to prove anything:\n%s", want)
	}

	out, state := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "state")
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills, runs, restored := 0, 0, 0
	// lo delays the kills while they land before the first checkpoint (a loaded machine starts
	// the process slowly), so that recovery, not only a fresh start, is exercised. It stays
	// below half the window, so that fresh runs are still killed more often than not.
	var lo time.Duration
	for kills < 20 {
		runs++
		if runs > 200 {
			t.Fatalf("only %d kills landed in %d runs: the runs finish too fast to be interrupted", kills, runs)
		}
		cmd := exec.Command(bin, args(out, state)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		timer := time.NewTimer(lo + time.Duration(r.Int64N(int64(span))))
		select {
		case err := <-done:
			timer.Stop()
			if err != nil {
				t.Fatalf("run %d failed: %v\n%s", runs, err, stderr.String())
			}
			// It finished before the kill: start the next attempt from a clean slate, so
			// kills keep landing on runs with work left.
			os.RemoveAll(state)
			os.Remove(out)
		case <-timer.C:
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			kills++
			if m, _ := filepath.Glob(filepath.Join(state, "chk-*", "MANIFEST.json")); len(m) == 0 {
				lo = min(lo+span/8, span/2)
			}
		}
		if bytes.Contains(stderr.Bytes(), []byte("restored checkpoint")) {
			restored++
		}
	}
	cmd := exec.Command(bin, args(out, state)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("final run after %d kills: %v\n%s", kills, err, msg)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, want) {
		t.Fatalf("after %d SIGKILLs the output differs from the uninterrupted run:\n%s", kills, diffLines(want, got))
	}
	// Started again once more with the same arguments, it has nothing to do and exits 0.
	if msg, err := exec.Command(bin, args(out, state)...).CombinedOutput(); err != nil {
		t.Fatalf("a run after completion failed: %v\n%s", err, msg)
	}
	if again, _ := os.ReadFile(out); !bytes.Equal(again, want) {
		t.Fatal("a run after completion changed the output")
	}
	if restored < 5 {
		t.Fatalf("only %d runs resumed from a checkpoint: the kills did not exercise recovery", restored)
	}
	t.Logf("%d SIGKILLs over %d runs, %d resumed from a checkpoint; output identical (%d bytes)", kills, runs, restored, len(got))
}

func diffLines(want, got []byte) string {
	w := bytes.Split(want, []byte("\n"))
	g := bytes.Split(got, []byte("\n"))
	var b bytes.Buffer
	fmt.Fprintf(&b, "want %d lines, got %d\n", len(w), len(g))
	for i := 0; i < max(len(w), len(g)) && b.Len() < 4000; i++ {
		var a, c []byte
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if !bytes.Equal(a, c) {
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i+1, a, c)
		}
	}
	return b.String()
}
