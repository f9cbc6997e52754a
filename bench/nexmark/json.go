package nexmark

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends e to dst as one JSON object without a trailing newline and returns the
// extended slice: {"person":{…}}, {"auction":{…}} or {"bid":{…}}, with the fields in Nexmark's
// order and names (person: id, name, emailAddress, creditCard, city, state, dateTime, extra;
// auction: id, itemName, description, initialBid, reserve, dateTime, expires, seller, category,
// extra; bid: auction, bidder, price, channel, url, dateTime, extra) and times as epoch
// milliseconds. Strings are escaped as JSON requires (invalid UTF-8 becomes U+FFFD, as with
// encoding/json). It allocates only when dst must grow. It panics if e.Kind is not KindPerson,
// KindAuction or KindBid.
func AppendJSON(dst []byte, e *Event) []byte {
	switch e.Kind {
	case KindPerson:
		p := &e.Person
		dst = append(dst, `{"person":{"id":`...)
		dst = strconv.AppendInt(dst, p.ID, 10)
		dst = append(dst, `,"name":`...)
		dst = appendJSONString(dst, p.Name)
		dst = append(dst, `,"emailAddress":`...)
		dst = appendJSONString(dst, p.EmailAddress)
		dst = append(dst, `,"creditCard":`...)
		dst = appendJSONString(dst, p.CreditCard)
		dst = append(dst, `,"city":`...)
		dst = appendJSONString(dst, p.City)
		dst = append(dst, `,"state":`...)
		dst = appendJSONString(dst, p.State)
		dst = append(dst, `,"dateTime":`...)
		dst = strconv.AppendInt(dst, p.DateTime, 10)
		dst = append(dst, `,"extra":`...)
		dst = appendJSONString(dst, p.Extra)
	case KindAuction:
		a := &e.Auction
		dst = append(dst, `{"auction":{"id":`...)
		dst = strconv.AppendInt(dst, a.ID, 10)
		dst = append(dst, `,"itemName":`...)
		dst = appendJSONString(dst, a.ItemName)
		dst = append(dst, `,"description":`...)
		dst = appendJSONString(dst, a.Description)
		dst = append(dst, `,"initialBid":`...)
		dst = strconv.AppendInt(dst, a.InitialBid, 10)
		dst = append(dst, `,"reserve":`...)
		dst = strconv.AppendInt(dst, a.Reserve, 10)
		dst = append(dst, `,"dateTime":`...)
		dst = strconv.AppendInt(dst, a.DateTime, 10)
		dst = append(dst, `,"expires":`...)
		dst = strconv.AppendInt(dst, a.Expires, 10)
		dst = append(dst, `,"seller":`...)
		dst = strconv.AppendInt(dst, a.Seller, 10)
		dst = append(dst, `,"category":`...)
		dst = strconv.AppendInt(dst, a.Category, 10)
		dst = append(dst, `,"extra":`...)
		dst = appendJSONString(dst, a.Extra)
	case KindBid:
		b := &e.Bid
		dst = append(dst, `{"bid":{"auction":`...)
		dst = strconv.AppendInt(dst, b.Auction, 10)
		dst = append(dst, `,"bidder":`...)
		dst = strconv.AppendInt(dst, b.Bidder, 10)
		dst = append(dst, `,"price":`...)
		dst = strconv.AppendInt(dst, b.Price, 10)
		dst = append(dst, `,"channel":`...)
		dst = appendJSONString(dst, b.Channel)
		dst = append(dst, `,"url":`...)
		dst = appendJSONString(dst, b.URL)
		dst = append(dst, `,"dateTime":`...)
		dst = strconv.AppendInt(dst, b.DateTime, 10)
		dst = append(dst, `,"extra":`...)
		dst = appendJSONString(dst, b.Extra)
	default:
		panic(fmt.Sprintf("nexmark: AppendJSON: event has invalid kind %v", e.Kind))
	}
	return append(dst, "}}"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal. Quotes, backslashes and control
// characters are escaped; invalid UTF-8 bytes become \ufffd; everything else is copied.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0 // s[start:i] is pending verbatim output
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Wire forms used by DecodeJSONLine: pointers tell a missing or null field from a zero one.
type (
	personJSON struct {
		ID           *int64  `json:"id"`
		Name         *string `json:"name"`
		EmailAddress *string `json:"emailAddress"`
		CreditCard   *string `json:"creditCard"`
		City         *string `json:"city"`
		State        *string `json:"state"`
		DateTime     *int64  `json:"dateTime"`
		Extra        *string `json:"extra"`
	}
	auctionJSON struct {
		ID          *int64  `json:"id"`
		ItemName    *string `json:"itemName"`
		Description *string `json:"description"`
		InitialBid  *int64  `json:"initialBid"`
		Reserve     *int64  `json:"reserve"`
		DateTime    *int64  `json:"dateTime"`
		Expires     *int64  `json:"expires"`
		Seller      *int64  `json:"seller"`
		Category    *int64  `json:"category"`
		Extra       *string `json:"extra"`
	}
	bidJSON struct {
		Auction  *int64  `json:"auction"`
		Bidder   *int64  `json:"bidder"`
		Price    *int64  `json:"price"`
		Channel  *string `json:"channel"`
		URL      *string `json:"url"`
		DateTime *int64  `json:"dateTime"`
		Extra    *string `json:"extra"`
	}
)

// DecodeJSONLine decodes one JSON line into e, replacing all of it. It accepts the three
// wrappers AppendJSON writes — {"person":{…}}, {"auction":{…}}, {"bid":{…}} — and also a bare
// bid object {"auction":…,"bidder":…,"price":…,"channel":…,"url":…,"dateTime":…,"extra":…}, told
// apart by whether "auction" holds an object or a number. Surrounding white space (such as the
// line's newline) is ignored. Every field is required (present and not null) except a bid's
// channel, url and extra and the extra of persons and auctions, which default to "". Unknown
// fields, more than one wrapper key, non-integer numbers and trailing data are errors; times
// must be integer epoch milliseconds. Field names are matched as encoding/json matches them
// (exact match preferred, else case-insensitively). On error e is left unchanged, and the error
// says which record and field is wrong.
func DecodeJSONLine(line []byte, e *Event) error {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return errors.New("nexmark: empty line")
	}
	if line[0] != '{' {
		return fmt.Errorf("nexmark: line is not a JSON object (starts with %q)", firstRune(line))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(line, &top); err != nil {
		return fmt.Errorf("nexmark: invalid JSON: %w", err)
	}
	if len(top) == 0 {
		return errors.New("nexmark: empty JSON object; want a person, auction or bid")
	}
	kind, body := wrapperOf(top)
	if kind == KindNone {
		for _, key := range [...]string{"person", "bid"} {
			if v, ok := top[key]; ok {
				return fmt.Errorf("nexmark: %q must hold an object, got %.20s", key, v)
			}
		}
		// A bare bid: the whole line is the bid object.
		var b Bid
		if err := decodeBid(line, &b); err != nil {
			return fmt.Errorf("nexmark: not a {\"person\"|\"auction\"|\"bid\": {…}} wrapper, and not a bare bid: %w", err)
		}
		*e = Event{Kind: KindBid, Bid: b}
		return nil
	}
	if len(top) != 1 {
		return fmt.Errorf("nexmark: %s wrapper has %d keys; want exactly one", kind, len(top))
	}
	switch kind {
	case KindPerson:
		var p Person
		if err := decodePerson(body, &p); err != nil {
			return fmt.Errorf("nexmark: person: %w", err)
		}
		*e = Event{Kind: KindPerson, Person: p}
	case KindAuction:
		var a Auction
		if err := decodeAuction(body, &a); err != nil {
			return fmt.Errorf("nexmark: auction: %w", err)
		}
		*e = Event{Kind: KindAuction, Auction: a}
	case KindBid:
		var b Bid
		if err := decodeBid(body, &b); err != nil {
			return fmt.Errorf("nexmark: bid: %w", err)
		}
		*e = Event{Kind: KindBid, Bid: b}
	}
	return nil
}

// wrapperOf finds a wrapper key of top whose value is an object, returning its kind and body,
// or KindNone when top is not a wrapper.
func wrapperOf(top map[string]json.RawMessage) (EventKind, json.RawMessage) {
	for _, w := range [...]struct {
		key  string
		kind EventKind
	}{{"person", KindPerson}, {"auction", KindAuction}, {"bid", KindBid}} {
		if v, ok := top[w.key]; ok && len(v) > 0 && v[0] == '{' {
			return w.kind, v
		}
	}
	return KindNone, nil
}

// firstRune returns the first character of b for error messages.
func firstRune(b []byte) string {
	r, _ := utf8.DecodeRune(b)
	return string(r)
}

// decodeStrict decodes the JSON object data into v, rejecting unknown fields and trailing data.
func decodeStrict(data []byte, v any) error {
	if len(data) == 0 || data[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the object")
	}
	return nil
}

// missing returns the error for a required field that is absent or null.
func missing(field string) error {
	return fmt.Errorf("field %q is missing or null", field)
}

func decodePerson(data []byte, p *Person) error {
	var w personJSON
	if err := decodeStrict(data, &w); err != nil {
		return err
	}
	switch {
	case w.ID == nil:
		return missing("id")
	case w.Name == nil:
		return missing("name")
	case w.EmailAddress == nil:
		return missing("emailAddress")
	case w.CreditCard == nil:
		return missing("creditCard")
	case w.City == nil:
		return missing("city")
	case w.State == nil:
		return missing("state")
	case w.DateTime == nil:
		return missing("dateTime")
	}
	*p = Person{ID: *w.ID, Name: *w.Name, EmailAddress: *w.EmailAddress, CreditCard: *w.CreditCard,
		City: *w.City, State: *w.State, DateTime: *w.DateTime, Extra: deref(w.Extra)}
	return nil
}

func decodeAuction(data []byte, a *Auction) error {
	var w auctionJSON
	if err := decodeStrict(data, &w); err != nil {
		return err
	}
	switch {
	case w.ID == nil:
		return missing("id")
	case w.ItemName == nil:
		return missing("itemName")
	case w.Description == nil:
		return missing("description")
	case w.InitialBid == nil:
		return missing("initialBid")
	case w.Reserve == nil:
		return missing("reserve")
	case w.DateTime == nil:
		return missing("dateTime")
	case w.Expires == nil:
		return missing("expires")
	case w.Seller == nil:
		return missing("seller")
	case w.Category == nil:
		return missing("category")
	}
	*a = Auction{ID: *w.ID, ItemName: *w.ItemName, Description: *w.Description,
		InitialBid: *w.InitialBid, Reserve: *w.Reserve, DateTime: *w.DateTime, Expires: *w.Expires,
		Seller: *w.Seller, Category: *w.Category, Extra: deref(w.Extra)}
	return nil
}

func decodeBid(data []byte, b *Bid) error {
	var w bidJSON
	if err := decodeStrict(data, &w); err != nil {
		return err
	}
	switch {
	case w.Auction == nil:
		return missing("auction")
	case w.Bidder == nil:
		return missing("bidder")
	case w.Price == nil:
		return missing("price")
	case w.DateTime == nil:
		return missing("dateTime")
	}
	*b = Bid{Auction: *w.Auction, Bidder: *w.Bidder, Price: *w.Price, Channel: deref(w.Channel),
		URL: deref(w.URL), DateTime: *w.DateTime, Extra: deref(w.Extra)}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
