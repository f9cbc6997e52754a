// Package ysb is the Yahoo Streaming Benchmark on Sluice: a deterministic generator of the
// benchmark's JSON ad events and its pipeline, which decodes the JSON, keeps the views, joins
// each ad to its campaign through an in-memory table and counts views per campaign per 10 s
// tumbling event-time window.
//
// The events have the benchmark's shape, one JSON object per line:
//
//	{"user_id":"…","page_id":"…","ad_id":"…","ad_type":"banner","event_type":"view","event_time":"1500000000000","ip_address":"1.2.3.4"}
//
// with UUIDs for the ids, ad_type one of banner, modal, sponsored-search, mail and mobile,
// event_type one of view, click and purchase, and event_time in epoch milliseconds written as a
// string of digits, as the original benchmark's generator writes it. There are 100 campaigns of
// 10 ads each (the benchmark's defaults); the original keeps the ad → campaign table in Redis,
// here it is a Go map built by the generator (Campaigns).
//
// Decoding is part of the measured work: DecodeAdEvent is a hand-written, allocation-free decoder
// for this event shape (not encoding/json), run by the source's split readers as Flink's Kafka
// source runs its deserializer. A line it cannot decode goes to the pipeline's dead-letter stream
// with the reason.
package ysb

import (
	"encoding/hex"
	"errors"
	"strconv"
)

// UUID is a 128-bit identifier, written as 36 characters: 8-4-4-4-12 lower-case hex digits.
type UUID [16]byte

// AppendText appends the UUID's canonical text form.
func (u UUID) AppendText(dst []byte) ([]byte, error) { return appendUUID(dst, u), nil }

// String returns the canonical text form.
func (u UUID) String() string { return string(appendUUID(nil, u)) }

// MarshalText returns the canonical text form.
func (u UUID) MarshalText() ([]byte, error) { return appendUUID(nil, u), nil }

// UnmarshalText parses the canonical form (hex digits of either case).
func (u *UUID) UnmarshalText(b []byte) error {
	v, ok := parseUUID(b)
	if !ok {
		return errors.New("ysb: invalid UUID " + strconv.Quote(string(b)))
	}
	*u = v
	return nil
}

const uuidLen = 36

func appendUUID(dst []byte, u UUID) []byte {
	var b [uuidLen]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return append(dst, b[:]...)
}

// unhex maps a byte to its hex value, or 0xff.
var unhex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
		t[c-'a'+'A'] = byte(c - 'a' + 10)
	}
	return t
}()

// uuidPairs are the offsets of the 16 hex pairs in the text form.
var uuidPairs = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

func parseUUID(b []byte) (u UUID, ok bool) {
	if len(b) != uuidLen {
		return u, false
	}
	p := (*[uuidLen]byte)(b)
	if p[8] != '-' || p[13] != '-' || p[18] != '-' || p[23] != '-' {
		return u, false
	}
	var bad byte // an invalid digit maps to 0xff and sets the high bits
	for i, at := range uuidPairs {
		hi, lo := unhex[p[at]], unhex[p[at+1]]
		bad |= hi | lo
		u[i] = hi<<4 | lo
	}
	return u, bad < 16
}

// AdType is the kind of ad an event is about.
type AdType uint8

// The ad types of the benchmark.
const (
	Banner AdType = iota
	Modal
	SponsoredSearch
	Mail
	Mobile
	numAdTypes
)

var adTypeNames = [numAdTypes]string{"banner", "modal", "sponsored-search", "mail", "mobile"}

// String returns the type's name in the events ("banner", "sponsored-search", …).
func (t AdType) String() string {
	if t < numAdTypes {
		return adTypeNames[t]
	}
	return "AdType(" + strconv.Itoa(int(t)) + ")"
}

// EventType is what the user did with the ad.
type EventType uint8

// The event types of the benchmark.
const (
	View EventType = iota
	Click
	Purchase
	numEventTypes
)

var eventTypeNames = [numEventTypes]string{"view", "click", "purchase"}

// String returns the type's name in the events ("view", "click", "purchase").
func (t EventType) String() string {
	if t < numEventTypes {
		return eventTypeNames[t]
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// AdEvent is one event of the benchmark, decoded.
type AdEvent struct {
	// UserID identifies the user who saw the ad.
	UserID UUID
	// PageID identifies the page the ad was on.
	PageID UUID
	// AdID identifies the ad; Campaigns maps it to its campaign.
	AdID UUID
	// AdType is the kind of ad.
	AdType AdType
	// EventType is what the user did: the benchmark counts views.
	EventType EventType
	// EventTime is the event time in epoch milliseconds.
	EventTime int64
	// IPAddress is the user's IPv4 address.
	IPAddress [4]byte
}

// AppendJSON appends e as one JSON object in the benchmark's format, without a newline, with
// the fields in the benchmark's order and event_time as a string of digits.
func AppendJSON(dst []byte, e *AdEvent) []byte {
	dst = append(dst, `{"user_id":"`...)
	dst = appendUUID(dst, e.UserID)
	dst = append(dst, `","page_id":"`...)
	dst = appendUUID(dst, e.PageID)
	dst = append(dst, `","ad_id":"`...)
	dst = appendUUID(dst, e.AdID)
	dst = append(dst, `","ad_type":"`...)
	dst = append(dst, e.AdType.String()...)
	dst = append(dst, `","event_type":"`...)
	dst = append(dst, e.EventType.String()...)
	dst = append(dst, `","event_time":"`...)
	dst = strconv.AppendInt(dst, e.EventTime, 10)
	dst = append(dst, `","ip_address":"`...)
	dst = appendIPv4(dst, e.IPAddress)
	return append(dst, `"}`...)
}

func appendIPv4(dst []byte, ip [4]byte) []byte {
	for i, b := range ip {
		if i > 0 {
			dst = append(dst, '.')
		}
		dst = strconv.AppendUint(dst, uint64(b), 10)
	}
	return dst
}
