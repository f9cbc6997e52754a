package ysb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// jsonAdEvent is the event as encoding/json reads it: the reference for DecodeAdEvent.
type jsonAdEvent struct {
	UserID    *string         `json:"user_id"`
	PageID    *string         `json:"page_id"`
	AdID      *string         `json:"ad_id"`
	AdType    *string         `json:"ad_type"`
	EventType *string         `json:"event_type"`
	EventTime json.RawMessage `json:"event_time"`
	IPAddress *string         `json:"ip_address"`
}

// decodeReference decodes line with encoding/json and converts the result with the package's
// value parsers; ok is false when encoding/json fails or a field is missing or invalid.
func decodeReference(line []byte) (e AdEvent, ok bool) {
	var j jsonAdEvent
	if err := json.Unmarshal(line, &j); err != nil {
		return e, false
	}
	if j.UserID == nil || j.PageID == nil || j.AdID == nil || j.AdType == nil || j.EventType == nil ||
		j.EventTime == nil || j.IPAddress == nil {
		return e, false
	}
	var good [7]bool
	e.UserID, good[0] = parseUUID([]byte(*j.UserID))
	e.PageID, good[1] = parseUUID([]byte(*j.PageID))
	e.AdID, good[2] = parseUUID([]byte(*j.AdID))
	e.AdType, good[3] = parseAdType([]byte(*j.AdType))
	e.EventType, good[4] = parseEventType([]byte(*j.EventType))
	e.IPAddress, good[5] = parseIPv4([]byte(*j.IPAddress))
	var s string
	var n int64
	switch {
	case json.Unmarshal(j.EventTime, &s) == nil:
		e.EventTime, good[6] = parseInt([]byte(s))
	case json.Unmarshal(j.EventTime, &n) == nil:
		e.EventTime, good[6] = n, true
	}
	for _, g := range good {
		if !g {
			return e, false
		}
	}
	return e, true
}

func randomEvent(r *rand.Rand) AdEvent {
	var e AdEvent
	for _, u := range []*UUID{&e.UserID, &e.PageID, &e.AdID} {
		for i := range u {
			u[i] = byte(r.Uint32())
		}
	}
	e.AdType = AdType(r.IntN(int(numAdTypes)))
	e.EventType = EventType(r.IntN(int(numEventTypes)))
	switch r.IntN(4) {
	case 0:
		e.EventTime = r.Int64() - r.Int64()
	default:
		e.EventTime = 1_400_000_000_000 + r.Int64N(400_000_000_000)
	}
	for i := range e.IPAddress {
		e.IPAddress[i] = byte(r.Uint32())
	}
	return e
}

// writer renders JSON with random white space, escapes, field order and extra fields.
type writer struct {
	r *rand.Rand
	b bytes.Buffer
}

func (w *writer) ws() {
	for w.r.IntN(3) == 0 {
		w.b.WriteByte(" \t\n\r"[w.r.IntN(4)])
	}
}

// str writes s as a JSON string, escaping some characters that need no escape.
func (w *writer) str(s string) {
	w.b.WriteByte('"')
	for _, c := range []byte(s) {
		switch {
		case c == '"' || c == '\\':
			w.b.WriteByte('\\')
			w.b.WriteByte(c)
		case c < 0x20 || w.r.IntN(20) == 0:
			fmt.Fprintf(&w.b, `\u%04x`, c)
		case c == '/' && w.r.IntN(2) == 0:
			w.b.WriteString(`\/`)
		default:
			w.b.WriteByte(c)
		}
	}
	w.b.WriteByte('"')
}

// value writes a random JSON value nested at most depth deep.
func (w *writer) value(depth int) {
	switch k := w.r.IntN(8); {
	case k == 0 && depth > 0:
		w.b.WriteByte('{')
		for i := range w.r.IntN(3) {
			if i > 0 {
				w.b.WriteByte(',')
			}
			w.ws()
			w.str(fmt.Sprint("k", i))
			w.ws()
			w.b.WriteByte(':')
			w.ws()
			w.value(depth - 1)
			w.ws()
		}
		w.b.WriteByte('}')
	case k == 1 && depth > 0:
		w.b.WriteByte('[')
		for i := range w.r.IntN(3) {
			if i > 0 {
				w.b.WriteByte(',')
			}
			w.ws()
			w.value(depth - 1)
			w.ws()
		}
		w.b.WriteByte(']')
	case k == 2:
		w.str([]string{"", "x", "é", "日本", "\x01\"\\", "\U0001F600", "view"}[w.r.IntN(7)])
	case k == 3:
		w.b.WriteString([]string{"0", "-1", "12.5e-3", "1E10", "-0.0"}[w.r.IntN(5)])
	default:
		w.b.WriteString([]string{"true", "false", "null"}[w.r.IntN(3)])
	}
}

// event renders e with the fields in random order, random white space and extra fields.
func (w *writer) event(e *AdEvent) []byte {
	w.b.Reset()
	fields := []func(){
		func() { w.str("user_id"); w.colon(); w.str(e.UserID.String()) },
		func() { w.str("page_id"); w.colon(); w.str(e.PageID.String()) },
		func() { w.str("ad_id"); w.colon(); w.str(e.AdID.String()) },
		func() { w.str("ad_type"); w.colon(); w.str(e.AdType.String()) },
		func() { w.str("event_type"); w.colon(); w.str(e.EventType.String()) },
		func() {
			w.str("event_time")
			w.colon()
			if w.r.IntN(2) == 0 {
				w.str(strconv.FormatInt(e.EventTime, 10))
			} else {
				w.b.WriteString(strconv.FormatInt(e.EventTime, 10))
			}
		},
		func() { w.str("ip_address"); w.colon(); w.str(string(appendIPv4(nil, e.IPAddress))) },
	}
	for range w.r.IntN(3) {
		fields = append(fields, func() { w.str(fmt.Sprint("extra", w.r.IntN(100))); w.colon(); w.value(3) })
	}
	w.r.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
	w.ws()
	w.b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			w.b.WriteByte(',')
		}
		w.ws()
		f()
		w.ws()
	}
	w.b.WriteByte('}')
	w.ws()
	return bytes.Clone(w.b.Bytes())
}

func (w *writer) colon() {
	w.ws()
	w.b.WriteByte(':')
	w.ws()
}

// TestDecodeMatchesEncodingJSON decodes random events, rendered with random field order, white
// space, escapes and extra fields, with DecodeAdEvent and with encoding/json.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	w := &writer{r: r}
	for i := range 5_000 {
		want := randomEvent(r)
		line := w.event(&want)
		ref, ok := decodeReference(line)
		if !ok || ref != want {
			t.Fatalf("case %d: encoding/json reads %s as %+v (ok %v), want %+v", i, line, ref, ok, want)
		}
		var got AdEvent
		if err := DecodeAdEvent(line, &got); err != nil {
			t.Fatalf("case %d: %s: %v", i, line, err)
		}
		if got != want {
			t.Fatalf("case %d: %s:\ngot  %+v\nwant %+v", i, line, got, want)
		}
		if plain := AppendJSON(nil, &want); !bytes.Equal(plain, mustMarshalCanonical(t, &want)) {
			t.Fatalf("case %d: AppendJSON %s differs from encoding/json %s", i, plain, mustMarshalCanonical(t, &want))
		}
	}
}

// mustMarshalCanonical renders e with encoding/json in the benchmark's field order.
func mustMarshalCanonical(t *testing.T, e *AdEvent) []byte {
	t.Helper()
	b, err := json.Marshal(struct {
		UserID    string `json:"user_id"`
		PageID    string `json:"page_id"`
		AdID      string `json:"ad_id"`
		AdType    string `json:"ad_type"`
		EventType string `json:"event_type"`
		EventTime string `json:"event_time"`
		IPAddress string `json:"ip_address"`
	}{e.UserID.String(), e.PageID.String(), e.AdID.String(), e.AdType.String(), e.EventType.String(),
		strconv.FormatInt(e.EventTime, 10), string(appendIPv4(nil, e.IPAddress))})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeIsNoMoreLenientThanEncodingJSON corrupts valid lines at random: whenever
// DecodeAdEvent accepts one, encoding/json must accept it too, with the same values.
func TestDecodeIsNoMoreLenientThanEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	w := &writer{r: r}
	alphabet := []byte("{}[]\":,\\ u0aA-.e1/\x00\x1f\xff")
	accepted := 0
	for i := range 20_000 {
		e := randomEvent(r)
		line := w.event(&e)
		for range 1 + r.IntN(3) {
			p := r.IntN(len(line))
			switch r.IntN(3) {
			case 0:
				line[p] = alphabet[r.IntN(len(alphabet))]
			case 1:
				line = append(line[:p], line[p+1:]...)
			default:
				line = append(line[:p], append([]byte{alphabet[r.IntN(len(alphabet))]}, line[p:]...)...)
			}
			if len(line) == 0 {
				line = []byte("{")
			}
		}
		var got AdEvent
		err := DecodeAdEvent(line, &got)
		ref, ok := decodeReference(line)
		switch {
		case err == nil && (!ok || ref != got):
			t.Fatalf("case %d: DecodeAdEvent accepts %q as %+v; encoding/json: %+v, ok %v", i, line, got, ref, ok)
		case err == nil:
			accepted++
		}
	}
	t.Logf("%d of 20000 corrupted lines still decode (and agree with encoding/json)", accepted)
}

func TestDecodeErrors(t *testing.T) {
	g := NewGenerator(Config{})
	valid := string(g.AppendLine(nil, 7))
	cases := map[string]string{
		"empty":              ``,
		"not an object":      `[]`,
		"missing field":      strings.Replace(valid, `"ip_address":"1.2.3.4"`, `"ip":"1.2.3.4"`, 1),
		"null field":         strings.Replace(valid, `"ip_address":"1.2.3.4"`, `"ip_address":null`, 1),
		"bad uuid":           strings.Replace(valid, `"user_id":"`, `"user_id":"x`, 1),
		"bad ad type":        strings.Replace(valid, `"ad_type":"`, `"ad_type":"x`, 1),
		"bad event type":     strings.Replace(valid, `"event_type":"`, `"event_type":"x`, 1),
		"fractional time":    strings.Replace(valid, `"event_time":"`, `"event_time":1.5,"x":"`, 1),
		"time overflow":      strings.Replace(valid, `"event_time":"`, `"event_time":"99999999999999999999`, 1),
		"octet > 255":        strings.Replace(valid, `1.2.3.4`, `1.2.3.256`, 1),
		"leading zero octet": strings.Replace(valid, `1.2.3.4`, `1.2.3.04`, 1),
		"trailing data":      valid + `x`,
		"trailing comma":     strings.TrimSuffix(valid, `}`) + `,}`,
		"unterminated":       strings.TrimSuffix(valid, `"}`),
		"control char":       strings.Replace(valid, `"ad_type":"`, "\"ad_type\":\"\x01", 1),
		"bad escape":         strings.Replace(valid, `"ad_type":"`, `"ad_type":"\x`, 1),
		"deep extra":         strings.TrimSuffix(valid, `}`) + `,"x":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`,
	}
	for name, line := range cases {
		var e AdEvent
		if err := DecodeAdEvent([]byte(line), &e); err == nil {
			t.Errorf("%s: %q decoded without error", name, line)
		} else if e != (AdEvent{}) {
			t.Errorf("%s: the event changed on error", name)
		}
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	g := NewGenerator(Config{})
	line := g.AppendLine(nil, 42)
	var e AdEvent
	if n := testing.AllocsPerRun(1000, func() {
		if err := DecodeAdEvent(line, &e); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("DecodeAdEvent allocates %v times per event", n)
	}
	escaped := []byte(strings.Replace(string(line), `"ad_type":"`, `"ad_type":"\u006d\u006fbile`+"\"\n,\"x\":[{\"y\":\"\\u00e9\"}],\"z\":\"", 1))
	if err := DecodeAdEvent(escaped, &e); err != nil || e.AdType != Mobile {
		t.Fatalf("escaped line: %v, %v", err, e.AdType)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = DecodeAdEvent(escaped, &e) }); n != 0 {
		t.Fatalf("DecodeAdEvent allocates %v times per escaped event", n)
	}
}

// FuzzDecodeAdEvent checks that DecodeAdEvent never panics, that what it accepts re-encodes to
// the same event, and that it accepts nothing encoding/json rejects.
func FuzzDecodeAdEvent(f *testing.F) {
	g := NewGenerator(Config{})
	for n := range int64(5) {
		f.Add(g.AppendLine(nil, n))
	}
	f.Add([]byte(`{"user_id":"00000000-0000-4000-8000-000000000000","page_id":"00000000-0000-4000-8000-000000000000","ad_id":"00000000-0000-4000-8000-000000000000","ad_type":"m\u0061il","event_type":"click","event_time":-5,"ip_address":"0.0.0.0","x":[1,{"a":null}]}`))
	f.Add([]byte(`{"USER_ID":"\ud83d\ude00"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var e AdEvent
		if err := DecodeAdEvent(line, &e); err != nil {
			return
		}
		again := AppendJSON(nil, &e)
		var e2 AdEvent
		if err := DecodeAdEvent(again, &e2); err != nil || e2 != e {
			t.Fatalf("%q decodes to %+v, which re-encodes to %q and decodes to %+v (%v)", line, e, again, e2, err)
		}
		if ref, ok := decodeReference(line); !ok || ref != e {
			t.Fatalf("%q decodes to %+v; encoding/json: %+v (ok %v)", line, e, ref, ok)
		}
	})
}

func BenchmarkDecodeAdEvent(b *testing.B) {
	g := NewGenerator(Config{})
	lines := make([][]byte, 1024)
	size := 0
	for i := range lines {
		lines[i] = g.AppendLine(nil, int64(i))
		size += len(lines[i])
	}
	var e AdEvent
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := DecodeAdEvent(lines[i%len(lines)], &e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGenerateLine(b *testing.B) {
	g := NewGenerator(Config{})
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for i := int64(0); b.Loop(); i++ {
		buf = g.AppendLine(buf[:0], i)
	}
}
