package httpin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// The segment format is specified in docs/format/ingest-log.md; keep the two in step.
const (
	segmentMagic    = "\x89INGEST\n"
	segmentVersion  = 1
	headerSize      = 24
	frameHeaderSize = 8
	// endOfBatch marks the last frame of a batch in the frame's length word.
	endOfBatch = 1 << 31
	// maxPayload is the largest payload a frame may carry.
	maxPayload = 1 << 30
	// readAhead is how many bytes a segment reader fetches at a time.
	readAhead = 64 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// errTruncated: the bytes end inside a frame (a torn write, when at the end of a segment).
	errTruncated = errors.New("the segment ends inside a frame")
	// errCorrupt: a frame's length is out of range or its checksum does not match.
	errCorrupt = errors.New("bad frame")
	// errBadHeader: the segment header is short, has a wrong magic, version, index or checksum.
	errBadHeader = errors.New("bad segment header")
)

// appendHeader appends the header of segment seg to dst.
func appendHeader(dst []byte, seg uint64) []byte {
	start := len(dst)
	dst = append(dst, segmentMagic...)
	dst = binary.LittleEndian.AppendUint16(dst, segmentVersion)
	dst = binary.LittleEndian.AppendUint16(dst, 0) // flags
	dst = binary.LittleEndian.AppendUint64(dst, seg)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// checkHeader verifies that b starts with the header of segment seg.
func checkHeader(b []byte, seg uint64) error {
	switch {
	case len(b) < headerSize:
		return fmt.Errorf("%w: %d bytes, want %d", errBadHeader, len(b), headerSize)
	case string(b[:8]) != segmentMagic:
		return fmt.Errorf("%w: magic %q is not an ingest log's", errBadHeader, b[:8])
	case binary.LittleEndian.Uint32(b[20:24]) != crc32.Checksum(b[:20], castagnoli):
		return fmt.Errorf("%w: checksum mismatch", errBadHeader)
	case binary.LittleEndian.Uint16(b[8:10]) != segmentVersion:
		return fmt.Errorf("%w: version %d, this build reads version %d", errBadHeader, binary.LittleEndian.Uint16(b[8:10]), segmentVersion)
	case binary.LittleEndian.Uint16(b[10:12]) != 0:
		return fmt.Errorf("%w: unknown flags %#x", errBadHeader, binary.LittleEndian.Uint16(b[10:12]))
	case binary.LittleEndian.Uint64(b[12:20]) != seg:
		return fmt.Errorf("%w: it says segment %d, its name says %d", errBadHeader, binary.LittleEndian.Uint64(b[12:20]), seg)
	}
	return nil
}

// appendFrame appends a frame holding payload (1 to maxPayload bytes) to dst; last marks the
// last frame of a batch.
func appendFrame(dst, payload []byte, last bool) []byte {
	word := uint32(len(payload))
	if last {
		word |= endOfBatch
	}
	var w [4]byte
	binary.LittleEndian.PutUint32(w[:], word)
	crc := crc32.Update(crc32.Checksum(w[:], castagnoli), castagnoli, payload)
	dst = append(dst, w[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, crc)
	return append(dst, payload...)
}

// frameSize returns the size of the frame whose header starts h (at least frameHeaderSize bytes).
func frameSize(h []byte) (int64, error) {
	n := binary.LittleEndian.Uint32(h) &^ endOfBatch
	if n == 0 || n > maxPayload {
		return 0, fmt.Errorf("%w: payload length %d", errCorrupt, n)
	}
	return frameHeaderSize + int64(n), nil
}

// parseFrame decodes the frame at the start of b. It returns errTruncated when b ends inside the
// frame and errCorrupt when the frame is invalid.
func parseFrame(b []byte) (payload []byte, last bool, size int, err error) {
	if len(b) < frameHeaderSize {
		return nil, false, 0, errTruncated
	}
	n, err := frameSize(b)
	if err != nil {
		return nil, false, 0, err
	}
	if int64(len(b)) < n {
		return nil, false, 0, errTruncated
	}
	word := binary.LittleEndian.Uint32(b)
	crc := crc32.Update(crc32.Checksum(b[:4], castagnoli), castagnoli, b[frameHeaderSize:n])
	if crc != binary.LittleEndian.Uint32(b[4:8]) {
		return nil, false, 0, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	return b[frameHeaderSize:n], word&endOfBatch != 0, int(n), nil
}

// segReader reads frames of one segment through a buffer. Bytes it returns are valid until its
// next call.
type segReader struct {
	r      io.ReaderAt
	buf    []byte
	bufOff int64
}

// view returns bytes [off, off+n) of the segment; off+n must not pass end, the end of the bytes
// that may be read.
func (s *segReader) view(off int64, n int, end int64) ([]byte, error) {
	if off >= s.bufOff && off+int64(n) <= s.bufOff+int64(len(s.buf)) {
		return s.buf[off-s.bufOff:][:n], nil
	}
	size := int(min(max(int64(n), readAhead), end-off))
	if cap(s.buf) < size {
		s.buf = make([]byte, size)
	}
	s.buf = s.buf[:size]
	s.bufOff = off
	if _, err := s.r.ReadAt(s.buf, off); err != nil {
		s.buf = s.buf[:0]
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("the segment is shorter than %d bytes: %w", off+int64(size), io.ErrUnexpectedEOF)
		}
		return nil, err
	}
	return s.buf[:n], nil
}

// frameAt decodes the frame at off, which must end by end. Errors are errTruncated, errCorrupt
// or a read error.
func (s *segReader) frameAt(off, end int64) (payload []byte, last bool, size int, err error) {
	if end-off < frameHeaderSize {
		return nil, false, 0, errTruncated
	}
	h, err := s.view(off, frameHeaderSize, end)
	if err != nil {
		return nil, false, 0, err
	}
	n, err := frameSize(h)
	if err != nil {
		return nil, false, 0, err
	}
	if end-off < n {
		return nil, false, 0, errTruncated
	}
	b, err := s.view(off, int(n), end)
	if err != nil {
		return nil, false, 0, err
	}
	return parseFrame(b)
}

// scanResult describes the valid part of a segment.
type scanResult struct {
	// end is the offset just after the last complete batch: where a torn tail is cut.
	end int64
	// records and batches count the frames and batches before end.
	records, batches int
	// stop says why scanning stopped before the end of the data ("" when it did not).
	stop string
}

// scanSegment reads segment seg of size bytes and finds the end of its last complete batch:
// frames after it (a torn or corrupt frame, or frames of a batch whose last frame is missing) are
// a torn tail. It fails only when the header is bad or reading fails. fn, when not nil, is called
// with every frame before the returned end, in order.
func scanSegment(r io.ReaderAt, size int64, seg uint64, fn func(payload []byte, last bool)) (scanResult, error) {
	sr := &segReader{r: r}
	if size < headerSize {
		return scanResult{}, fmt.Errorf("%w: %d bytes, want %d", errBadHeader, size, headerSize)
	}
	h, err := sr.view(0, headerSize, size)
	if err != nil {
		return scanResult{}, err
	}
	if err := checkHeader(h, seg); err != nil {
		return scanResult{}, err
	}
	res := scanResult{end: headerSize}
	off, pending := int64(headerSize), 0
	var batch [][]byte // payloads of the current batch, copied, when fn is set
	for off < size {
		payload, last, n, err := sr.frameAt(off, size)
		if errors.Is(err, errTruncated) || errors.Is(err, errCorrupt) {
			res.stop = fmt.Sprintf("%v at offset %d", err, off)
			break
		}
		if err != nil {
			return res, err
		}
		off += int64(n)
		pending++
		if fn != nil {
			batch = append(batch, append([]byte(nil), payload...))
		}
		if last {
			res.end, res.records, res.batches = off, res.records+pending, res.batches+1
			pending = 0
			for i, p := range batch {
				fn(p, i == len(batch)-1)
			}
			batch = batch[:0]
		}
	}
	if res.stop == "" && res.end < size {
		res.stop = fmt.Sprintf("the batch starting at offset %d has no last frame", res.end)
	}
	return res, nil
}
