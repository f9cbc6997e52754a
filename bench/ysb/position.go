package ysb

import (
	"encoding/binary"
	"fmt"
)

// Position returns the sequence number of the split's next event: events depend only on it, so
// a checkpointed run resumes exactly.
func (s *split) Position() ([]byte, error) { return binary.AppendVarint(nil, s.next), nil }

// Seek resumes the split at a position returned by Position.
func (s *split) Seek(pos []byte) error {
	v, n := binary.Varint(pos)
	if n <= 0 || n != len(pos) || v < 0 || (v-int64(s.index))%s.step != 0 {
		return fmt.Errorf("ysb split %d: bad position %x", s.index, pos)
	}
	s.next = v
	return nil
}
