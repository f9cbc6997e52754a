package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"unsafe"
)

// AppendUvarint appends v as an unsigned varint (encoding/binary's format).
func AppendUvarint(dst []byte, v uint64) []byte { return binary.AppendUvarint(dst, v) }

// DecodeUvarint decodes an unsigned varint from the start of src and reports the bytes used. It
// rejects non-minimal encodings (ErrInvalid) and input that ends inside one (ErrTruncated).
func DecodeUvarint(src []byte) (v uint64, n int, err error) {
	v, n = binary.Uvarint(src)
	switch {
	case n == 0:
		return 0, 0, fmt.Errorf("%w: inside a varint", ErrTruncated)
	case n < 0:
		return 0, 0, fmt.Errorf("%w: varint overflows 64 bits", ErrInvalid)
	case n > 1 && src[n-1] == 0:
		return 0, 0, fmt.Errorf("%w: non-minimal varint", ErrInvalid)
	}
	return v, n, nil
}

// AppendVarint appends v as a zigzag varint (encoding/binary's format): small magnitudes, of
// either sign, take few bytes.
func AppendVarint(dst []byte, v int64) []byte { return binary.AppendVarint(dst, v) }

// DecodeVarint decodes a zigzag varint from the start of src, like DecodeUvarint.
func DecodeVarint(src []byte) (v int64, n int, err error) {
	u, n, err := DecodeUvarint(src)
	v = int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v, n, err
}

// AppendBytes appends b prefixed with its length as a uvarint.
func AppendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// DecodeBytes decodes a length-prefixed byte string from the start of src, as AppendBytes wrote
// it. b aliases src: copy it to keep it beyond src's life.
func DecodeBytes(src []byte) (b []byte, n int, err error) {
	l, n, err := DecodeUvarint(src)
	if err != nil {
		return nil, 0, err
	}
	if l > uint64(len(src)-n) {
		return nil, 0, fmt.Errorf("%w: length %d, %d bytes left", ErrTruncated, l, len(src)-n)
	}
	end := n + int(l)
	return src[n:end:end], end, nil
}

// AppendString appends s prefixed with its length as a uvarint.
func AppendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// DecodeString decodes a length-prefixed string from the start of src, as AppendString wrote it.
// The string is a copy.
func DecodeString(src []byte) (s string, n int, err error) {
	b, n, err := DecodeBytes(src)
	return string(b), n, err
}

// appendNilableBytes appends a []byte as a slice: uvarint of length+1, 0 for nil.
func appendNilableBytes(dst, b []byte) []byte {
	if b == nil {
		return append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(b))+1)
	return append(dst, b...)
}

// decodeNilableBytes is the inverse of appendNilableBytes; the result is a copy.
func decodeNilableBytes(src []byte) ([]byte, int, error) {
	l, n, err := decodeLength(src)
	if err != nil || l < 0 {
		return nil, n, err
	}
	if l > len(src)-n {
		return nil, 0, fmt.Errorf("%w: length %d, %d bytes left", ErrTruncated, l, len(src)-n)
	}
	b := make([]byte, l)
	copy(b, src[n:])
	return b, n + l, nil
}

// decodeLength decodes the length of a slice or map: -1 for nil.
func decodeLength(src []byte) (int, int, error) {
	u, n, err := DecodeUvarint(src)
	if err != nil {
		return 0, 0, err
	}
	if u > math.MaxInt32 { // no slice that long fits in the input either
		return 0, 0, fmt.Errorf("%w: length %d", ErrInvalid, u-1)
	}
	return int(u) - 1, n, nil
}

func decodeBool(src []byte) (bool, int, error) {
	if len(src) == 0 {
		return false, 0, fmt.Errorf("%w: bool", ErrTruncated)
	}
	switch src[0] {
	case 0:
		return false, 1, nil
	case 1:
		return true, 1, nil
	}
	return false, 0, fmt.Errorf("%w: bool byte %d", ErrInvalid, src[0])
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

type signed interface {
	int | int8 | int16 | int32 | int64
}

type unsigned interface {
	uint | uint8 | uint16 | uint32 | uint64 | uintptr
}

func decodeInt[I signed](src []byte) (I, int, error) {
	x, n, err := DecodeVarint(src)
	if err != nil {
		return 0, 0, err
	}
	if int64(I(x)) != x {
		return 0, 0, fmt.Errorf("%w: %d overflows %T", ErrInvalid, x, I(0))
	}
	return I(x), n, nil
}

func decodeUint[U unsigned](src []byte) (U, int, error) {
	x, n, err := DecodeUvarint(src)
	if err != nil {
		return 0, 0, err
	}
	if uint64(U(x)) != x {
		return 0, 0, fmt.Errorf("%w: %d overflows %T", ErrInvalid, x, U(0))
	}
	return U(x), n, nil
}

func appendFloat32(dst []byte, f float32) []byte {
	return binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
}

func appendFloat64(dst []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
}

func decodeFloat32(src []byte) (float32, int, error) {
	if len(src) < 4 {
		return 0, 0, fmt.Errorf("%w: float32 needs 4 bytes, %d left", ErrTruncated, len(src))
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(src)), 4, nil
}

func decodeFloat64(src []byte) (float64, int, error) {
	if len(src) < 8 {
		return 0, 0, fmt.Errorf("%w: float64 needs 8 bytes, %d left", ErrTruncated, len(src))
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(src)), 8, nil
}

func decodeComplex64(src []byte) (complex64, int, error) {
	if len(src) < 8 {
		return 0, 0, fmt.Errorf("%w: complex64 needs 8 bytes, %d left", ErrTruncated, len(src))
	}
	re, _, _ := decodeFloat32(src)
	im, _, _ := decodeFloat32(src[4:])
	return complex(re, im), 8, nil
}

func decodeComplex128(src []byte) (complex128, int, error) {
	if len(src) < 16 {
		return 0, 0, fmt.Errorf("%w: complex128 needs 16 bytes, %d left", ErrTruncated, len(src))
	}
	re, _, _ := decodeFloat64(src)
	im, _, _ := decodeFloat64(src[8:])
	return complex(re, im), 16, nil
}

// topError makes err, from decoding a T, a *DecodeError.
func topError[T any](err error) error {
	return asDecodeError(err, reflect.TypeFor[T](), 0)
}

// asDecodeError returns err as a *DecodeError for type t, at offset off unless it has one.
func asDecodeError(err error, t reflect.Type, off int) *DecodeError {
	if de, ok := err.(*DecodeError); ok {
		if de.Type == nil {
			de.Type = t
		}
		return de
	}
	return &DecodeError{Type: t, Offset: off, Err: err}
}

// The codecs below serve a T whose kind is a primitive, without reflection or indirection: T's
// memory is that of the primitive type they name (For checks the kind).

type boolFast[T any] struct{}

func (boolFast[T]) Append(dst []byte, v T) []byte {
	return appendBool(dst, *(*bool)(unsafe.Pointer(&v)))
}

func (boolFast[T]) Decode(src []byte) (v T, n int, err error) {
	b, n, err := decodeBool(src)
	if err != nil {
		return v, 0, topError[T](err)
	}
	*(*bool)(unsafe.Pointer(&v)) = b
	return v, n, nil
}

type intFast[T any, I signed] struct{}

func (intFast[T, I]) Append(dst []byte, v T) []byte {
	return binary.AppendVarint(dst, int64(*(*I)(unsafe.Pointer(&v))))
}

func (intFast[T, I]) Decode(src []byte) (v T, n int, err error) {
	x, n, err := decodeInt[I](src)
	if err != nil {
		return v, 0, topError[T](err)
	}
	*(*I)(unsafe.Pointer(&v)) = x
	return v, n, nil
}

type uintFast[T any, U unsigned] struct{}

func (uintFast[T, U]) Append(dst []byte, v T) []byte {
	return binary.AppendUvarint(dst, uint64(*(*U)(unsafe.Pointer(&v))))
}

func (uintFast[T, U]) Decode(src []byte) (v T, n int, err error) {
	x, n, err := decodeUint[U](src)
	if err != nil {
		return v, 0, topError[T](err)
	}
	*(*U)(unsafe.Pointer(&v)) = x
	return v, n, nil
}

type float32Fast[T any] struct{}

func (float32Fast[T]) Append(dst []byte, v T) []byte {
	return appendFloat32(dst, *(*float32)(unsafe.Pointer(&v)))
}

func (float32Fast[T]) Decode(src []byte) (v T, n int, err error) {
	f, n, err := decodeFloat32(src)
	if err != nil {
		return v, 0, topError[T](err)
	}
	*(*float32)(unsafe.Pointer(&v)) = f
	return v, n, nil
}

type float64Fast[T any] struct{}

func (float64Fast[T]) Append(dst []byte, v T) []byte {
	return appendFloat64(dst, *(*float64)(unsafe.Pointer(&v)))
}

func (float64Fast[T]) Decode(src []byte) (v T, n int, err error) {
	f, n, err := decodeFloat64(src)
	if err != nil {
		return v, 0, topError[T](err)
	}
	*(*float64)(unsafe.Pointer(&v)) = f
	return v, n, nil
}

type complex64Fast[T any] struct{}

func (complex64Fast[T]) Append(dst []byte, v T) []byte {
	c := *(*complex64)(unsafe.Pointer(&v))
	return appendFloat32(appendFloat32(dst, real(c)), imag(c))
}

func (complex64Fast[T]) Decode(src []byte) (v T, n int, err error) {
	c, n, err := decodeComplex64(src)
	if err != nil {
		return v, 0, topError[T](err)
	}
	*(*complex64)(unsafe.Pointer(&v)) = c
	return v, n, nil
}

type complex128Fast[T any] struct{}

func (complex128Fast[T]) Append(dst []byte, v T) []byte {
	c := *(*complex128)(unsafe.Pointer(&v))
	return appendFloat64(appendFloat64(dst, real(c)), imag(c))
}

func (complex128Fast[T]) Decode(src []byte) (v T, n int, err error) {
	c, n, err := decodeComplex128(src)
	if err != nil {
		return v, 0, topError[T](err)
	}
	*(*complex128)(unsafe.Pointer(&v)) = c
	return v, n, nil
}

type stringFast[T any] struct{}

func (stringFast[T]) Append(dst []byte, v T) []byte {
	return AppendString(dst, *(*string)(unsafe.Pointer(&v)))
}

func (stringFast[T]) Decode(src []byte) (v T, n int, err error) {
	s, n, err := DecodeString(src)
	if err != nil {
		return v, 0, topError[T](err)
	}
	*(*string)(unsafe.Pointer(&v)) = s
	return v, n, nil
}

type bytesFast[T any] struct{}

func (bytesFast[T]) Append(dst []byte, v T) []byte {
	return appendNilableBytes(dst, *(*[]byte)(unsafe.Pointer(&v)))
}

func (bytesFast[T]) Decode(src []byte) (v T, n int, err error) {
	b, n, err := decodeNilableBytes(src)
	if err != nil {
		return v, 0, topError[T](err)
	}
	*(*[]byte)(unsafe.Pointer(&v)) = b
	return v, n, nil
}

// fastCodec returns a reflection-free codec for a T of a primitive kind (or a slice of bytes)
// that has no encoding of its own, or nil.
func fastCodec[T any](t reflect.Type) Codec[T] {
	if special(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return boolFast[T]{}
	case reflect.Int:
		return intFast[T, int]{}
	case reflect.Int8:
		return intFast[T, int8]{}
	case reflect.Int16:
		return intFast[T, int16]{}
	case reflect.Int32:
		return intFast[T, int32]{}
	case reflect.Int64:
		return intFast[T, int64]{}
	case reflect.Uint:
		return uintFast[T, uint]{}
	case reflect.Uint8:
		return uintFast[T, uint8]{}
	case reflect.Uint16:
		return uintFast[T, uint16]{}
	case reflect.Uint32:
		return uintFast[T, uint32]{}
	case reflect.Uint64:
		return uintFast[T, uint64]{}
	case reflect.Uintptr:
		return uintFast[T, uintptr]{}
	case reflect.Float32:
		return float32Fast[T]{}
	case reflect.Float64:
		return float64Fast[T]{}
	case reflect.Complex64:
		return complex64Fast[T]{}
	case reflect.Complex128:
		return complex128Fast[T]{}
	case reflect.String:
		return stringFast[T]{}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !special(t.Elem()) {
			return bytesFast[T]{}
		}
	}
	return nil
}
