//go:build linux

package hugepage

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestAnonRW(t *testing.T) {
	for _, c := range []struct {
		line   string
		lo, hi uintptr
		ok     bool
	}{
		{"c000000000-c004400000 rw-p 00000000 00:00 0 ", 0xc000000000, 0xc004400000, true},
		{"7fd47764e000-7fd477800000 rw-p 00000000 00:00 0", 0x7fd47764e000, 0x7fd477800000, true},
		{"0058e000-00599000 rw-p 0018e000 fe:00 9978198   /tmp/x", 0, 0, false}, // a file
		{"90246400000-90248000000 ---p 00000000 00:00 0", 0, 0, false},          // reserved only
		{"7ffea1fb7000-7ffea1fd8000 rw-p 00000000 00:00 0   [stack]", 0, 0, false},
		{"7f0000-7e0000 rw-p 00000000 00:00 0", 0, 0, false}, // upside down
		{"zz-7e0000 rw-p 00000000 00:00 0", 0, 0, false},
		{"", 0, 0, false},
	} {
		lo, hi, ok := anonRW([]byte(c.line))
		if lo != c.lo || hi != c.hi || ok != c.ok {
			t.Errorf("anonRW(%q) = %x, %x, %v; want %x, %x, %v", c.line, lo, hi, ok, c.lo, c.hi, c.ok)
		}
	}
}

func TestMemTotal(t *testing.T) {
	if m := memTotal(); m < 64<<20 {
		t.Fatalf("memTotal() = %d bytes: /proc/meminfo not read", m)
	}
}

// TestEnableMarksTheHeap: with THP in "madvise" mode, memory allocated after Enable lies in a
// mapping marked for huge pages ("hg" in /proc/self/smaps); in any other mode Enable reports
// that it did nothing.
func TestEnableMarksTheHeap(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	madvise := err == nil && bytes.Contains(mode, []byte("[madvise]"))
	if got := Enable(); got != madvise || Enable() != got {
		t.Fatalf("Enable() = %v with THP mode %q; want %v, the same every time", got, mode, madvise)
	}
	if !madvise {
		return
	}
	big := make([]byte, 64<<20)
	flags := vmFlags(t, uintptr(unsafe.Pointer(&big[32<<20])))
	if !strings.Contains(" "+flags+" ", " hg ") {
		t.Fatalf("the mapping holding a fresh 64 MiB slice has VmFlags %q, without hg", flags)
	}
}

// vmFlags returns the VmFlags of the mapping holding addr.
func vmFlags(t *testing.T, addr uintptr) string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if r, _, ok := strings.Cut(line, " "); ok && strings.Contains(r, "-") && !strings.HasSuffix(r, ":") {
			lo, hi, _ := strings.Cut(r, "-")
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uintptr(l) <= addr && addr < uintptr(h)
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmFlags:"))
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return ""
}

// TestOffByEnvironment: SLUICE_HUGEPAGES=off turns Enable off (checked in a child process, as
// Enable acts once per process).
func TestOffByEnvironment(t *testing.T) {
	if os.Getenv("HUGEPAGE_CHILD") == "1" {
		if Enable() {
			os.Exit(3)
		}
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestOffByEnvironment$")
	cmd.Env = append(os.Environ(), "HUGEPAGE_CHILD=1", "SLUICE_HUGEPAGES=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("with SLUICE_HUGEPAGES=off the child reports huge pages on (%v): %s", err, out)
	}
}
