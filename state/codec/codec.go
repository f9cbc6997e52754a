// Package codec encodes state values and keys to bytes and back, for state backends that store
// bytes (Pebble) and for checkpoints of the memory backend.
//
// For[T] picks a codec once, by type, and its Append does not allocate when dst has room:
//
//	c := codec.MustFor[Click]()
//	buf = c.Append(buf[:0], click)
//	click, n, err := c.Decode(buf)
//
// # Types
//
// In order of precedence:
//
//   - a type with a codec registered by Register uses it;
//   - time.Time (see below);
//   - a type whose pointer implements encoding.BinaryMarshaler and encoding.BinaryUnmarshaler
//     is encoded by them, length-prefixed (this allocates; an error of MarshalBinary makes Append
//     panic, since Append cannot return one);
//   - bool, all integer kinds, float32/64, complex64/128, string, and arrays, slices, maps,
//     pointers and structs of encodable types, recursively, are encoded natively, described below;
//   - a type that contains an interface (any, error …) anywhere is encoded whole with
//     encoding/gob, length-prefixed. This is much slower and larger (every value carries gob's type
//     description), gob's rules apply (concrete types behind interfaces must be gob.Register-ed,
//     nil and empty slices and maps decode alike, a pointer to a zero value decodes as nil), and
//     an encoding error makes Append panic.
//
// For reports an error, naming the type and the field, for a type it cannot encode without
// losing data: a struct with an unexported field (export it, implement encoding.BinaryMarshaler,
// or Register a codec), a channel, a function or an unsafe.Pointer. Blank (_) fields are skipped;
// an embedded struct of an unexported type is encoded like any field.
//
// # Encoding
//
// Native encodings carry no type information and no field names: a value must be decoded as the
// type it was encoded as. Adding, removing or reordering struct fields changes the format, so
// state that must survive such a change needs a registered codec that versions it.
//
//   - bool: one byte, 0 or 1.
//   - int, int8 … int64 (and time.Duration): zigzag varint (encoding/binary.AppendVarint).
//   - uint, uint8 … uint64, uintptr: uvarint. Decoding rejects non-minimal varints and values
//     that overflow the type.
//   - float32, float64: the IEEE 754 bits, 4 or 8 bytes, little-endian; complex: real then
//     imaginary part.
//   - string: uvarint length, then the bytes.
//   - slice and map: uvarint of length+1, 0 meaning nil; then the elements, or each key
//     followed by its value. Map entries come in Go's iteration order, so equal maps may encode
//     differently: do not use maps inside keys.
//   - array: the elements, no length.
//   - in slices and arrays, elements of kind uint8 (byte) are raw bytes: []byte is its length+1
//     and its bytes.
//   - pointer: 0 for nil, or 1 and the pointed-to value. Values must not contain cycles:
//     encoding panics beyond MaxDepth nested pointers, slices and maps.
//   - struct: the fields in declaration order.
//   - time.Time: zigzag varint of Unix seconds, uvarint of nanoseconds, then 0 for UTC or 1 and a
//     zigzag varint of the zone offset in seconds. Like Time.MarshalBinary, it keeps the instant
//     and the offset, not the location's name nor the monotonic clock reading; a time whose offset
//     matches time.Local at that instant decodes in time.Local.
//
// Varint encodings do not sort like the numbers they encode: byte order is not value order.
package codec

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
)

// Codec encodes and decodes values of type T. Codecs returned by For are safe for concurrent use
// and hold no state.
type Codec[T any] interface {
	// Append appends the encoding of v to dst and returns the extended slice.
	Append(dst []byte, v T) []byte
	// Decode decodes one value from the start of src and reports the number of bytes it used.
	// Bytes after the value are left alone. Errors are *DecodeError, wrapping ErrTruncated or
	// ErrInvalid. The value does not alias src.
	Decode(src []byte) (v T, n int, err error)
}

// MaxDepth bounds the nesting of pointers, slices and maps in a value: beyond it, Append panics
// (the value probably has a cycle) and Decode fails, so hostile input cannot exhaust the stack.
const MaxDepth = 10_000

var (
	// ErrTruncated reports input that ends inside a value.
	ErrTruncated = errors.New("truncated input")
	// ErrInvalid reports bytes that are not a valid encoding: a boolean or presence byte other
	// than 0 or 1, a non-minimal or overflowing varint, an integer out of its type's range, a
	// length beyond the input, nesting beyond MaxDepth, or data a registered codec, an
	// UnmarshalBinary method or gob rejected.
	ErrInvalid = errors.New("invalid encoding")
	// ErrUnsupported reports a type For cannot encode.
	ErrUnsupported = errors.New("unsupported type")
)

// DecodeError reports why Decode failed and where.
type DecodeError struct {
	// Type is the type being decoded.
	Type reflect.Type
	// Path locates the failing part of the value, such as ".Items[2].Name"; empty for the value
	// itself.
	Path string
	// Offset is the position in the input where the failing part starts or the problem was
	// found.
	Offset int
	// Err says what went wrong; it wraps ErrTruncated or ErrInvalid.
	Err error
}

// Error formats the error as "codec: decoding T.Path at byte N: reason".
func (e *DecodeError) Error() string {
	return fmt.Sprintf("codec: decoding %v%s at byte %d: %v", e.Type, e.Path, e.Offset, e.Err)
}

// Unwrap returns e.Err.
func (e *DecodeError) Unwrap() error { return e.Err }

// registry holds the codecs passed to Register, and cache the codecs built by For.
var (
	registryMu sync.Mutex
	registry   = map[reflect.Type]registered{}
	cache      sync.Map // reflect.Type → Codec[T] for that T
)

type registered struct {
	codec any        // Codec[T]
	tc    *typeCodec // the same codec, for use inside other types
}

// Register makes c the codec of T, for For[T] and wherever T appears inside another type (a
// field, an element). It replaces an earlier registration. Register before any For that needs it
// (in an init function): codecs already returned keep the encoding they were built with.
func Register[T any](c Codec[T]) {
	t := reflect.TypeFor[T]()
	registryMu.Lock()
	defer registryMu.Unlock()
	registry[t] = registered{codec: c, tc: registeredCodec(t, c)}
	cache.Clear()
}

func lookupRegistered(t reflect.Type) (registered, bool) {
	registryMu.Lock()
	defer registryMu.Unlock()
	r, ok := registry[t]
	return r, ok
}

// For returns the codec of T, chosen once per type as the package comment describes. It reports
// an error wrapping ErrUnsupported, naming the type and the offending field, when T cannot be
// encoded without losing data.
func For[T any]() (Codec[T], error) {
	t := reflect.TypeFor[T]()
	if c, ok := cache.Load(t); ok {
		return c.(Codec[T]), nil
	}
	c, err := build[T](t)
	if err != nil {
		return nil, err
	}
	actual, _ := cache.LoadOrStore(t, c)
	return actual.(Codec[T]), nil
}

// MustFor is like For but panics when T cannot be encoded; for package-level variables and
// types known to be supported.
func MustFor[T any]() Codec[T] {
	c, err := For[T]()
	if err != nil {
		panic(err)
	}
	return c
}

// build chooses the codec of T.
func build[T any](t reflect.Type) (Codec[T], error) {
	if r, ok := lookupRegistered(t); ok {
		return r.codec.(Codec[T]), nil
	}
	if c := fastCodec[T](t); c != nil {
		return c, nil
	}
	tc, err := newCompiler().compile(t, t.String())
	if errors.Is(err, errNeedsGob) {
		if err := gobCheck(t, t.String(), map[reflect.Type]bool{}); err != nil {
			return nil, fmt.Errorf("codec: cannot encode %v: %w", t, err)
		}
		return gobCodec[T]{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("codec: cannot encode %v: %w", t, err)
	}
	return compiled[T]{tc}, nil
}
