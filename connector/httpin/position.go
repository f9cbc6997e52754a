package httpin

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// positionVersion is the first byte of an encoded position.
const positionVersion = 1

// position is where a split reads next: a segment and the offset of a frame in it.
type position struct {
	seg uint64
	off int64
}

// encode returns the position as stored in a checkpoint: a version byte (1), then the segment
// and the offset as unsigned varints.
func (p position) encode() []byte {
	b := []byte{positionVersion}
	b = binary.AppendUvarint(b, p.seg)
	return binary.AppendUvarint(b, uint64(p.off))
}

// decodePosition parses an encoded position.
func decodePosition(b []byte) (position, error) {
	if len(b) == 0 || b[0] != positionVersion {
		return position{}, fmt.Errorf("httpin: bad position %x: not a version %d ingest log position", b, positionVersion)
	}
	seg, n := binary.Uvarint(b[1:])
	if n <= 0 {
		return position{}, fmt.Errorf("httpin: bad position %x: bad segment", b)
	}
	off, m := binary.Uvarint(b[1+n:])
	if m <= 0 || 1+n+m != len(b) || off < headerSize || off > 1<<62 || seg == 0 {
		return position{}, fmt.Errorf("httpin: bad position %x: bad offset", b)
	}
	p := position{seg: seg, off: int64(off)}
	if !bytes.Equal(p.encode(), b) {
		return position{}, fmt.Errorf("httpin: bad position %x: not in canonical form", b)
	}
	return p, nil
}

func (p position) String() string { return fmt.Sprintf("%s:%d", segmentName(p.seg), p.off) }
