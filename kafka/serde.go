package kafka

import (
	"encoding/json"
	"fmt"
)

// Serde encodes and decodes a stream's records as Kafka record values.
type Serde[T any] interface {
	// Encode appends v's encoding to dst.
	Encode(dst []byte, v T) ([]byte, error)
	// Decode decodes one record value. It must not keep b.
	Decode(b []byte) (T, error)
}

// JSON is the JSON serde of T (encoding/json).
func JSON[T any]() Serde[T] { return jsonSerde[T]{} }

type jsonSerde[T any] struct{}

func (jsonSerde[T]) Encode(dst []byte, v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

func (jsonSerde[T]) Decode(b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("invalid JSON: %w", err)
	}
	return v, nil
}

// Bytes passes record values through unchanged (a copy is decoded, so it may be kept).
func Bytes() Serde[[]byte] { return bytesSerde{} }

type bytesSerde struct{}

func (bytesSerde) Encode(dst []byte, v []byte) ([]byte, error) { return append(dst, v...), nil }
func (bytesSerde) Decode(b []byte) ([]byte, error)             { return append([]byte(nil), b...), nil }

// String is the UTF-8 string serde.
func String() Serde[string] { return stringSerde{} }

type stringSerde struct{}

func (stringSerde) Encode(dst []byte, v string) ([]byte, error) { return append(dst, v...), nil }
func (stringSerde) Decode(b []byte) (string, error)             { return string(b), nil }
