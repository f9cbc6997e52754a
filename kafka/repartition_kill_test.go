package kafka_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/kafka"
)

// TestRepartitionChild is the subprocess of TestRunRepartitionSIGKILL: with $SLUICE_REPART_CHILD
// set to "broker in out app statedir" it runs the per-user pipeline until the input is idle;
// otherwise it is skipped.
func TestRepartitionChild(t *testing.T) {
	args := strings.Fields(os.Getenv("SLUICE_REPART_CHILD"))
	if len(args) != 5 {
		t.Skip("the subprocess of TestRunRepartitionSIGKILL")
	}
	cfg := config(args[0], args[3])
	cfg.StateDir = args[4]
	cfg.UntilIdle = 8 * time.Second // alive when the parent kills it, which it does within 8 s of a result
	if _, err := kafka.Run(context.Background(), perUserPipeline(args[1], args[2]), cfg); err != nil {
		t.Fatal(err)
	}
}

// TestRunRepartitionSIGKILL: two processes run a re-keying pipeline (clicks keyed by page in
// their topic, counted per user through a repartition topic); one is killed with SIGKILL while
// results are being committed and started again on its state directory. The committed counts
// equal the brute force exactly once: the killed process's open transaction (outputs,
// repartition records, changelog, offsets) is aborted, and its tasks resume from the last
// committed epoch.
func TestRunRepartitionSIGKILL(t *testing.T) {
	ctx := kafkatest.Deadline(t, 4*time.Minute)
	broker := kafkatest.Broker(t)
	in, out, app := kafkatest.Name("in"), kafkatest.Name("out"), kafkatest.Name("app")
	cs := clicks(40_000)
	produceClicks(t, ctx, broker, in, cs[:20_000], false)
	dirA, dirB := t.TempDir(), t.TempDir()
	start := func(dir string) (*exec.Cmd, *bytes.Buffer, chan error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRepartitionChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SLUICE_REPART_CHILD="+strings.Join([]string{broker, in, out, app, dir}, " "))
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		return cmd, &log, done
	}
	a, _, doneA := start(dirA)
	_, logB, doneB := start(dirB)
	if err := kafkatest.WaitCommitted(ctx, broker, out, 1); err != nil {
		a.Process.Kill()
		t.Fatalf("waiting for results: %v", err)
	}
	a.Process.Signal(syscall.SIGKILL)
	if err := <-doneA; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the first process was not killed: %v", err)
	}
	produceClicks(t, ctx, broker, in, cs[20_000:], true)
	_, logA2, doneA2 := start(dirA) // the killed process, started again on its state directory
	for name, c := range map[string]struct {
		done chan error
		log  *bytes.Buffer
	}{"B": {doneB, logB}, "A (restarted)": {doneA2, logA2}} {
		select {
		case err := <-c.done:
			if err != nil {
				t.Fatalf("process %s: %v\n%s", name, err, c.log)
			}
		case <-ctx.Done():
			t.Fatalf("process %s did not finish", name)
		}
	}
	if got, want := committedLines(t, ctx, broker, out), perUser(cs); !slices.Equal(got, want) {
		t.Fatalf("committed counts differ from the brute force: got %d lines, want %d\n%s", len(got), len(want), diffLines(got, want))
	}
}
