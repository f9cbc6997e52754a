package httpin

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// rawRecord is one record of a request body, before it is validated.
type rawRecord struct {
	index   int // the element's index in the array, or the line's (0-based)
	data    []byte
	element bool // an array element (else a line or the whole body)
}

// splitBody splits a body into records. A body whose first byte other than JSON whitespace is
// '[' is a JSON array: its elements are the records. Otherwise the body is JSON lines, one record
// per line that is not blank — except that with whole set (Content-Type application/json), a body
// that is one valid JSON value is one record, so that a pretty-printed object is not cut into
// lines. A UTF-8 byte-order mark at the start is skipped. An array whose elements cannot be told
// apart (it is not closed, its brackets do not match, data follows it) is an error.
func splitBody(body []byte, whole bool) ([]rawRecord, error) {
	bom := 0
	if bytes.HasPrefix(body, []byte("\xef\xbb\xbf")) {
		body, bom = body[3:], 3
	}
	trimmed := trimJSONSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		lead := bom
		for isJSONSpace(body[lead-bom]) {
			lead++
		}
		elems, err := splitArray(trimmed, lead)
		if err != nil {
			return nil, err
		}
		recs := make([]rawRecord, len(elems))
		for i, e := range elems {
			recs[i] = rawRecord{index: i, data: e, element: true}
		}
		return recs, nil
	}
	if whole && len(trimmed) > 0 && json.Valid(trimmed) {
		return []rawRecord{{index: 0, data: trimmed}}, nil
	}
	var recs []rawRecord
	for i := 0; len(body) > 0; i++ {
		line, rest, _ := bytes.Cut(body, []byte{'\n'})
		body = rest
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(trimJSONSpace(line)) > 0 {
			recs = append(recs, rawRecord{index: i, data: line})
		}
	}
	return recs, nil
}

// splitArray returns the elements of a JSON array (b starts with '[' and has no surrounding
// whitespace), each without surrounding whitespace, by following strings and bracket depth; base
// is b's offset in the body, for errors. It
// does not validate the elements: an element that is not valid JSON ("{bad}", or empty as in
// "[1,,2]") is returned as it is, to be rejected on its own. "[]" has no elements.
func splitArray(b []byte, base int) ([][]byte, error) {
	var elems [][]byte
	depth, inString, escaped := 0, false, false
	start := 1
	for i := 1; i < len(b); i++ {
		c := b[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
		case ',':
			if depth == 0 {
				elems = append(elems, trimJSONSpace(b[start:i]))
				start = i + 1
			}
		case ']', '}':
			if depth > 0 {
				depth--
				continue
			}
			if c == '}' {
				return nil, fmt.Errorf("the JSON array has an unmatched '}' at byte %d", base+i)
			}
			last := trimJSONSpace(b[start:i])
			if len(last) > 0 || len(elems) > 0 {
				elems = append(elems, last)
			}
			for j := i + 1; j < len(b); j++ {
				if !isJSONSpace(b[j]) {
					return nil, fmt.Errorf("data after the end of the JSON array at byte %d", base+j)
				}
			}
			return elems, nil
		}
	}
	return nil, fmt.Errorf("the JSON array is not closed: the body ends inside element %d", len(elems))
}

// trimJSONSpace removes JSON whitespace (space, tab, CR, LF) from both ends of b.
func trimJSONSpace(b []byte) []byte {
	for len(b) > 0 && isJSONSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isJSONSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
