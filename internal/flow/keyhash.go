package flow

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"unsafe"
)

// DefaultMaxParallelism is the number of key groups (Flink's default maximum parallelism). Keys
// hash into key groups; key groups map to subtasks in contiguous ranges, so changing parallelism
// moves whole key groups.
const DefaultMaxParallelism = 128

// KeyHasher returns a deterministic hash function for K: the same key hashes the same in every
// process and run, which checkpoints and rescaling rely on. Strings, integers, floats and booleans
// hash without allocation; other comparable types hash their fmt representation (slower).
func KeyHasher[K comparable]() func(K) uint64 {
	var z K
	switch reflect.TypeOf(&z).Elem().Kind() {
	case reflect.String:
		return func(k K) uint64 { return HashString(*(*string)(unsafe.Pointer(&k))) }
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64, reflect.Uintptr:
		return func(k K) uint64 { return mix64(*(*uint64)(unsafe.Pointer(&k))) }
	case reflect.Int32, reflect.Uint32:
		return func(k K) uint64 { return mix64(uint64(*(*uint32)(unsafe.Pointer(&k)))) }
	case reflect.Int16, reflect.Uint16:
		return func(k K) uint64 { return mix64(uint64(*(*uint16)(unsafe.Pointer(&k)))) }
	case reflect.Int8, reflect.Uint8, reflect.Bool:
		return func(k K) uint64 { return mix64(uint64(*(*uint8)(unsafe.Pointer(&k)))) }
	case reflect.Float64:
		return func(k K) uint64 { return mix64(math.Float64bits(*(*float64)(unsafe.Pointer(&k)))) }
	case reflect.Float32:
		return func(k K) uint64 { return mix64(uint64(math.Float32bits(*(*float32)(unsafe.Pointer(&k))))) }
	}
	return func(k K) uint64 { return HashString(fmt.Sprintf("%#v", k)) }
}

// HashString hashes a string eight bytes at a time with a multiply-and-mix step, then finishes
// with a 64-bit mixer. It is stable across processes and versions of Go (checkpoints rely on it:
// changing it moves keys between key groups).
func HashString(s string) uint64 {
	const k = 0x9e3779b97f4a7c15
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	h := uint64(len(b)) * k
	for len(b) >= 8 {
		h = (h ^ binary.LittleEndian.Uint64(b)*k) * 0xbf58476d1ce4e5b9
		h ^= h >> 29
		b = b[8:]
	}
	if len(b) > 0 {
		var tail uint64
		for i, c := range b {
			tail |= uint64(c) << (8 * i)
		}
		h = (h ^ tail*k) * 0xbf58476d1ce4e5b9
	}
	return mix64(h)
}

func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// KeyGroup maps a key hash to its key group.
func KeyGroup(hash uint64, maxParallelism int) int { return int(hash % uint64(maxParallelism)) }

// SubtaskOf maps a key group to the subtask owning it (Flink's
// computeOperatorIndexForKeyGroup): contiguous ranges of key groups per subtask.
func SubtaskOf(keyGroup, maxParallelism, parallelism int) int {
	return keyGroup * parallelism / maxParallelism
}
