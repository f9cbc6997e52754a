package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/state/codec"
)

// Types covering every kind the codecs handle natively.
type (
	Page  string
	Count int32
	Blob  []byte
	Flag  bool

	Inner struct {
		X uint8
		Y [2]bool
		Z Count
	}

	Everything struct {
		B    bool
		I    int
		I8   int8
		I16  int16
		I32  int32
		I64  int64
		U    uint
		U8   uint8
		U16  uint16
		U32  uint32
		U64  uint64
		Uptr uintptr
		F32  float32
		F64  float64
		C64  complex64
		C128 complex128
		S    string
		Page Page
		Raw  []byte
		Blob Blob
		Arr  [3]byte
		Ints [4]int16
		At   time.Time
		D    time.Duration
		Tags []string
		M    map[string]float64
		MM   map[int32][]Page
		In   Inner
		P    *Inner
		PP   **string
		Ins  []Inner
		Nest [][]int64
		Addr netip.Addr // MarshalBinary
		_    int        // blank: skipped
		Emb
		embedded
	}

	Emb      struct{ E1 string }
	embedded struct{ E2 int } // unexported type, exported field: encoded

	Tree struct {
		Val  int
		Kids []Tree
		Next *Tree
		Idx  map[string]*Tree
	}

	WithAny struct {
		Name string
		V    any
	}

	Small struct {
		Key   string
		Count int64
		Sum   float64
	}

	Click struct {
		Page string
		User int64
		At   time.Time
	}
)

// gen makes random values of any type the tests use, with nil and empty slices, maps and
// pointers, extreme numbers and times in several zones.
type gen struct {
	r     *rand.Rand
	depth int
}

func (g *gen) value(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	g.fill(v)
	return v
}

var zones = []*time.Location{time.UTC, time.FixedZone("", 5*3600+1800), time.FixedZone("", -8*3600)}

func (g *gen) fill(v reflect.Value) {
	t := v.Type()
	switch t {
	case reflect.TypeFor[time.Time]():
		sec := g.r.Int64N(1<<40) - 1<<39
		tm := time.Unix(sec, g.r.Int64N(1e9)).In(zones[g.r.IntN(len(zones))])
		if g.r.IntN(5) == 0 {
			tm = time.Time{}
		}
		v.Set(reflect.ValueOf(tm))
		return
	case reflect.TypeFor[netip.Addr]():
		addrs := []netip.Addr{{}, netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("2001:db8::1")}
		v.Set(reflect.ValueOf(addrs[g.r.IntN(len(addrs))]))
		return
	}
	g.depth++
	defer func() { g.depth-- }()
	none := g.depth > 4 || g.r.IntN(4) == 0 // nil or empty
	switch t.Kind() {
	case reflect.Bool:
		v.SetBool(g.r.IntN(2) == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := t.Bits()
		x := int64(g.r.Uint64()) >> (64 - bits) // the full range of the type
		if g.r.IntN(2) == 0 {
			x >>= g.r.IntN(bits)
		}
		v.SetInt(x)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(g.r.Uint64() >> (64 - t.Bits()) >> g.r.IntN(t.Bits()))
	case reflect.Float32, reflect.Float64:
		specials := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.MaxFloat32, 5e-324}
		f := g.r.NormFloat64() * 1e6
		if g.r.IntN(4) == 0 {
			f = specials[g.r.IntN(len(specials))]
		}
		v.SetFloat(f)
	case reflect.Complex64, reflect.Complex128:
		v.SetComplex(complex(g.r.NormFloat64(), g.r.NormFloat64()))
	case reflect.String:
		b := make([]byte, g.r.IntN(20))
		for i := range b {
			b[i] = byte(g.r.IntN(256))
		}
		v.SetString(string(b))
	case reflect.Slice:
		if none {
			if g.r.IntN(2) == 0 {
				v.Set(reflect.MakeSlice(t, 0, 0))
			}
			return
		}
		n := g.r.IntN(6)
		v.Set(reflect.MakeSlice(t, n, n))
		for i := range n {
			g.fill(v.Index(i))
		}
	case reflect.Array:
		for i := range v.Len() {
			g.fill(v.Index(i))
		}
	case reflect.Map:
		if none {
			if g.r.IntN(2) == 0 {
				v.Set(reflect.MakeMap(t))
			}
			return
		}
		v.Set(reflect.MakeMap(t))
		for range g.r.IntN(5) {
			v.SetMapIndex(g.value(t.Key()), g.value(t.Elem()))
		}
	case reflect.Pointer:
		if !none {
			v.Set(reflect.New(t.Elem()))
			g.fill(v.Elem())
		}
	case reflect.Struct:
		for i := range t.NumField() {
			if f := v.Field(i); f.CanSet() {
				g.fill(f)
			} else if t.Field(i).Anonymous {
				g.fill(reflect.NewAt(f.Type(), f.Addr().UnsafePointer()).Elem())
			}
		}
	case reflect.Interface:
		choices := []any{nil, "text", int64(42), 3.5, []string{"a"}}
		if c := choices[g.r.IntN(len(choices))]; c != nil {
			v.Set(reflect.ValueOf(c))
		}
	}
}

func newRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

// equal compares decoded values: floats by bits (NaN, -0), times by instant, offset and UTC-ness,
// slices and maps including nil-ness.
func equal(a, b reflect.Value) bool {
	if a.Type() == reflect.TypeFor[time.Time]() {
		ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
		_, oa := ta.Zone()
		_, ob := tb.Zone()
		return ta.Equal(tb) && oa == ob && (ta.Location() == time.UTC) == (tb.Location() == time.UTC)
	}
	switch a.Kind() {
	case reflect.Float32, reflect.Float64:
		return math.Float64bits(a.Float()) == math.Float64bits(b.Float()) ||
			(a.Kind() == reflect.Float32 && math.Float32bits(float32(a.Float())) == math.Float32bits(float32(b.Float())))
	case reflect.Complex64, reflect.Complex128:
		return a.Complex() == b.Complex()
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		fallthrough
	case reflect.Array:
		for i := range a.Len() {
			if !equal(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for it := a.MapRange(); it.Next(); {
			bv := b.MapIndex(it.Key())
			if !bv.IsValid() || !equal(it.Value(), bv) {
				return false
			}
		}
		return true
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		if a.Kind() == reflect.Interface && a.Elem().Type() != b.Elem().Type() {
			return false
		}
		return equal(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).Name == "_" {
				continue
			}
			fa, fb := a.Field(i), b.Field(i)
			if !fa.CanInterface() {
				fa = reflect.NewAt(fa.Type(), fa.Addr().UnsafePointer()).Elem()
				fb = reflect.NewAt(fb.Type(), fb.Addr().UnsafePointer()).Elem()
			}
			if !equal(fa, fb) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

// gobEqual compares values decoded by gob, which decodes empty slices and maps as nil.
func gobEqual(a, b reflect.Value) bool {
	if (a.Kind() == reflect.Slice || a.Kind() == reflect.Map) && a.Len() == 0 {
		return b.Len() == 0
	}
	switch a.Kind() {
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !gobEqual(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return a.Elem().Type() == b.Elem().Type() && gobEqual(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !gobEqual(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	}
	return equal(a, b)
}

// roundTrip checks, for random values of T, that Decode(Append(v)) equals v, uses every byte
// and no more, and that every proper prefix of the encoding fails to decode.
func roundTrip[T any](t *testing.T, n int) { roundTripEq[T](t, n, equal) }

// roundTripEq is roundTrip with a comparison of its own.
func roundTripEq[T any](t *testing.T, n int, equal func(a, b reflect.Value) bool) {
	t.Helper()
	var zero T
	t.Run(fmt.Sprintf("%T", zero), func(t *testing.T) {
		c, err := codec.For[T]()
		if err != nil {
			t.Fatal(err)
		}
		g := &gen{r: newRand()}
		for i := range n {
			var v T
			if i > 0 { // the zero value first
				v = g.value(reflect.TypeFor[T]()).Interface().(T)
			}
			enc := c.Append([]byte("prefix"), v)[len("prefix"):]
			got, used, err := c.Decode(append(enc, "suffix"...))
			if err != nil {
				t.Fatalf("decoding %+v from %x: %v", v, enc, err)
			}
			if used != len(enc) {
				t.Fatalf("decoding %+v used %d bytes of %d", v, used, len(enc))
			}
			if !equal(reflect.ValueOf(&v).Elem(), reflect.ValueOf(&got).Elem()) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, v)
			}
			for j := range len(enc) {
				if _, _, err := c.Decode(enc[:j]); err == nil {
					t.Fatalf("decoded %d bytes of the %d of %+v", j, len(enc), v)
				} else if !errors.Is(err, codec.ErrTruncated) && !errors.Is(err, codec.ErrInvalid) {
					t.Fatalf("error %v wraps neither ErrTruncated nor ErrInvalid", err)
				}
			}
		}
	})
}

func TestRoundTrip(t *testing.T) {
	const n = 300
	roundTrip[bool](t, n)
	roundTrip[int](t, n)
	roundTrip[int8](t, n)
	roundTrip[int16](t, n)
	roundTrip[int32](t, n)
	roundTrip[int64](t, n)
	roundTrip[uint](t, n)
	roundTrip[uint8](t, n)
	roundTrip[uint16](t, n)
	roundTrip[uint32](t, n)
	roundTrip[uint64](t, n)
	roundTrip[uintptr](t, n)
	roundTrip[float32](t, n)
	roundTrip[float64](t, n)
	roundTrip[complex64](t, n)
	roundTrip[complex128](t, n)
	roundTrip[string](t, n)
	roundTrip[[]byte](t, n)
	roundTrip[Page](t, n)
	roundTrip[Count](t, n)
	roundTrip[Blob](t, n)
	roundTrip[Flag](t, n)
	roundTrip[time.Time](t, n)
	roundTrip[time.Duration](t, n)
	roundTrip[[4]int16](t, n)
	roundTrip[[3]byte](t, n)
	roundTrip[[]string](t, n)
	roundTrip[[][]byte](t, n)
	roundTrip[map[string]int64](t, n)
	roundTrip[map[Count][]Page](t, n)
	roundTrip[*int](t, n)
	roundTrip[**string](t, n)
	roundTrip[Inner](t, n)
	roundTrip[Everything](t, n)
	roundTrip[[]Everything](t, 50)
	roundTrip[Tree](t, n)
	roundTrip[netip.Addr](t, n)
	roundTrip[Small](t, n)
	roundTrip[Click](t, n)
	// gob does not tell nil from empty.
	roundTripEq[WithAny](t, 50, gobEqual)
	roundTripEq[[]any](t, 50, gobEqual)
	roundTrip[struct{}](t, 5)
	roundTrip[[]struct{}](t, 50)
}

func TestSpecialFloats(t *testing.T) {
	c := codec.MustFor[float64]()
	for _, f := range []float64{math.NaN(), math.Copysign(0, -1), math.Inf(-1)} {
		got, _, err := c.Decode(c.Append(nil, f))
		if err != nil || math.Float64bits(got) != math.Float64bits(f) {
			t.Fatalf("%v: got %v, %v", f, got, err)
		}
	}
}

func TestTimeZones(t *testing.T) {
	c := codec.MustFor[time.Time]()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	at := time.Date(2024, 7, 1, 12, 30, 0, 123, ny)
	got, _, err := c.Decode(c.Append(nil, at))
	if err != nil || !got.Equal(at) || got.Format(time.RFC3339Nano) != at.Format(time.RFC3339Nano) {
		t.Fatalf("got %v, %v; want %v", got, err, at)
	}
	local := time.Now().Round(0)
	got, _, _ = c.Decode(c.Append(nil, local))
	if got.Location() != time.Local || !got.Equal(local) {
		t.Fatalf("a local time decodes as %v in %v", got, got.Location())
	}
	withMono := time.Now()
	got, _, _ = c.Decode(c.Append(nil, withMono))
	if !got.Equal(withMono) {
		t.Fatal("the monotonic reading changed the instant")
	}
}

func TestDecodeErrors(t *testing.T) {
	type Pair struct {
		Name string
		Vals []int8
	}
	type S struct {
		Pairs []Pair
	}
	cS := codec.MustFor[S]()
	good := cS.Append(nil, S{Pairs: []Pair{{"a", []int8{1}}, {"b", []int8{2, 3}}}})
	cases := []struct {
		name    string
		decode  func() error
		wantErr error
		want    string
	}{
		{"bool", func() error { _, _, err := codec.MustFor[bool]().Decode([]byte{2}); return err },
			codec.ErrInvalid, "decoding bool at byte 0: invalid encoding: bool byte 2"},
		{"overflow", func() error { _, _, err := codec.MustFor[int8]().Decode(codec.AppendVarint(nil, 200)); return err },
			codec.ErrInvalid, "200 overflows int8"},
		{"uint overflow", func() error {
			_, _, err := codec.MustFor[Count]().Decode(codec.AppendVarint(nil, math.MaxInt64))
			return err
		}, codec.ErrInvalid, "overflows int32"},
		{"non-minimal varint", func() error { _, _, err := codec.MustFor[uint64]().Decode([]byte{0x81, 0x00}); return err },
			codec.ErrInvalid, "non-minimal varint"},
		{"long varint", func() error { _, _, err := codec.MustFor[uint64]().Decode(bytes.Repeat([]byte{0xff}, 11)); return err },
			codec.ErrInvalid, "overflows 64 bits"},
		{"empty", func() error { _, _, err := codec.MustFor[string]().Decode(nil); return err },
			codec.ErrTruncated, "truncated input: inside a varint"},
		{"string length", func() error { _, _, err := codec.MustFor[string]().Decode([]byte{10, 'a'}); return err },
			codec.ErrTruncated, "length 10, 1 bytes left"},
		{"path", func() error {
			bad := bytes.Clone(good)
			bad[len(bad)-1] = 0xff // the last int8: a varint cut short
			_, _, err := cS.Decode(bad)
			return err
		}, codec.ErrTruncated, "codec_test.S.Pairs[1].Vals[1] at byte 9"},
		{"huge slice", func() error {
			_, _, err := codec.MustFor[[]int64]().Decode(codec.AppendUvarint(nil, 1<<40))
			return err
		},
			codec.ErrInvalid, "length 1099511627775"},
		{"long slice", func() error {
			_, _, err := codec.MustFor[[]int64]().Decode(codec.AppendUvarint(nil, 1<<20))
			return err
		},
			codec.ErrInvalid, "1048575 elements cannot fit in the 0 bytes left"},
		{"huge map", func() error {
			_, _, err := codec.MustFor[map[string]string]().Decode(codec.AppendUvarint(nil, 1<<20))
			return err
		}, codec.ErrInvalid, "cannot fit"},
		{"presence byte", func() error { _, _, err := codec.MustFor[*int]().Decode([]byte{7}); return err },
			codec.ErrInvalid, "bool byte 7"},
		{"nanoseconds", func() error {
			b := codec.AppendUvarint(codec.AppendVarint(nil, 0), 2e9)
			_, _, err := codec.MustFor[time.Time]().Decode(append(b, 0))
			return err
		}, codec.ErrInvalid, "2000000000 nanoseconds"},
		{"zone", func() error {
			b := codec.AppendVarint(append(codec.AppendUvarint(codec.AppendVarint(nil, 0), 0), 1), 1e6)
			_, _, err := codec.MustFor[time.Time]().Decode(b)
			return err
		}, codec.ErrInvalid, "zone offset"},
		{"marshaler", func() error { _, _, err := codec.MustFor[netip.Addr]().Decode([]byte{3, 1, 2, 3}); return err },
			codec.ErrInvalid, "UnmarshalBinary"},
		{"gob", func() error { _, _, err := codec.MustFor[WithAny]().Decode([]byte{3, 1, 2, 3}); return err },
			codec.ErrInvalid, "gob"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.decode()
			var de *codec.DecodeError
			if !errors.Is(err, c.wantErr) || !errors.As(err, &de) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v: want %v containing %q", err, c.wantErr, c.want)
			}
		})
	}
}

// TestDeepInput checks that hostile nesting fails cleanly rather than exhausting the stack.
func TestDeepInput(t *testing.T) {
	type Nest struct{ Next *Nest }
	in := append(bytes.Repeat([]byte{1}, 3*codec.MaxDepth), 0)
	if _, _, err := codec.MustFor[Nest]().Decode(in); !errors.Is(err, codec.ErrInvalid) || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("decoding deep nesting: %v", err)
	}
	ok := append(bytes.Repeat([]byte{1}, codec.MaxDepth-1), 0)
	if _, n, err := codec.MustFor[Nest]().Decode(ok); err != nil || n != len(ok) {
		t.Fatalf("nesting within the limit: %d, %v", n, err)
	}
}

func TestCyclicValuePanics(t *testing.T) {
	type Node struct{ Next *Node }
	n := &Node{}
	n.Next = n
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "cyclic") {
			t.Fatalf("recovered %v", r)
		}
	}()
	codec.MustFor[Node]().Append(nil, *n)
}

type (
	hidden struct {
		Visible string
		secret  int //lint:ignore U1000 present on purpose: unexported fields are rejected
	}
	Outer struct {
		Name  string
		Inner struct{ Deep []hidden }
	}
	withChan struct{ C chan int }
	withFunc struct {
		F func()
	}
	gobHidden struct {
		V      any
		secret int //lint:ignore U1000 present on purpose: unexported fields are rejected
	}
)

func TestUnsupported(t *testing.T) {
	cases := []struct {
		name string
		err  func() error
		want string
	}{
		{"unexported", func() error { _, err := codec.For[hidden](); return err },
			"cannot encode codec_test.hidden: field codec_test.hidden.secret (int): unsupported type: the field is unexported"},
		{"nested unexported", func() error { _, err := codec.For[[]Outer](); return err },
			"field []codec_test.Outer[].Inner.Deep[].secret (int)"},
		{"chan", func() error { _, err := codec.For[withChan](); return err }, "codec_test.withChan.C (chan int): unsupported type: a chan"},
		{"func", func() error { _, err := codec.For[map[string]withFunc](); return err }, "[value].F (func()): unsupported type: a func"},
		{"gob unexported", func() error { _, err := codec.For[gobHidden](); return err }, "gob, which skips unexported fields"},
		{"gob chan", func() error {
			_, err := codec.For[struct {
				V any
				C chan int
			}]()
			return err
		}, "a chan cannot be encoded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.err()
			if !errors.Is(err, codec.ErrUnsupported) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Fatal("MustFor did not panic")
		}
	}()
	codec.MustFor[hidden]()
}

// Celsius has a registered codec: one byte, the temperature plus 100.
type Celsius struct{ deg int }

type celsiusCodec struct{}

func (celsiusCodec) Append(dst []byte, v Celsius) []byte { return append(dst, byte(v.deg+100)) }

func (celsiusCodec) Decode(src []byte) (Celsius, int, error) {
	if len(src) == 0 {
		return Celsius{}, 0, codec.ErrTruncated
	}
	return Celsius{int(src[0]) - 100}, 1, nil
}

func TestRegister(t *testing.T) {
	if _, err := codec.For[Celsius](); err == nil {
		t.Fatal("a struct with an unexported field was accepted before registration")
	}
	codec.Register[Celsius](celsiusCodec{})
	type Reading struct {
		Where string
		Temp  Celsius
		Hist  []Celsius
	}
	c := codec.MustFor[Reading]()
	in := Reading{"roof", Celsius{21}, []Celsius{{-5}, {30}}}
	enc := c.Append(nil, in)
	if !bytes.Equal(enc, []byte{4, 'r', 'o', 'o', 'f', 121, 3, 95, 130}) {
		t.Fatalf("encoding %v", enc)
	}
	got, _, err := c.Decode(enc)
	if err != nil || !reflect.DeepEqual(in, got) {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, _, err := c.Decode(enc[:5]); !errors.Is(err, codec.ErrTruncated) || !strings.Contains(err.Error(), ".Temp at byte 5") {
		t.Fatalf("a truncated registered value: %v", err)
	}
	top := codec.MustFor[Celsius]()
	if _, ok := top.(celsiusCodec); !ok {
		t.Fatalf("For returned %T, not the registered codec", top)
	}
}

// TestFormat pins the encodings the package comment documents.
func TestFormat(t *testing.T) {
	type S struct {
		A bool
		B int16
		C string
		D []uint16
		E *uint8
		F [2]byte
		G map[string]bool
	}
	five := uint8(5)
	cases := []struct {
		got, want []byte
	}{
		{codec.MustFor[int64]().Append(nil, -3), []byte{5}},
		{codec.MustFor[uint32]().Append(nil, 300), []byte{0xac, 0x02}},
		{codec.MustFor[float32]().Append(nil, 1), []byte{0, 0, 0x80, 0x3f}},
		{codec.MustFor[[]byte]().Append(nil, nil), []byte{0}},
		{codec.MustFor[[]byte]().Append(nil, []byte{}), []byte{1}},
		{codec.MustFor[[]byte]().Append(nil, []byte{200}), []byte{2, 200}},
		{codec.MustFor[time.Time]().Append(nil, time.Unix(-1, 5).UTC()), []byte{1, 5, 0}},
		{codec.MustFor[time.Time]().Append(nil, time.Unix(1, 0).In(time.FixedZone("", -3600))), []byte{2, 0, 1, 0x9f, 0x38}},
		{codec.MustFor[S]().Append(nil, S{true, -2, "hi", []uint16{1, 300}, &five, [2]byte{7, 8}, map[string]bool{"k": true}}),
			[]byte{1, 3, 2, 'h', 'i', 3, 1, 0xac, 0x02, 1, 5, 7, 8, 2, 1, 'k', 1}},
		{codec.MustFor[S]().Append(nil, S{}), []byte{0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for i, c := range cases {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("case %d: %x, want %x", i, c.got, c.want)
		}
	}
}

func TestHelpers(t *testing.T) {
	b := codec.AppendBytes(nil, []byte("abc"))
	b = codec.AppendString(b, "de")
	b = codec.AppendVarint(b, -70)
	b = codec.AppendUvarint(b, 70)
	got, n, err := codec.DecodeBytes(b)
	if err != nil || string(got) != "abc" || n != 4 {
		t.Fatal(got, n, err)
	}
	s, m, err := codec.DecodeString(b[n:])
	if err != nil || s != "de" || m != 3 {
		t.Fatal(s, m, err)
	}
	v, k, err := codec.DecodeVarint(b[n+m:])
	if err != nil || v != -70 || k != 2 {
		t.Fatal(v, k, err)
	}
	u, _, err := codec.DecodeUvarint(b[n+m+k:])
	if err != nil || u != 70 {
		t.Fatal(u, err)
	}
}

func TestConcurrentFor(t *testing.T) {
	done := make(chan codec.Codec[Everything])
	for range 8 {
		go func() { done <- codec.MustFor[Everything]() }()
	}
	for range 8 {
		c := <-done
		if _, _, err := c.Decode(c.Append(nil, Everything{S: "x"})); err != nil {
			t.Fatal(err)
		}
	}
}
