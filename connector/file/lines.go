package file

import (
	"bufio"
	"bytes"
	"io"
)

// readBufferSize is the size of a file's read buffer; lines longer than it are assembled in a
// separate buffer, up to the line limit.
const readBufferSize = 64 << 10

// previewBytes is how much of an over-long line a dead letter keeps.
const previewBytes = 1 << 10

// lineReader splits a file into lines without ever holding more than max bytes of one line.
type lineReader struct {
	r    *bufio.Reader
	max  int
	long []byte // the line being assembled when it does not fit in r's buffer
	num  int    // the number of the line last returned, from 1
	bom  bool   // the byte-order mark at the start of the file has been checked
	off  int64  // bytes consumed: the offset of the next line once a line has been returned
}

// newLineReader reads lines of at most max bytes from r through a buffer of bufSize bytes.
func newLineReader(r io.Reader, max, bufSize int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, bufSize), max: max}
}

// next returns the next line without its line ending ("\n" or "\r\n"). A line longer than max
// bytes is returned with tooLong set, as at least its first previewBytes bytes (as many as it
// has). The line is valid until the next call. At the end of the input next returns
// io.EOF; a last line without a line ending is still a line.
func (l *lineReader) next() (line []byte, tooLong bool, err error) {
	if !l.bom {
		l.bom = true
		if b, err := l.r.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
			_, _ = l.r.Discard(3)
			l.off += 3
		}
	}
	l.long = l.long[:0]
	overflow := false
	for {
		chunk, err := l.r.ReadSlice('\n')
		l.off += int64(len(chunk))
		switch err {
		case nil:
		case bufio.ErrBufferFull:
			l.keep(chunk, &overflow)
			continue
		case io.EOF:
			if len(chunk) == 0 && len(l.long) == 0 && !overflow {
				return nil, false, io.EOF
			}
		default:
			return nil, false, err
		}
		l.num++
		if len(l.long) == 0 && !overflow {
			line = chunk // the whole line is in the read buffer: no copy
		} else {
			l.keep(chunk, &overflow)
			line = l.long
		}
		line = trimEOL(line)
		return line, overflow || len(line) > l.max, nil
	}
}

// keep appends chunk to the line being assembled while it may still fit in max bytes (plus a
// "\r\n"). Once it cannot, keep sets overflow and keeps only a preview of the line.
func (l *lineReader) keep(chunk []byte, overflow *bool) {
	if !*overflow && len(l.long)+len(chunk) <= l.max+2 {
		l.long = append(l.long, chunk...)
		return
	}
	*overflow = true
	n := max(previewBytes-len(l.long), 0)
	l.long = append(l.long, chunk[:min(n, len(chunk))]...)
}

// trimEOL removes a trailing "\n" or "\r\n", and a "\r" left at the end of the input.
func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// preview returns the start of an over-long line for a dead letter.
func preview(line []byte) string {
	return string(line[:min(len(line), previewBytes)])
}
