package nexmark

import (
	"encoding/binary"
	"fmt"
)

// Position returns where the split resumes: its current block and the events of it already
// returned (or the next block, before any). Events depend only on their number, so a
// checkpointed run regenerates exactly the events after the position.
func (s *genSplit) Position() ([]byte, error) {
	b := binary.AppendVarint(nil, s.cur)
	b = binary.AppendVarint(b, s.emitted)
	return binary.AppendVarint(b, s.next), nil
}

// Seek resumes the split at a position returned by Position.
func (s *genSplit) Seek(pos []byte) error {
	cur, n1 := binary.Varint(pos)
	emitted, n2 := binary.Varint(pos[max(n1, 0):])
	next, n3 := binary.Varint(pos[max(n1+n2, 0):])
	if n1 <= 0 || n2 <= 0 || n3 <= 0 || n1+n2+n3 != len(pos) || emitted < 0 {
		return fmt.Errorf("nexmark split %d: bad position %x", s.index, pos)
	}
	s.next, s.gen, s.done = next, nil, false
	if cur < 0 {
		return nil
	}
	// Regenerate the current block from its first unreturned event.
	s.next = cur
	if !s.startBlock() {
		s.done = true
		return nil
	}
	c := s.gen.cfg
	if emitted >= c.MaxEvents { // the block was fully returned
		s.gen, s.emitted = nil, emitted
		return nil
	}
	c.FirstEventNumber += emitted
	c.MaxEvents -= emitted
	s.gen, s.emitted = NewGenerator(c), emitted
	return nil
}
