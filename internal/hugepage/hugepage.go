// Package hugepage asks Linux to back the Go heap with transparent huge pages (THP).
//
// Keyed state is a few large arrays and many small buffers spread over hundreds of megabytes of
// heap, and a record touches a handful of them at random. With 4 KiB pages nearly every such
// touch also misses the TLB and walks the page table; with 2 MiB pages the TLB covers the whole
// state. On this project's machines (Linux 6, THP mode "madvise") huge pages raise the rolling
// and sliding window operators by about a fifth (BENCHMARKS.md, "Huge pages").
//
// The Go runtime does not ask for huge pages for its heap (it did in Go 1.21.0 and stopped,
// because programs whose heap shrinks lost memory to them). A stream processor's heap is its
// state: it grows and stays. Enable therefore
//
//   - grows the heap's address space by a reserve and frees it again, untouched, so that the
//     state allocated later lands in memory that is mapped but not yet faulted in;
//   - marks every anonymous read-write mapping of the process (the heap among them) with
//     MADV_HUGEPAGE, so that a fault in a free 2 MiB range gets a huge page at once;
//   - after each garbage collection, marks the mappings the heap has grown into since (their
//     pages already touched are left to the kernel's khugepaged to collapse).
//
// Where THP is "never", "always", or not Linux, Enable does nothing. Setting SLUICE_HUGEPAGES=off
// in the environment turns it off.
package hugepage

import (
	"os"
	"sync"
)

// Reserve is the address space Enable grows the heap by when the machine allows it (at most a
// quarter of its memory): virtual memory only, never touched by Enable.
const Reserve = 1 << 30

var once sync.Once

// Enable asks for huge pages for the heap, once per process; it reports whether it did. It is
// safe to call from many goroutines and many times.
func Enable() bool {
	once.Do(func() {
		if os.Getenv("SLUICE_HUGEPAGES") == "off" {
			return
		}
		enabled = enable()
	})
	return enabled
}

var enabled bool
