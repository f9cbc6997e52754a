// Package cputime reads the CPU time the process has used, for benchmarks that report events per
// CPU-second on a shared machine (where wall-clock time includes waiting for a core).
package cputime

import "time"

// Process returns the CPU time (user and system) the process has used so far, or 0 where the
// platform does not report it.
func Process() time.Duration { return process() }
