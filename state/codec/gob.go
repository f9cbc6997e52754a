package codec

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"reflect"
)

// gobBox wraps a value for gob, so that interfaces, nil pointers and values of any kind can be
// the top-level value gob requires to be a struct-like message.
type gobBox[T any] struct{ V T }

// gobCodec encodes a T, which contains an interface somewhere, with encoding/gob.
type gobCodec[T any] struct{}

func (gobCodec[T]) Append(dst []byte, v T) []byte {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(gobBox[T]{V: v}); err != nil {
		panic(fmt.Errorf("codec: encoding %v with gob: %w", reflect.TypeFor[T](), err))
	}
	return AppendBytes(dst, buf.Bytes())
}

func (gobCodec[T]) Decode(src []byte) (v T, n int, err error) {
	b, n, err := DecodeBytes(src)
	if err != nil {
		return v, 0, topError[T](err)
	}
	box, err := gobDecode[T](b)
	if err != nil {
		return v, 0, topError[T](err)
	}
	return box.V, n, nil
}

// gobDecode decodes one gob message that must fill b, turning a panic into an error: gob's
// decoder is not this package's to vouch for on hostile input.
func gobDecode[T any](b []byte) (box gobBox[T], err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: gob panicked: %v", ErrInvalid, r)
		}
	}()
	r := bytes.NewReader(b)
	if err := gob.NewDecoder(r).Decode(&box); err != nil {
		return box, fmt.Errorf("%w: gob: %w", ErrInvalid, err)
	}
	if r.Len() != 0 {
		return box, fmt.Errorf("%w: %d bytes after the gob message", ErrInvalid, r.Len())
	}
	return box, nil
}

var gobEncoderType = reflect.TypeFor[gob.GobEncoder]()

// gobCheck reports, naming the field, what in t gob would drop silently or refuse: unexported
// fields (gob skips them), channels and functions (gob skips them as fields).
func gobCheck(t reflect.Type, path string, seen map[reflect.Type]bool) error {
	if seen[t] {
		return nil
	}
	seen[t] = true
	if p := reflect.PointerTo(t); p.Implements(gobEncoderType) || hasMarshaler(t) {
		return nil // encodes itself
	}
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return fmt.Errorf("%s (%v): %w: a %v cannot be encoded", path, t, ErrUnsupported, t.Kind())
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return gobCheck(t.Elem(), path+"[]", seen)
	case reflect.Map:
		if err := gobCheck(t.Key(), path+"[key]", seen); err != nil {
			return err
		}
		return gobCheck(t.Elem(), path+"[value]", seen)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			fpath := path + "." + f.Name
			if f.Name == "_" {
				continue
			}
			if !f.IsExported() {
				return fmt.Errorf("field %s (%v): %w: the field is unexported, and the type holds an "+
					"interface, so it is encoded with gob, which skips unexported fields: export it, "+
					"implement encoding.BinaryMarshaler, or Register a codec for %v", fpath, f.Type, ErrUnsupported, t)
			}
			if err := gobCheck(f.Type, fpath, seen); err != nil {
				return err
			}
		}
	}
	return nil
}
