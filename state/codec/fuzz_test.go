package codec_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/state/codec"
)

// fuzzDecode decodes garbage as a T: Decode must not panic, must report an error wrapping
// ErrTruncated or ErrInvalid or use at most len(b) bytes, and what it decodes must encode and
// decode again to an equal value. When exact is set (no maps, whose order varies), the second
// encoding must equal the first.
func fuzzDecode[T any](t *testing.T, b []byte, eq func(a, b reflect.Value) bool, exact bool) {
	c := codec.MustFor[T]()
	v, n, err := c.Decode(b)
	if err != nil {
		if !errors.Is(err, codec.ErrTruncated) && !errors.Is(err, codec.ErrInvalid) {
			t.Fatalf("%T: error %v wraps neither ErrTruncated nor ErrInvalid", v, err)
		}
		return
	}
	if n < 0 || n > len(b) {
		t.Fatalf("%T: used %d bytes of %d", v, n, len(b))
	}
	enc := c.Append(nil, v)
	v2, n2, err := c.Decode(enc)
	if err != nil || n2 != len(enc) {
		t.Fatalf("%T: re-decoding %x: %d bytes, %v", v, enc, n2, err)
	}
	if !eq(reflect.ValueOf(&v).Elem(), reflect.ValueOf(&v2).Elem()) {
		t.Fatalf("%T: %+v re-decodes as %+v", v, v, v2)
	}
	if exact && !bytes.Equal(enc, c.Append(nil, v2)) {
		t.Fatalf("%T: %+v encodes differently the second time", v, v)
	}
}

// FuzzDecode decodes the same bytes as several types: primitives, a small struct, a struct of
// every kind, a recursive type, a time, and a type encoded with gob.
func FuzzDecode(f *testing.F) {
	g := &gen{r: newRand()}
	seeds := [][]byte{nil, {0}, {1}, {0xff, 0xff}, codec.MustFor[Small]().Append(nil, Small{"k", -1, 2.5})}
	for range 5 {
		seeds = append(seeds,
			codec.MustFor[Everything]().Append(nil, g.value(reflect.TypeFor[Everything]()).Interface().(Everything)),
			codec.MustFor[Tree]().Append(nil, g.value(reflect.TypeFor[Tree]()).Interface().(Tree)),
			codec.MustFor[WithAny]().Append(nil, g.value(reflect.TypeFor[WithAny]()).Interface().(WithAny)),
			codec.MustFor[Click]().Append(nil, Click{"p", 3, time.Unix(1e9, 5).UTC()}),
		)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzDecode[string](t, b, equal, true)
		fuzzDecode[int64](t, b, equal, true)
		fuzzDecode[uint16](t, b, equal, true)
		fuzzDecode[float64](t, b, equal, true)
		fuzzDecode[[]byte](t, b, equal, true)
		fuzzDecode[time.Time](t, b, equal, true)
		fuzzDecode[Small](t, b, equal, true)
		fuzzDecode[Click](t, b, equal, true)
		fuzzDecode[[]Inner](t, b, equal, true)
		fuzzDecode[Everything](t, b, equal, false)
		fuzzDecode[Tree](t, b, equal, false)
		fuzzDecode[WithAny](t, b, gobEqual, false)
	})
}
