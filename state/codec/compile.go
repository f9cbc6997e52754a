package codec

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"
	"unsafe"
)

// typeCodec encodes and decodes the values of one type in place, through pointers to them. It is
// built once per type by reflection; encoding and decoding then use unsafe pointer arithmetic and
// no reflection, except for maps, marshalers and registered codecs.
type typeCodec struct {
	typ reflect.Type
	// enc appends the encoding of the value at p; depth counts the pointers, slices and maps
	// entered, to stop on a cyclic value.
	enc func(dst []byte, p unsafe.Pointer, depth int) []byte
	// dec decodes a value into the zero value at p.
	dec func(d *decoder, p unsafe.Pointer) error
	// min is the fewest bytes an encoded value takes (0 when unknown), to bound allocations.
	min int
}

// decoder is the state of one Decode.
type decoder struct {
	src   []byte
	off   int
	depth int
}

// rest returns the input not yet consumed.
func (d *decoder) rest() []byte { return d.src[d.off:] }

// fail returns err as a *DecodeError at the current offset.
func (d *decoder) fail(err error) error { return &DecodeError{Offset: d.off, Err: err} }

// enter counts one level of nesting on the way in, failing beyond MaxDepth.
func (d *decoder) enter() error {
	d.depth++
	if d.depth > MaxDepth {
		return d.fail(fmt.Errorf("%w: nested deeper than %d", ErrInvalid, MaxDepth))
	}
	return nil
}

// within prefixes the path of a *DecodeError from a part of the value.
func within(err error, part string) error {
	if de, ok := err.(*DecodeError); ok {
		de.Path = part + de.Path
	}
	return err
}

// noescape hides a pointer from escape analysis. The codecs call functions through variables,
// which escape analysis cannot see into, so without it every Append would move its argument to
// the heap; they do not retain the pointer. (The runtime's noescape, in a form go vet accepts.)
//
//go:nosplit
func noescape(p unsafe.Pointer) unsafe.Pointer {
	x := uintptr(p)
	return *(*unsafe.Pointer)(unsafe.Pointer(&x))
}

// compiled is the Codec of a T built by the compiler.
type compiled[T any] struct{ c *typeCodec }

func (c compiled[T]) Append(dst []byte, v T) []byte {
	return c.c.enc(dst, noescape(unsafe.Pointer(&v)), 0)
}

func (c compiled[T]) Decode(src []byte) (v T, n int, err error) {
	d := decoder{src: src}
	if err := c.c.dec((*decoder)(noescape(unsafe.Pointer(&d))), noescape(unsafe.Pointer(&v))); err != nil {
		var zero T
		return zero, 0, asDecodeError(err, c.c.typ, d.off)
	}
	return v, d.off, nil
}

var (
	timeType              = reflect.TypeFor[time.Time]()
	binaryMarshalerType   = reflect.TypeFor[encoding.BinaryMarshaler]()
	binaryUnmarshalerType = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	errNeedsGob           = errors.New("contains an interface")
)

// hasMarshaler reports whether values of t encode themselves with MarshalBinary.
func hasMarshaler(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return p.Implements(binaryMarshalerType) && p.Implements(binaryUnmarshalerType)
}

// special reports whether t has an encoding other than its kind's: registered, time.Time or
// MarshalBinary.
func special(t reflect.Type) bool {
	if _, ok := lookupRegistered(t); ok {
		return true
	}
	return t == timeType || hasMarshaler(t)
}

// compiler builds the typeCodecs of a type graph; codecs is keyed by type so that recursive types
// (through pointers, slices and maps) reuse the codec being built.
type compiler struct {
	codecs map[reflect.Type]*typeCodec
}

func newCompiler() *compiler { return &compiler{codecs: map[reflect.Type]*typeCodec{}} }

// compile returns the codec of t; path names t's place in the top type, for errors.
func (c *compiler) compile(t reflect.Type, path string) (*typeCodec, error) {
	if tc, ok := c.codecs[t]; ok {
		return tc, nil // built, or being built higher up: filled in by the time it runs
	}
	if r, ok := lookupRegistered(t); ok {
		return r.tc, nil
	}
	tc := &typeCodec{typ: t}
	c.codecs[t] = tc
	var err error
	switch {
	case t == timeType:
		tc.enc, tc.dec, tc.min = appendTime, decodeTime, 3
	case hasMarshaler(t):
		marshalerCodec(tc)
	default:
		err = c.byKind(tc, path)
	}
	if err != nil {
		delete(c.codecs, t)
		return nil, err
	}
	return tc, nil
}

func (c *compiler) byKind(tc *typeCodec, path string) error {
	t := tc.typ
	switch t.Kind() {
	case reflect.Bool:
		prim(tc, 1, appendBool, decodeBool)
	case reflect.Int:
		intCodec[int](tc)
	case reflect.Int8:
		intCodec[int8](tc)
	case reflect.Int16:
		intCodec[int16](tc)
	case reflect.Int32:
		intCodec[int32](tc)
	case reflect.Int64:
		intCodec[int64](tc)
	case reflect.Uint:
		uintCodec[uint](tc)
	case reflect.Uint8:
		uintCodec[uint8](tc)
	case reflect.Uint16:
		uintCodec[uint16](tc)
	case reflect.Uint32:
		uintCodec[uint32](tc)
	case reflect.Uint64:
		uintCodec[uint64](tc)
	case reflect.Uintptr:
		uintCodec[uintptr](tc)
	case reflect.Float32:
		prim(tc, 4, appendFloat32, decodeFloat32)
	case reflect.Float64:
		prim(tc, 8, appendFloat64, decodeFloat64)
	case reflect.Complex64:
		prim(tc, 8, func(dst []byte, c complex64) []byte {
			return appendFloat32(appendFloat32(dst, real(c)), imag(c))
		}, decodeComplex64)
	case reflect.Complex128:
		prim(tc, 16, func(dst []byte, c complex128) []byte {
			return appendFloat64(appendFloat64(dst, real(c)), imag(c))
		}, decodeComplex128)
	case reflect.String:
		prim(tc, 1, AppendString, DecodeString)
	case reflect.Array:
		return c.array(tc, path)
	case reflect.Slice:
		return c.slice(tc, path)
	case reflect.Map:
		return c.mapCodec(tc, path)
	case reflect.Pointer:
		return c.pointer(tc, path)
	case reflect.Struct:
		return c.structCodec(tc, path)
	case reflect.Interface:
		return errNeedsGob
	default: // Chan, Func, UnsafePointer
		return fmt.Errorf("%s (%v): %w: a %v cannot be encoded", path, t, ErrUnsupported, t.Kind())
	}
	return nil
}

// prim fills tc for a value of memory type P.
func prim[P any](tc *typeCodec, min int, app func([]byte, P) []byte, dec func([]byte) (P, int, error)) {
	tc.min = min
	tc.enc = func(dst []byte, p unsafe.Pointer, _ int) []byte { return app(dst, *(*P)(p)) }
	tc.dec = func(d *decoder, p unsafe.Pointer) error {
		v, n, err := dec(d.rest())
		if err != nil {
			return d.fail(err)
		}
		*(*P)(p) = v
		d.off += n
		return nil
	}
}

func intCodec[I signed](tc *typeCodec) {
	prim(tc, 1, func(dst []byte, v I) []byte { return AppendVarint(dst, int64(v)) }, decodeInt[I])
}

func uintCodec[U unsigned](tc *typeCodec) {
	prim(tc, 1, func(dst []byte, v U) []byte { return AppendUvarint(dst, uint64(v)) }, decodeUint[U])
}

// isBytes reports whether t, an element type, is a plain byte, encoded raw in slices and arrays.
func isBytes(t reflect.Type) bool { return t.Kind() == reflect.Uint8 && !special(t) }

func (c *compiler) array(tc *typeCodec, path string) error {
	t := tc.typ
	n := t.Len()
	if isBytes(t.Elem()) {
		tc.min = n
		tc.enc = func(dst []byte, p unsafe.Pointer, _ int) []byte {
			return append(dst, unsafe.Slice((*byte)(p), n)...)
		}
		tc.dec = func(d *decoder, p unsafe.Pointer) error {
			if len(d.rest()) < n {
				return d.fail(fmt.Errorf("%w: [%d]byte, %d bytes left", ErrTruncated, n, len(d.rest())))
			}
			d.off += copy(unsafe.Slice((*byte)(p), n), d.rest())
			return nil
		}
		return nil
	}
	elem, err := c.compile(t.Elem(), path+"[]")
	if err != nil {
		return err
	}
	size := t.Elem().Size()
	tc.min = n * elem.min
	tc.enc = func(dst []byte, p unsafe.Pointer, depth int) []byte {
		for i := range n {
			dst = elem.enc(dst, unsafe.Add(p, uintptr(i)*size), depth)
		}
		return dst
	}
	tc.dec = func(d *decoder, p unsafe.Pointer) error {
		for i := range n {
			if err := elem.dec(d, unsafe.Add(p, uintptr(i)*size)); err != nil {
				return within(err, "["+strconv.Itoa(i)+"]")
			}
		}
		return nil
	}
	return nil
}

// sliceHeader is the memory layout of a slice.
type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

// maxCount bounds the number of elements of a slice or map decoded from rest: each takes at least
// min bytes; elements that may take none are limited by memory (16 MiB).
func maxCount(rest, min int, size uintptr) int {
	switch {
	case min > 0:
		return rest / min
	case size == 0:
		return 1 << 31
	}
	return int(16 << 20 / size)
}

func (c *compiler) slice(tc *typeCodec, path string) error {
	t := tc.typ
	tc.min = 1
	if isBytes(t.Elem()) {
		tc.enc = func(dst []byte, p unsafe.Pointer, _ int) []byte {
			return appendNilableBytes(dst, *(*[]byte)(p))
		}
		tc.dec = func(d *decoder, p unsafe.Pointer) error {
			b, n, err := decodeNilableBytes(d.rest())
			if err != nil {
				return d.fail(err)
			}
			*(*[]byte)(p) = b
			d.off += n
			return nil
		}
		return nil
	}
	elem, err := c.compile(t.Elem(), path+"[]")
	if err != nil {
		return err
	}
	size := t.Elem().Size()
	tc.enc = func(dst []byte, p unsafe.Pointer, depth int) []byte {
		h := (*sliceHeader)(p)
		if h.data == nil {
			return append(dst, 0)
		}
		depth = deeper(depth, t)
		dst = AppendUvarint(dst, uint64(h.len)+1)
		for i := range h.len {
			dst = elem.enc(dst, unsafe.Add(h.data, uintptr(i)*size), depth)
		}
		return dst
	}
	tc.dec = func(d *decoder, p unsafe.Pointer) error {
		n, used, err := decodeLength(d.rest())
		if err != nil {
			return d.fail(err)
		}
		if n < 0 {
			d.off += used
			return nil
		}
		if limit := maxCount(len(d.rest())-used, elem.min, size); n > limit {
			return d.fail(fmt.Errorf("%w: %d elements cannot fit in the %d bytes left", ErrInvalid, n, len(d.rest())-used))
		}
		if err := d.enter(); err != nil {
			return err
		}
		d.off += used
		s := reflect.MakeSlice(t, n, n)
		data := s.UnsafePointer()
		for i := range n {
			if err := elem.dec(d, unsafe.Add(data, uintptr(i)*size)); err != nil {
				return within(err, "["+strconv.Itoa(i)+"]")
			}
		}
		*(*sliceHeader)(p) = sliceHeader{data: data, len: n, cap: n}
		d.depth--
		return nil
	}
	return nil
}

// deeper counts one more level of nesting in Append, panicking on a probable cycle.
func deeper(depth int, t reflect.Type) int {
	if depth++; depth > MaxDepth {
		panic(fmt.Sprintf("codec: encoding %v: nested deeper than %d (is the value cyclic?)", t, MaxDepth))
	}
	return depth
}

func (c *compiler) pointer(tc *typeCodec, path string) error {
	t := tc.typ
	elem, err := c.compile(t.Elem(), "(*"+path+")")
	if err != nil {
		return err
	}
	tc.min = 1
	tc.enc = func(dst []byte, p unsafe.Pointer, depth int) []byte {
		q := *(*unsafe.Pointer)(p)
		if q == nil {
			return append(dst, 0)
		}
		return elem.enc(append(dst, 1), q, deeper(depth, t))
	}
	tc.dec = func(d *decoder, p unsafe.Pointer) error {
		present, n, err := decodeBool(d.rest())
		if err != nil {
			return d.fail(err)
		}
		d.off += n
		if !present {
			return nil
		}
		if err := d.enter(); err != nil {
			return err
		}
		q := reflect.New(t.Elem()).UnsafePointer()
		if err := elem.dec(d, q); err != nil {
			return err
		}
		*(*unsafe.Pointer)(p) = q
		d.depth--
		return nil
	}
	return nil
}

func (c *compiler) mapCodec(tc *typeCodec, path string) error {
	t := tc.typ
	key, err := c.compile(t.Key(), path+"[key]")
	if err != nil {
		return err
	}
	val, err := c.compile(t.Elem(), path+"[value]")
	if err != nil {
		return err
	}
	tc.min = 1
	tc.enc = func(dst []byte, p unsafe.Pointer, depth int) []byte {
		m := reflect.NewAt(t, p).Elem()
		if m.IsNil() {
			return append(dst, 0)
		}
		depth = deeper(depth, t)
		dst = AppendUvarint(dst, uint64(m.Len())+1)
		k, v := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
		for it := m.MapRange(); it.Next(); {
			k.SetIterKey(it)
			v.SetIterValue(it)
			dst = key.enc(dst, k.Addr().UnsafePointer(), depth)
			dst = val.enc(dst, v.Addr().UnsafePointer(), depth)
		}
		return dst
	}
	tc.dec = func(d *decoder, p unsafe.Pointer) error {
		n, used, err := decodeLength(d.rest())
		if err != nil {
			return d.fail(err)
		}
		if n < 0 {
			d.off += used
			return nil
		}
		if limit := maxCount(len(d.rest())-used, key.min+val.min, t.Key().Size()+t.Elem().Size()); n > limit {
			return d.fail(fmt.Errorf("%w: %d entries cannot fit in the %d bytes left", ErrInvalid, n, len(d.rest())-used))
		}
		if err := d.enter(); err != nil {
			return err
		}
		d.off += used
		m := reflect.MakeMapWithSize(t, n)
		for i := range n {
			k, v := reflect.New(t.Key()), reflect.New(t.Elem())
			if err := key.dec(d, k.UnsafePointer()); err != nil {
				return within(err, "[key #"+strconv.Itoa(i)+"]")
			}
			if err := val.dec(d, v.UnsafePointer()); err != nil {
				return within(err, "[value #"+strconv.Itoa(i)+"]")
			}
			m.SetMapIndex(k.Elem(), v.Elem())
		}
		reflect.NewAt(t, p).Elem().Set(m)
		d.depth--
		return nil
	}
	return nil
}

// field is a struct field with its codec.
type field struct {
	name string
	off  uintptr
	c    *typeCodec
}

func (c *compiler) structCodec(tc *typeCodec, path string) error {
	t := tc.typ
	var fields []field
	for i := range t.NumField() {
		f := t.Field(i)
		fpath := path + "." + f.Name
		switch {
		case f.Name == "_":
			continue
		case !f.IsExported() && !(f.Anonymous && f.Type.Kind() == reflect.Struct):
			return fmt.Errorf("field %s (%v): %w: the field is unexported: export it, implement "+
				"encoding.BinaryMarshaler, or Register a codec for %v", fpath, f.Type, ErrUnsupported, t)
		}
		fc, err := c.compile(f.Type, fpath)
		if err != nil {
			return err
		}
		fields = append(fields, field{name: f.Name, off: f.Offset, c: fc})
		tc.min += fc.min
	}
	tc.enc = func(dst []byte, p unsafe.Pointer, depth int) []byte {
		for _, f := range fields {
			dst = f.c.enc(dst, unsafe.Add(p, f.off), depth)
		}
		return dst
	}
	tc.dec = func(d *decoder, p unsafe.Pointer) error {
		for _, f := range fields {
			if err := f.c.dec(d, unsafe.Add(p, f.off)); err != nil {
				return within(err, "."+f.name)
			}
		}
		return nil
	}
	return nil
}

// marshalerCodec fills tc for a type encoded by its MarshalBinary, length-prefixed.
func marshalerCodec(tc *typeCodec) {
	t := tc.typ
	tc.min = 1
	tc.enc = func(dst []byte, p unsafe.Pointer, _ int) []byte {
		b, err := reflect.NewAt(t, p).Interface().(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			panic(fmt.Errorf("codec: encoding %v: %w", t, err))
		}
		return AppendBytes(dst, b)
	}
	tc.dec = func(d *decoder, p unsafe.Pointer) error {
		b, n, err := DecodeBytes(d.rest())
		if err != nil {
			return d.fail(err)
		}
		if err := reflect.NewAt(t, p).Interface().(encoding.BinaryUnmarshaler).UnmarshalBinary(b); err != nil {
			return d.fail(fmt.Errorf("%w: UnmarshalBinary: %w", ErrInvalid, err))
		}
		d.off += n
		return nil
	}
}

// registeredCodec wraps a registered Codec[T] for use inside other types.
func registeredCodec[T any](t reflect.Type, c Codec[T]) *typeCodec {
	return &typeCodec{typ: t,
		enc: func(dst []byte, p unsafe.Pointer, _ int) []byte { return c.Append(dst, *(*T)(p)) },
		dec: func(d *decoder, p unsafe.Pointer) error {
			v, n, err := c.Decode(d.rest())
			if err != nil {
				if de, ok := err.(*DecodeError); ok { // from another codec of this package
					return &DecodeError{Offset: d.off + de.Offset, Path: de.Path, Err: de.Err}
				}
				if errors.Is(err, ErrTruncated) || errors.Is(err, ErrInvalid) {
					return d.fail(err)
				}
				return d.fail(fmt.Errorf("%w: %w", ErrInvalid, err))
			}
			if n < 0 || n > len(d.rest()) {
				return d.fail(fmt.Errorf("%w: the codec of %v reports %d bytes used of %d", ErrInvalid, t, n, len(d.rest())))
			}
			*(*T)(p) = v
			d.off += n
			return nil
		},
	}
}
