package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/sluicehq/sluice/internal/fixture"
)

// runFixture runs one windowing case and prints every emitted result as a JSON line, in emission
// order, with step, pane and index.
func runFixture(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: sluice fixture CASE.json")
		return exitUsage
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "sluice fixture: %v\n", err)
		return exitFailed
	}
	c, err := fixture.Parse(data)
	if err != nil {
		fmt.Fprintf(stderr, "sluice fixture: %s: %v\n", args[0], err)
		return exitFailed
	}
	results, runErr := fixture.Run(c)
	enc := json.NewEncoder(stdout)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			fmt.Fprintf(stderr, "sluice fixture: writing results: %v\n", err)
			return exitFailed
		}
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "sluice fixture: %s: %v\n", args[0], runErr)
		return exitFailed
	}
	return exitOK
}
