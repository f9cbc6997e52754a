//go:build !unix

package engine_test

import "time"

// processCPU is not measured on this platform: the benchmarks report no per-CPU-second figure.
func processCPU() time.Duration { return 0 }
