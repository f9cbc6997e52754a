package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicehq/sluice/examples/clickstream"
	"github.com/sluicehq/sluice/internal/kafkatest"
	"github.com/sluicehq/sluice/kafka"
)

// kafkaDemo runs the clickstream demo's Kafka contract against a broker under a topic prefix.
type kafkaDemo struct {
	t      *testing.T
	bin    string
	broker string
	prefix string
	extra  []string // connection flags (SASL)
	seed   int64
	events int64
}

func newKafkaDemo(t *testing.T, bin, broker, name string, events int64) *kafkaDemo {
	return &kafkaDemo{t: t, bin: bin, broker: broker, prefix: kafkatest.Name(name) + "-", seed: 11, events: events}
}

// reference is the embedded run's output: the alerts the Kafka run must commit exactly once.
func (d *kafkaDemo) reference() []string {
	out := filepath.Join(d.t.TempDir(), "ref.jsonl")
	cmd := exec.Command(d.bin, "demo", "clickstream", "--events", fmt.Sprint(d.events), "--seed", fmt.Sprint(d.seed), "--rate", "0", "--out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		d.t.Fatalf("embedded run: %v\n%s", err, b)
	}
	b, _ := os.ReadFile(out)
	lines := nonEmptyLines(b)
	if len(lines) < 5 {
		d.t.Fatalf("the reference has too few alerts to prove anything: %q", lines)
	}
	return lines
}

func (d *kafkaDemo) args(mode ...string) []string {
	a := append([]string{"demo", "clickstream", "--kafka", d.broker, "--kafka-prefix", d.prefix}, d.extra...)
	return append(a, mode...)
}

func (d *kafkaDemo) produce() {
	cmd := exec.Command(d.bin, d.args("--produce-only", "--events", fmt.Sprint(d.events), "--seed", fmt.Sprint(d.seed))...)
	if b, err := cmd.CombinedOutput(); err != nil {
		d.t.Fatalf("--produce-only: %v\n%s", err, b)
	}
}

// consumer starts a --consume process with its own state folder.
func (d *kafkaDemo) consumer(ctx context.Context, state string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, d.bin, d.args("--consume", "--state-dir", state, "--until-idle", "4s")...)
	cmd.Stderr = &bytes.Buffer{} // shown when the consumer fails
	cmd.Env = append(os.Environ(), "SLUICE_LOG=info")
	// A consumer still running at the deadline dumps its goroutines (SIGQUIT) into its stderr.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	return cmd
}

func (d *kafkaDemo) wait(cmds ...*exec.Cmd) {
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			d.t.Fatalf("consumer %d: %v\n%s", i, err, c.Stderr)
		}
	}
}

func (d *kafkaDemo) alertsTopic() string { return d.prefix + alertTopic }

// committed reads the alerts topic as a read_committed consumer sees it.
func (d *kafkaDemo) committed(ctx context.Context, opts ...kgo.Opt) []string {
	vals, err := kafkatest.ReadCommitted(ctx, d.broker, d.alertsTopic(), opts...)
	if err != nil {
		d.t.Fatal(err)
	}
	lines := make([]string, len(vals))
	for i, v := range vals {
		lines[i] = string(v)
	}
	return lines
}

// sameMultiset fails unless got holds exactly the lines of want, each as often.
func sameMultiset(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Fatalf("%s: %d records, want %d (the embedded run's); got:\n%s\nwant:\n%s", what, len(g), len(w), strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
}

func nonEmptyLines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestKafkaDemoKillRestart is proof (a) of issue 4: three processes consume a 12-partition topic,
// one is killed with SIGKILL mid-run and restarted, and the committed alerts equal the embedded
// run's, each exactly once.
func TestKafkaDemoKillRestart(t *testing.T) {
	ctx := kafkatest.Deadline(t, 4*time.Minute)
	d := newKafkaDemo(t, buildSluice(t), kafkatest.Broker(t), "kill", 1_500_000)
	want := d.reference()
	d.produce()
	dir := t.TempDir()
	state := func(i int) string { return filepath.Join(dir, fmt.Sprint("state", i)) }
	cmds := []*exec.Cmd{d.consumer(ctx, state(0)), d.consumer(ctx, state(1)), d.consumer(ctx, state(2))}
	if err := kafkatest.WaitCommitted(ctx, d.broker, d.alertsTopic(), 1); err != nil {
		t.Fatal(err)
	}
	if err := cmds[0].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmds[0].Wait()
	if n := len(d.committed(ctx)); n >= len(want) {
		t.Fatalf("all %d alerts were committed before the kill: the kill proves nothing", n)
	}
	cmds[0] = d.consumer(ctx, state(0)) // restarted with the same arguments
	d.wait(cmds...)
	sameMultiset(t, "committed alerts after a SIGKILL and restart", d.committed(ctx), want)
}

// TestKafkaDemoBrokerRestart is proof (b): the broker restarts mid-run; nothing is lost or
// duplicated. It runs its own broker so that other tests do not see the restart.
func TestKafkaDemoBrokerRestart(t *testing.T) {
	ctx := kafkatest.Deadline(t, 5*time.Minute)
	broker, kafkaDev := kafkatest.Dedicated(t, 19092)
	d := newKafkaDemo(t, buildSluice(t), broker, "restart", 1_500_000)
	want := d.reference()
	d.produce()
	dir := t.TempDir()
	cmds := []*exec.Cmd{d.consumer(ctx, filepath.Join(dir, "a")), d.consumer(ctx, filepath.Join(dir, "b"))}
	if err := kafkatest.WaitCommitted(ctx, d.broker, d.alertsTopic(), 1); err != nil {
		t.Fatal(err)
	}
	if err := kafkaDev("restart-broker", "1"); err != nil {
		t.Fatal(err)
	}
	d.wait(cmds...)
	sameMultiset(t, "committed alerts across a broker restart", d.committed(ctx), want)
}

// TestKafkaDemoSASL is proof (c): produce and consume through the SASL/SCRAM listener.
func TestKafkaDemoSASL(t *testing.T) {
	ctx := kafkatest.Deadline(t, 3*time.Minute)
	bin := buildSluice(t)
	d := newKafkaDemo(t, bin, kafkatest.SASLBroker(t), "sasl", 400_000)
	d.extra = []string{"--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", kafkatest.SASLUser, "--sasl-password", kafkatest.SASLPassword}
	want := d.reference()
	d.produce()
	d.wait(d.consumer(ctx, t.TempDir()))
	sameMultiset(t, "committed alerts over SASL/SCRAM", d.committed(ctx, kgo.SASL(scramAuth())), want)

	// A wrong password is a clear error, soon.
	d.extra[len(d.extra)-1] = "wrong"
	cmd := exec.CommandContext(ctx, bin, d.args("--consume", "--until-idle", "1s")...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "authentication failed") || !strings.Contains(string(out), d.broker) {
		t.Fatalf("a wrong SASL password: err %v, output %s; want an authentication error naming the broker", err, out)
	}
}

// TestKafkaDemoKcatInterop is proof (d): clicks produced by kcat are consumed, and the alerts read
// by kcat with isolation.level=read_committed are the embedded run's.
func TestKafkaDemoKcatInterop(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed (Debian package kcat; .ci/run installs it)")
	}
	ctx := kafkatest.Deadline(t, 3*time.Minute)
	d := newKafkaDemo(t, buildSluice(t), kafkatest.Broker(t), "kcat", 300_000)
	want := d.reference()
	topic := d.prefix + clickTopic
	createTopic(t, ctx, d.broker, topic, clickTopicN)
	var in bytes.Buffer // key TAB value, one click per line
	gen := clickstream.Config{Seed: d.seed}
	serde := kafka.JSON[clickstream.Click]()
	for i := int64(0); i < d.events; i++ {
		c := gen.Click(i)
		b, _ := serde.Encode(nil, c)
		fmt.Fprintf(&in, "%s\t%s\n", c.Page, b)
	}
	produce := exec.CommandContext(ctx, kcat, "-P", "-b", d.broker, "-t", topic, "-K", "\t")
	produce.Stdin = &in
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	for p := 0; p < clickTopicN; p++ { // end of stream, as --produce-only writes it
		marker := exec.CommandContext(ctx, kcat, "-P", "-b", d.broker, "-t", topic, "-p", fmt.Sprint(p), "-H", kafka.WatermarkHeader+"=max", "-Z")
		marker.Stdin = strings.NewReader("end\n") // kcat skips empty lines; a marker's value is ignored
		if out, err := marker.CombinedOutput(); err != nil {
			t.Fatalf("kcat marker: %v\n%s", err, out)
		}
	}
	d.wait(d.consumer(ctx, t.TempDir()))
	read := exec.CommandContext(ctx, kcat, "-C", "-b", d.broker, "-t", d.alertsTopic(), "-X", "isolation.level=read_committed", "-e", "-q", "-f", "%s\n")
	out, err := read.Output()
	if err != nil {
		t.Fatalf("kcat -C: %v", err)
	}
	sameMultiset(t, "alerts read by kcat (read_committed)", nonEmptyLines(out), want)
}

func createTopic(t *testing.T, ctx context.Context, broker, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
}

func scramAuth() sasl.Mechanism {
	return scram.Auth{User: kafkatest.SASLUser, Pass: kafkatest.SASLPassword}.AsSha512Mechanism()
}
