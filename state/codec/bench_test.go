package codec_test

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/state/codec"
)

// benchAppend measures Append into a reused buffer: it must not allocate.
func benchAppend[T any](b *testing.B, v T) {
	c := codec.MustFor[T]()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = c.Append(buf[:0], v)
	}
	b.SetBytes(int64(len(buf)))
}

func benchDecode[T any](b *testing.B, v T) {
	c := codec.MustFor[T]()
	enc := c.Append(nil, v)
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, _, err := c.Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

var (
	benchSmall = Small{Key: "page-1234", Count: 123456, Sum: 98.6}
	benchClick = Click{Page: "/checkout", User: 987654321, At: time.UnixMilli(1_700_000_000_123).UTC()}
	benchBig   = WithAny{Name: "x", V: int64(7)}
)

func BenchmarkAppendString(b *testing.B) { benchAppend(b, "page-1234/checkout") }
func BenchmarkAppendInt64(b *testing.B)  { benchAppend(b, int64(-123456789)) }
func BenchmarkAppendSmall(b *testing.B)  { benchAppend(b, benchSmall) }
func BenchmarkAppendClick(b *testing.B)  { benchAppend(b, benchClick) }
func BenchmarkAppendGob(b *testing.B)    { benchAppend(b, benchBig) }

func BenchmarkDecodeString(b *testing.B) { benchDecode(b, "page-1234/checkout") }
func BenchmarkDecodeInt64(b *testing.B)  { benchDecode(b, int64(-123456789)) }
func BenchmarkDecodeSmall(b *testing.B)  { benchDecode(b, benchSmall) }
func BenchmarkDecodeClick(b *testing.B)  { benchDecode(b, benchClick) }
func BenchmarkDecodeGob(b *testing.B)    { benchDecode(b, benchBig) }

// TestAppendDoesNotAllocate pins the zero-allocation promise outside benchmarks.
func TestAppendDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 256)
	check := func(name string, f func()) {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per Append", name, n)
		}
	}
	cs, ci, cm, cc := codec.MustFor[string](), codec.MustFor[int64](), codec.MustFor[Small](), codec.MustFor[Click]()
	ce, cin := codec.MustFor[Everything](), codec.MustFor[[]Inner]()
	every := Everything{S: "s", Tags: []string{"a", "b"}, In: Inner{X: 1}, Ins: []Inner{{X: 2}}, At: time.Now()}
	ins := []Inner{{X: 1}, {Z: 3}}
	check("string", func() { buf = cs.Append(buf[:0], "abc") })
	check("int64", func() { buf = ci.Append(buf[:0], 42) })
	check("Small", func() { buf = cm.Append(buf[:0], benchSmall) })
	check("Click", func() { buf = cc.Append(buf[:0], benchClick) })
	check("[]Inner", func() { buf = cin.Append(buf[:0], ins) })
	check("Everything without maps", func() { buf = ce.Append(buf[:0], every) })
}
