package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/sluicehq/sluice/internal/flow"
)

// taskState is a task's committed state: the value of its changelog record and of its local
// snapshot file. The format is specified in docs/format/kafka-state.md.
type taskState struct {
	// NextOffset is the input partition's offset after the epoch's last record: the offset the
	// same transaction committed for the consumer group.
	NextOffset int64
	// ChangelogOffset is the offset of the changelog record holding this state (-1 inside the
	// changelog record itself, where it is not known yet).
	ChangelogOffset int64
	// MaxTS and WM are the source feeder's largest event time and last watermark.
	MaxTS, WM int64
	// Upstream are, for a task reading a repartition topic, the newest watermark of each
	// upstream task (version 2; empty for a task reading the source topic).
	Upstream []int64
	// Snaps are the snapshots of the pipeline instance's tasks.
	Snaps []flow.TaskSnapshot
}

// stateMagic heads the current format (version 2); stateMagicV1, without Upstream, is still read.
const (
	stateMagic   = "SLKS\x02"
	stateMagicV1 = "SLKS\x01"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func (s *taskState) encode(dst []byte) []byte {
	b := append(dst, stateMagic...)
	b = binary.AppendVarint(b, s.NextOffset)
	b = binary.AppendVarint(b, s.ChangelogOffset)
	b = binary.AppendVarint(b, s.MaxTS)
	b = binary.AppendVarint(b, s.WM)
	b = binary.AppendUvarint(b, uint64(len(s.Upstream)))
	for _, wm := range s.Upstream {
		b = binary.AppendVarint(b, wm)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Snaps)))
	for _, sn := range s.Snaps {
		b = binary.AppendVarint(b, sn.ID)
		b = appendBytes(b, []byte(sn.Stage))
		b = binary.AppendUvarint(b, uint64(sn.Subtask))
		b = appendBytes(b, sn.Position)
		b = binary.AppendUvarint(b, uint64(len(sn.States)))
		for _, o := range sn.States {
			b = appendBytes(b, []byte(o.UID))
			b = appendBytes(b, o.Data)
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[len(dst):], crcTable))
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

var errTruncated = errors.New("truncated")

type stateReader struct {
	b   []byte
	err error
}

func (r *stateReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errTruncated
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) uvarint(limit uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > limit {
		r.err = errTruncated
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) bytes() []byte {
	n := r.uvarint(uint64(len(r.b)))
	if r.err != nil {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// decodeState parses an encoded taskState; the result aliases b.
func decodeState(b []byte) (taskState, error) {
	var s taskState
	if len(b) < len(stateMagic)+4 || string(b[:len(stateMagic)]) != stateMagic && string(b[:len(stateMagic)]) != stateMagicV1 {
		return s, fmt.Errorf("task state: bad header (want %q or %q)", stateMagic, stateMagicV1)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return s, fmt.Errorf("task state: checksum mismatch (torn or corrupt)")
	}
	r := &stateReader{b: body[len(stateMagic):]}
	s.NextOffset, s.ChangelogOffset = r.varint(), r.varint()
	s.MaxTS, s.WM = r.varint(), r.varint()
	if string(b[:len(stateMagic)]) == stateMagic {
		m := r.uvarint(uint64(len(r.b)))
		for i := uint64(0); i < m && r.err == nil; i++ {
			s.Upstream = append(s.Upstream, r.varint())
		}
	}
	n := r.uvarint(uint64(len(r.b)))
	for i := uint64(0); i < n && r.err == nil; i++ {
		sn := flow.TaskSnapshot{ID: r.varint()}
		sn.Stage, sn.Subtask, sn.Position = string(r.bytes()), int(r.uvarint(1<<20)), r.bytes()
		m := r.uvarint(uint64(len(r.b)))
		for j := uint64(0); j < m && r.err == nil; j++ {
			sn.States = append(sn.States, flow.OperatorSnapshot{UID: string(r.bytes()), Data: r.bytes()})
		}
		s.Snaps = append(s.Snaps, sn)
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return taskState{}, fmt.Errorf("task state: %w", r.err)
	}
	return s, nil
}
