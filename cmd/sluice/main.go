// Command sluice runs Sluice pipelines: the demos, reference fixtures and (later) benchmarks.
//
//	sluice demo clickstream [flags]   the main job on the embedded engine
//	sluice fixture CASE.json          run a windowing case, print what it emits
//	sluice version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

const usage = `usage: sluice <command> [arguments]

commands:
  bench nexmark|ysb [flags]  run a Nexmark query or the Yahoo streaming benchmark, print throughput and latency
  demo clickstream [flags]   generated clicks → count per page per minute → alerts (embedded engine)
  fixture CASE.json          run a windowing case (docs/format/fixtures.md), print emitted results as JSON lines
  savepoint --state-dir DIR  take a savepoint of the pipeline running on DIR (also: list, delete ID)
  version                    print the version
`

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "fixture":
		return runFixture(args[1:], stdout, stderr)
	case "savepoint":
		return runSavepoint(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "sluice", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "sluice: unknown command %q\n%s", args[0], usage)
	return exitUsage
}
