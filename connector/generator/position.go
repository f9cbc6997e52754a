package generator

import (
	"encoding/binary"
	"fmt"
)

// Position returns where the split resumes: the sequence number of its next record, so that a
// checkpointed run restarts exactly after the last record it had read. Records depend only on
// their sequence number, so the replay is identical.
func (s *Split[T]) Position() ([]byte, error) {
	return binary.AppendVarint(nil, s.next), nil
}

// Seek makes the split resume at a position returned by Position.
func (s *Split[T]) Seek(pos []byte) error {
	seq, n := binary.Varint(pos)
	if n <= 0 || n != len(pos) {
		return fmt.Errorf("generator split %d: bad position %x", s.index, pos)
	}
	if seq < 0 || (seq-int64(s.index))%s.step != 0 {
		return fmt.Errorf("generator split %d: position %d does not belong to this split (every %d from %d)", s.index, seq, s.step, s.index)
	}
	s.next = seq
	s.offset.Store(seq)
	return nil
}
