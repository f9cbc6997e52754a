package ysb

import (
	"bytes"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// DecodeAdEvent decodes one event, a JSON object in the benchmark's format, into e. It allocates
// nothing unless the input is invalid.
//
// The object must hold the seven fields user_id, page_id, ad_id (UUID strings), ad_type and
// event_type (one of the benchmark's names), event_time (an integer in epoch milliseconds, as a
// string of digits, as the benchmark writes it, or as a JSON number) and ip_address (a dotted
// IPv4 string), in any order, with any JSON white space around the tokens. As with
// encoding/json: other fields are skipped (whatever their value), a repeated field keeps its last
// value, keys match exactly or else ignoring ASCII case, and strings may use every JSON escape.
// Unlike encoding/json, null is not accepted for the seven fields and skipped values may nest at
// most 512 deep. Anything else — a missing field, an invalid UUID, an unknown type name, a value
// of the wrong JSON type, a syntax error, trailing data other than white space — is an error that
// says what is wrong, and e is left unchanged.
func DecodeAdEvent(line []byte, e *AdEvent) error {
	if decodeCanonical(line, e) {
		return nil
	}
	d := decoder{b: line}
	return d.event(e)
}

// The literal pieces of an event in the canonical layout, the one AppendJSON writes.
const (
	canonUser      = `{"user_id":"`
	canonPage      = `","page_id":"`
	canonAd        = `","ad_id":"`
	canonAdType    = `","ad_type":"`
	canonEventType = `","event_type":"`
	canonTime      = `","event_time":"`
	canonIP        = `","ip_address":"`
	canonEnd       = `"}`
)

// decodeCanonical decodes an event in the canonical layout — the fields in the benchmark's order,
// no white space but at the end, no escapes, event_time as a string — and reports false, leaving
// e alone, for anything else, which the general decoder then reads. It accepts nothing the
// general decoder would reject or read differently.
func decodeCanonical(b []byte, e *AdEvent) bool {
	c := canonical{b: b, ok: true}
	var out AdEvent
	out.UserID = c.uuid(canonUser)
	out.PageID = c.uuid(canonPage)
	out.AdID = c.uuid(canonAd)
	if t := c.text(canonAdType); c.ok {
		out.AdType, c.ok = parseAdType(t)
	}
	if t := c.text(canonEventType); c.ok {
		out.EventType, c.ok = parseEventType(t)
	}
	if t := c.text(canonTime); c.ok {
		out.EventTime, c.ok = parseInt(t)
	}
	if t := c.text(canonIP); c.ok {
		out.IPAddress, c.ok = parseIPv4(t)
	}
	if !c.ok || !hasAt(b, c.i, canonEnd) {
		return false
	}
	for _, x := range b[c.i+len(canonEnd):] {
		if x != ' ' && x != '\t' && x != '\n' && x != '\r' {
			return false
		}
	}
	*e = out
	return true
}

// canonical is the state of decodeCanonical: the input, the offset, and whether all went well.
type canonical struct {
	b  []byte
	i  int
	ok bool
}

// uuid consumes lit and a 36-character UUID.
func (c *canonical) uuid(lit string) (u UUID) {
	if !c.ok || !hasAt(c.b, c.i, lit) || c.i+len(lit)+uuidLen > len(c.b) {
		c.ok = false
		return u
	}
	c.i += len(lit)
	u, c.ok = parseUUID(c.b[c.i : c.i+uuidLen])
	c.i += uuidLen
	return u
}

// text consumes lit and returns the bytes up to the next quote.
func (c *canonical) text(lit string) []byte {
	if !c.ok || !hasAt(c.b, c.i, lit) {
		c.ok = false
		return nil
	}
	c.i += len(lit)
	n := bytes.IndexByte(c.b[c.i:], '"')
	if n < 0 {
		c.ok = false
		return nil
	}
	t := c.b[c.i : c.i+n]
	c.i += n
	return t
}

// hasAt reports whether b holds lit at offset i.
func hasAt(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

// The fields, as bits of a set.
const (
	fieldUser = 1 << iota
	fieldPage
	fieldAd
	fieldAdType
	fieldEventType
	fieldTime
	fieldIP
	allFields = 1<<iota - 1
)

var fieldNames = [...]string{"user_id", "page_id", "ad_id", "ad_type", "event_type", "event_time", "ip_address"}

// maxSkipDepth bounds the nesting of skipped values.
const maxSkipDepth = 512

type decoder struct {
	b       []byte
	i       int
	scratch [64]byte // unescaped keys and values
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("ysb: offset %d: "+format, append([]any{d.i}, args...)...)
}

func (d *decoder) ws() {
	b, i := d.b, d.i
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	d.i = i
}

// eat consumes c if it is next.
func (d *decoder) eat(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *decoder) event(e *AdEvent) error {
	var out AdEvent
	seen := 0
	d.ws()
	if !d.eat('{') {
		return d.errorf("expected '{' to start an event")
	}
	d.ws()
	if !d.eat('}') {
		for {
			d.ws()
			key, err := d.str()
			if err != nil {
				return err
			}
			f := fieldOf(key)
			d.ws()
			if !d.eat(':') {
				return d.errorf("expected ':' after a key")
			}
			d.ws()
			if err := d.field(f, &out); err != nil {
				return err
			}
			seen |= f
			d.ws()
			if d.eat(',') {
				continue
			}
			if d.eat('}') {
				break
			}
			return d.errorf("expected ',' or '}' after a value")
		}
	}
	d.ws()
	if d.i != len(d.b) {
		return d.errorf("unexpected data after the event")
	}
	if seen != allFields {
		for i, n := range fieldNames {
			if seen&(1<<i) == 0 {
				return fmt.Errorf("ysb: the event has no %s", n)
			}
		}
	}
	*e = out
	return nil
}

// fieldOf returns the field a key names, or 0: exact match first, then ignoring ASCII case.
func fieldOf(key []byte) int {
	switch string(key) {
	case "user_id":
		return fieldUser
	case "page_id":
		return fieldPage
	case "ad_id":
		return fieldAd
	case "ad_type":
		return fieldAdType
	case "event_type":
		return fieldEventType
	case "event_time":
		return fieldTime
	case "ip_address":
		return fieldIP
	}
	for i, n := range fieldNames {
		if len(n) == len(key) && bytes.EqualFold(key, []byte(n)) {
			return 1 << i
		}
	}
	return 0
}

// field decodes the value of field f (0: skip it).
func (d *decoder) field(f int, out *AdEvent) error {
	if f == 0 {
		return d.skip()
	}
	if f == fieldTime && d.i < len(d.b) && d.b[d.i] != '"' {
		start := d.i
		if err := d.number(); err != nil {
			return err
		}
		t, ok := parseInt(d.b[start:d.i])
		if !ok {
			return fmt.Errorf("ysb: event_time %s is not an integer of epoch milliseconds", d.b[start:d.i])
		}
		out.EventTime = t
		return nil
	}
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return d.errorf("%s must be a string", nameOf(f))
	}
	if f&(fieldUser|fieldPage|fieldAd) != 0 {
		// Fast path: a plain 36-character UUID string. Hex digits and dashes need no escaping,
		// so parseUUID's check covers the string's content too.
		if end := d.i + 1 + uuidLen; end < len(d.b) && d.b[end] == '"' {
			if u, ok := parseUUID(d.b[d.i+1 : end]); ok {
				switch f {
				case fieldUser:
					out.UserID = u
				case fieldPage:
					out.PageID = u
				default:
					out.AdID = u
				}
				d.i = end + 1
				return nil
			}
		}
	}
	s, err := d.str()
	if err != nil {
		return err
	}
	ok := false
	switch f {
	case fieldUser:
		out.UserID, ok = parseUUID(s)
	case fieldPage:
		out.PageID, ok = parseUUID(s)
	case fieldAd:
		out.AdID, ok = parseUUID(s)
	case fieldAdType:
		out.AdType, ok = parseAdType(s)
	case fieldEventType:
		out.EventType, ok = parseEventType(s)
	case fieldTime:
		out.EventTime, ok = parseInt(s)
	case fieldIP:
		out.IPAddress, ok = parseIPv4(s)
	}
	if !ok {
		return fmt.Errorf("ysb: invalid %s %q", nameOf(f), string(s))
	}
	return nil
}

func nameOf(f int) string {
	for i, n := range fieldNames {
		if f == 1<<i {
			return n
		}
	}
	return "field"
}

func parseAdType(s []byte) (AdType, bool) {
	switch string(s) {
	case "banner":
		return Banner, true
	case "modal":
		return Modal, true
	case "sponsored-search":
		return SponsoredSearch, true
	case "mail":
		return Mail, true
	case "mobile":
		return Mobile, true
	}
	return 0, false
}

func parseEventType(s []byte) (EventType, bool) {
	switch string(s) {
	case "view":
		return View, true
	case "click":
		return Click, true
	case "purchase":
		return Purchase, true
	}
	return 0, false
}

// parseInt parses an optional '-' and 1 to 19 decimal digits that fit an int64.
func parseInt(s []byte) (int64, bool) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	switch {
	case neg && v <= 1<<63:
		return int64(-v), true
	case !neg && v < 1<<63:
		return int64(v), true
	}
	return 0, false
}

// parseIPv4 parses a dotted quad of decimal octets without leading zeros.
func parseIPv4(s []byte) (ip [4]byte, ok bool) {
	for i := range ip {
		if i > 0 {
			if len(s) == 0 || s[0] != '.' {
				return ip, false
			}
			s = s[1:]
		}
		n, v := 0, 0
		for n < len(s) && n < 4 && s[n] >= '0' && s[n] <= '9' {
			v = v*10 + int(s[n]-'0')
			n++
		}
		if n == 0 || n > 3 || v > 255 || n > 1 && s[0] == '0' {
			return ip, false
		}
		ip[i] = byte(v)
		s = s[n:]
	}
	return ip, len(s) == 0
}

// str consumes a JSON string and returns its content: a slice of the input when it has no
// escapes, else of the scratch buffer. A content longer than the scratch buffer is returned as
// tooLong, which no field accepts.
func (d *decoder) str() ([]byte, error) {
	b, i := d.b, d.i
	if i >= len(b) || b[i] != '"' {
		return nil, d.errorf("expected a string")
	}
	i++
	start := i
	for i < len(b) && !stringStop[b[i]] {
		i++
	}
	d.i = i
	switch {
	case i == len(b):
		return nil, d.errorf("unterminated string")
	case b[i] == '"':
		d.i++
		return b[start:i], nil
	case b[i] == '\\':
		return d.escaped(start)
	}
	return nil, d.errorf("control character in a string")
}

// stringStop marks the bytes that end the plain part of a string: the quote, the backslash and
// control characters.
var stringStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// tooLong stands for an unescaped string longer than the scratch buffer.
var tooLong = []byte{0}

// escaped finishes a string that has escapes, unescaping it into the scratch buffer. Like
// encoding/json it turns an unpaired surrogate into U+FFFD.
func (d *decoder) escaped(start int) ([]byte, error) {
	n, over := d.put(0, false, d.b[start:d.i])
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			if over {
				return tooLong, nil
			}
			return d.scratch[:n], nil
		case c < 0x20:
			return nil, d.errorf("control character in a string")
		case c != '\\':
			n, over = d.put(n, over, d.b[d.i:d.i+1])
			d.i++
			continue
		}
		if d.i+1 >= len(d.b) {
			return nil, d.errorf("unterminated string")
		}
		var one [utf8.UTFMax]byte
		e := d.b[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			one[0] = e
		case 'b':
			one[0] = '\b'
		case 'f':
			one[0] = '\f'
		case 'n':
			one[0] = '\n'
		case 'r':
			one[0] = '\r'
		case 't':
			one[0] = '\t'
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return nil, d.errorf("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r = d.lowSurrogate(r)
			}
			n, over = d.put(n, over, one[:utf8.EncodeRune(one[:], r)])
			continue
		default:
			return nil, d.errorf("invalid escape \\%c", e)
		}
		n, over = d.put(n, over, one[:1])
	}
	return nil, d.errorf("unterminated string")
}

// put appends p to the n bytes of the scratch buffer, or reports overflow.
func (d *decoder) put(n int, over bool, p []byte) (int, bool) {
	if over || n+len(p) > len(d.scratch) {
		return n, true
	}
	return n + copy(d.scratch[n:], p), false
}

// lowSurrogate completes the surrogate hi with a following \uXXXX low surrogate, or returns
// U+FFFD and consumes nothing.
func (d *decoder) lowSurrogate(hi rune) rune {
	save := d.i
	if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
		d.i += 2
		if lo, ok := d.hex4(); ok {
			if r := utf16.DecodeRune(hi, lo); r != utf8.RuneError {
				return r
			}
		}
	}
	d.i = save
	return utf8.RuneError
}

// hex4 reads four hex digits.
func (d *decoder) hex4() (rune, bool) {
	if d.i+4 > len(d.b) {
		return 0, false
	}
	var v rune
	for _, c := range d.b[d.i : d.i+4] {
		h := unhex[c]
		if h > 15 {
			return 0, false
		}
		v = v<<4 | rune(h)
	}
	d.i += 4
	return v, true
}

// number consumes a JSON number.
func (d *decoder) number() error {
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	d.eat('-')
	switch {
	case d.eat('0'):
	case digits() == 0:
		return d.errorf("invalid number")
	}
	if d.eat('.') && digits() == 0 {
		return d.errorf("invalid number")
	}
	if d.eat('e') || d.eat('E') {
		if !d.eat('+') {
			d.eat('-')
		}
		if digits() == 0 {
			return d.errorf("invalid number")
		}
	}
	return nil
}

// literal consumes word.
func (d *decoder) literal(word string) error {
	if !bytes.HasPrefix(d.b[d.i:], []byte(word)) {
		return d.errorf("invalid value")
	}
	d.i += len(word)
	return nil
}

// skip consumes one JSON value of any kind, without recursion: open containers are a stack of
// bits (1: object) in a fixed array.
func (d *decoder) skip() error {
	var stack [maxSkipDepth / 64]uint64
	depth := 0
	for {
		// A value.
		d.ws()
		if d.i >= len(d.b) {
			return d.errorf("unexpected end of input")
		}
		switch c := d.b[d.i]; {
		case c == '{' || c == '[':
			if depth == maxSkipDepth {
				return d.errorf("a skipped value nests deeper than %d", maxSkipDepth)
			}
			d.i++
			obj := c == '{'
			if obj {
				stack[depth/64] |= 1 << (depth % 64)
			} else {
				stack[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			d.ws()
			if obj && d.eat('}') || !obj && d.eat(']') {
				depth--
				break
			}
			if obj {
				if err := d.objectKey(); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			if _, err := d.str(); err != nil {
				return err
			}
		case c == '-' || c >= '0' && c <= '9':
			if err := d.number(); err != nil {
				return err
			}
		case c == 't':
			if err := d.literal("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := d.literal("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := d.literal("null"); err != nil {
				return err
			}
		default:
			return d.errorf("invalid value")
		}
		// After a value: close containers or move to the next element.
		for {
			if depth == 0 {
				return nil
			}
			obj := stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			d.ws()
			if d.eat(',') {
				if obj {
					if err := d.objectKey(); err != nil {
						return err
					}
				}
				break
			}
			if obj && d.eat('}') || !obj && d.eat(']') {
				depth--
				continue
			}
			return d.errorf("expected ',' or a closing bracket")
		}
	}
}

// objectKey consumes `"key" :` inside a skipped object.
func (d *decoder) objectKey() error {
	d.ws()
	if _, err := d.str(); err != nil {
		return err
	}
	d.ws()
	if !d.eat(':') {
		return d.errorf("expected ':' after a key")
	}
	return nil
}
