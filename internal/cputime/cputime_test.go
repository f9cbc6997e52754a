//go:build unix

package cputime

import "testing"

// TestProcessAdvances: CPU time spent spinning shows up in Process.
func TestProcessAdvances(t *testing.T) {
	start := Process()
	x := uint64(1)
	for i := 0; Process()-start <= 0 && i < 1<<32; i++ {
		x = x*6364136223846793005 + 1
	}
	if Process() <= start {
		t.Fatalf("no CPU time counted (x=%d)", x)
	}
}
