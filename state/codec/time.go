package codec

import (
	"fmt"
	"math"
	"time"
	"unsafe"
)

// maxUnixSeconds bounds the seconds of a decoded time.Time, so that the time package's internal
// arithmetic (seconds since year 1, plus a zone offset) cannot overflow.
const maxUnixSeconds = math.MaxInt64 - 62135596800 - 1<<20

// maxZoneOffset bounds a decoded zone offset, in seconds (real ones are within ±14 h).
const maxZoneOffset = 24 * 60 * 60

func appendTime(dst []byte, p unsafe.Pointer, _ int) []byte {
	t := *(*time.Time)(p)
	dst = AppendVarint(dst, t.Unix())
	dst = AppendUvarint(dst, uint64(t.Nanosecond()))
	if t.Location() == time.UTC {
		return append(dst, 0)
	}
	_, offset := t.Zone()
	return AppendVarint(append(dst, 1), int64(offset))
}

func decodeTime(d *decoder, p unsafe.Pointer) error {
	start := d.off
	sec, n, err := DecodeVarint(d.rest())
	if err != nil {
		return d.fail(err)
	}
	d.off += n
	nsec, n, err := DecodeUvarint(d.rest())
	if err != nil {
		return d.fail(err)
	}
	d.off += n
	zoned, n, err := decodeBool(d.rest())
	if err != nil {
		return d.fail(err)
	}
	d.off += n
	var offset int64
	if zoned { // 1: a zone offset follows
		if offset, n, err = DecodeVarint(d.rest()); err != nil {
			return d.fail(err)
		}
		d.off += n
	}
	switch {
	case sec > maxUnixSeconds:
		return &DecodeError{Offset: start, Err: fmt.Errorf("%w: %d seconds is beyond time.Time's range", ErrInvalid, sec)}
	case nsec >= 1e9:
		return &DecodeError{Offset: start, Err: fmt.Errorf("%w: %d nanoseconds", ErrInvalid, nsec)}
	case offset < -maxZoneOffset || offset > maxZoneOffset:
		return &DecodeError{Offset: start, Err: fmt.Errorf("%w: zone offset of %d seconds", ErrInvalid, offset)}
	}
	t := time.Unix(sec, int64(nsec))
	switch {
	case !zoned:
		t = t.UTC()
	default:
		if local := t.In(time.Local); zoneOffset(local) == int(offset) {
			t = local
		} else {
			t = t.In(time.FixedZone("", int(offset)))
		}
	}
	*(*time.Time)(p) = t
	return nil
}

func zoneOffset(t time.Time) int {
	_, offset := t.Zone()
	return offset
}
