package file

import (
	"bytes"
	"encoding/csv"
)

// csvParser splits CSV records (RFC 4180, as encoding/csv reads them with LazyQuotes off): fields
// separated by the delimiter, optionally quoted, a quote inside a quoted field doubled, and line
// breaks allowed inside quoted fields.
type csvParser struct {
	comma []byte
	buf   []byte // the fields' bytes, unquoted, one after the other
	ends  []int  // where each field ends in buf
	pos   int    // where an incomplete record stopped, inside a quoted field
}

// parse splits rec, the first line of a record. complete is false when rec ends inside a quoted
// field: the record goes on on the next line, and resume continues it. A malformed record returns
// csv.ErrBareQuote or csv.ErrQuote and the offset in rec where the problem is.
func (p *csvParser) parse(rec []byte) (fields []string, complete bool, at int, err error) {
	p.buf, p.ends = p.buf[:0], p.ends[:0]
	return p.run(rec, 0, false)
}

// resume continues an incomplete record after "\n" and its next line were appended to rec. Only
// the new bytes are scanned, so a quoted field over many lines costs time linear in its length.
func (p *csvParser) resume(rec []byte) (fields []string, complete bool, at int, err error) {
	return p.run(rec, p.pos, true)
}

// run parses rec from offset i, inside a quoted field when quoted is set.
func (p *csvParser) run(rec []byte, i int, quoted bool) (fields []string, complete bool, at int, err error) {
	for {
		if !quoted && i < len(rec) && rec[i] == '"' {
			quoted = true
			i++
		}
		if quoted {
			for {
				j := bytes.IndexByte(rec[i:], '"')
				if j < 0 { // the field goes on on the next line
					p.buf = append(p.buf, rec[i:]...)
					p.pos = len(rec)
					return nil, false, 0, nil
				}
				p.buf = append(p.buf, rec[i:i+j]...)
				i += j + 1
				if i < len(rec) && rec[i] == '"' { // an escaped quote
					p.buf = append(p.buf, '"')
					i++
					continue
				}
				break
			}
			quoted = false
			p.ends = append(p.ends, len(p.buf))
			if i == len(rec) {
				return p.fields(), true, 0, nil
			}
			if !bytes.HasPrefix(rec[i:], p.comma) {
				return nil, true, i - 1, csv.ErrQuote
			}
			i += len(p.comma)
			continue
		}
		field := rec[i:]
		j := bytes.Index(field, p.comma)
		if j >= 0 {
			field = field[:j]
		}
		if q := bytes.IndexByte(field, '"'); q >= 0 {
			return nil, true, i + q, csv.ErrBareQuote
		}
		p.buf = append(p.buf, field...)
		p.ends = append(p.ends, len(p.buf))
		if j < 0 {
			return p.fields(), true, 0, nil
		}
		i += j + len(p.comma)
	}
}

// fields returns the parsed fields: one string for the whole record, sliced, so one allocation,
// as encoding/csv does.
func (p *csvParser) fields() []string {
	s := string(p.buf)
	fields := make([]string, len(p.ends))
	prev := 0
	for k, end := range p.ends {
		fields[k] = s[prev:end]
		prev = end
	}
	return fields
}
