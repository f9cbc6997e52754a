//go:build linux

package hugepage

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
)

const (
	hugeSize      = 2 << 20
	madvHugepage  = 14 // MADV_HUGEPAGE
	minRegionSize = 2 * hugeSize
)

func enable() bool {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || !bytes.Contains(mode, []byte("[madvise]")) {
		return false // "always" needs nothing; "never" forbids it
	}
	reserve()
	st := &state{seen: make(map[[2]uintptr]bool)}
	st.advise()
	watchGC(st)
	return true
}

// reserve grows the heap's address space by Reserve (at most a quarter of the machine's memory,
// which the kernel's heuristic overcommit always grants), unless the kernel counts it against a
// strict commit limit, and frees it: the memory is mapped and never touched.
func reserve() {
	if b, err := os.ReadFile("/proc/sys/vm/overcommit_memory"); err != nil || len(bytes.TrimSpace(b)) == 0 || bytes.TrimSpace(b)[0] == '2' {
		return
	}
	n := min(Reserve, memTotal()/4)
	if n < hugeSize {
		return
	}
	b := make([]byte, n)
	runtime.KeepAlive(b)
	b = nil
	runtime.GC()
}

// memTotal is the machine's memory in bytes (MemTotal of /proc/meminfo), or 0.
func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("MemTotal:")); ok {
			f := bytes.Fields(rest)
			if len(f) == 2 && string(f[1]) == "kB" {
				kb, err := strconv.ParseInt(string(f[0]), 10, 64)
				if err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}

// state remembers the mappings already marked.
type state struct {
	mu   sync.Mutex
	seen map[[2]uintptr]bool
}

// advise marks the anonymous read-write mappings not marked before.
func (s *state) advise() {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lo, hi, ok := anonRW(sc.Bytes())
		if !ok {
			continue
		}
		lo = (lo + hugeSize - 1) &^ (hugeSize - 1)
		hi &^= hugeSize - 1
		if hi <= lo || hi-lo < minRegionSize || s.seen[[2]uintptr{lo, hi}] {
			continue
		}
		s.seen[[2]uintptr{lo, hi}] = true
		madvise(lo, hi-lo, madvHugepage)
	}
}

// anonRW parses a line of /proc/self/maps and reports the range of an anonymous, private,
// read-write mapping.
func anonRW(line []byte) (lo, hi uintptr, ok bool) {
	f := bytes.Fields(line)
	if len(f) != 5 || !bytes.Equal(f[1], []byte("rw-p")) || !bytes.Equal(f[4], []byte("0")) {
		return 0, 0, false
	}
	dash := bytes.IndexByte(f[0], '-')
	if dash < 0 {
		return 0, 0, false
	}
	l, err1 := strconv.ParseUint(string(f[0][:dash]), 16, 64)
	h, err2 := strconv.ParseUint(string(f[0][dash+1:]), 16, 64)
	if err1 != nil || err2 != nil || h <= l {
		return 0, 0, false
	}
	return uintptr(l), uintptr(h), true
}

func madvise(addr, n uintptr, advice int) {
	syscall.Syscall(syscall.SYS_MADVISE, addr, n, uintptr(advice)) //nolint:errcheck // advice only
}

// watchGC marks new mappings after every garbage collection: the heap grows between
// collections. A cleanup attached to a fresh object runs after the collection that frees it.
func watchGC(s *state) {
	p := new(byte)
	runtime.AddCleanup(p, func(s *state) {
		s.advise()
		watchGC(s)
	}, s)
}
