package nexmark

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestJSONRoundTripGenerated(t *testing.T) {
	for name, cfg := range goldenConfigs {
		var buf []byte
		var got Event
		for i, e := range generate(t, cfg, 2000) {
			buf = AppendJSON(buf[:0], &e)
			if !json.Valid(buf) {
				t.Fatalf("%s event %d: invalid JSON %s", name, i, buf)
			}
			if err := DecodeJSONLine(buf, &got); err != nil {
				t.Fatalf("%s event %d: %v\n%s", name, i, err, buf)
			}
			if got != e {
				t.Fatalf("%s event %d: round trip gives %+v, want %+v", name, i, got, e)
			}
		}
	}
}

// TestAppendJSONMatchesEncodingJSON checks the hand-written encoder against encoding/json for
// awkward strings (quotes, backslashes, control characters, invalid UTF-8, non-ASCII).
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", `q"uo\te`, "tab\tnl\nret\r", "\x00\x01\x1f\x7f", "héllo ✓ 𝄞",
		"bad\xffutf8\xc3", "\u2028\u2029", "<&>", "trail\\"}
	for _, s := range strs {
		e := Event{Kind: KindBid, Bid: Bid{Auction: -1, Bidder: 1 << 62, Price: 0, Channel: s, URL: s, DateTime: -5, Extra: s}}
		got := AppendJSON(nil, &e)
		var back map[string]Bid
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q: AppendJSON gives invalid JSON %s: %v", s, got, err)
		}
		want, _ := json.Marshal(s) // encoding/json's reading of s (invalid UTF-8 → U+FFFD)
		var ws string
		_ = json.Unmarshal(want, &ws)
		if b := back["bid"]; b.Extra != ws || b.Channel != ws || b.URL != ws || b.Bidder != 1<<62 || b.DateTime != -5 {
			t.Fatalf("%q: decoded back as %+v, want strings %q", s, b, ws)
		}
	}
}

func TestAppendJSONShapes(t *testing.T) {
	p := Event{Kind: KindPerson, Person: Person{ID: 1, Name: "n", EmailAddress: "e", CreditCard: "c", City: "ci", State: "s", DateTime: 2, Extra: "x"}}
	a := Event{Kind: KindAuction, Auction: Auction{ID: 1, ItemName: "i", Description: "d", InitialBid: 2, Reserve: 3, DateTime: 4, Expires: 5, Seller: 6, Category: 7, Extra: "x"}}
	b := Event{Kind: KindBid, Bid: Bid{Auction: 1, Bidder: 2, Price: 3, Channel: "ch", URL: "u", DateTime: 4, Extra: "x"}}
	for _, c := range []struct {
		e    Event
		want string
	}{
		{p, `{"person":{"id":1,"name":"n","emailAddress":"e","creditCard":"c","city":"ci","state":"s","dateTime":2,"extra":"x"}}`},
		{a, `{"auction":{"id":1,"itemName":"i","description":"d","initialBid":2,"reserve":3,"dateTime":4,"expires":5,"seller":6,"category":7,"extra":"x"}}`},
		{b, `{"bid":{"auction":1,"bidder":2,"price":3,"channel":"ch","url":"u","dateTime":4,"extra":"x"}}`},
	} {
		if got := string(AppendJSON([]byte("prefix "), &c.e)); got != "prefix "+c.want {
			t.Errorf("got  %s\nwant prefix %s", got, c.want)
		}
		// The struct tags agree with the hand-written encoder.
		var viaTags []byte
		switch c.e.Kind {
		case KindPerson:
			viaTags, _ = json.Marshal(map[string]Person{"person": c.e.Person})
		case KindAuction:
			viaTags, _ = json.Marshal(map[string]Auction{"auction": c.e.Auction})
		case KindBid:
			viaTags, _ = json.Marshal(map[string]Bid{"bid": c.e.Bid})
		}
		if string(viaTags) != c.want {
			t.Errorf("encoding/json with the struct tags gives\n%s\nwant\n%s", viaTags, c.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("AppendJSON of a KindNone event did not panic")
		}
	}()
	AppendJSON(nil, &Event{})
}

func TestDecodeJSONLine(t *testing.T) {
	var e Event
	bare := `{"auction":1001,"bidder":1002,"price":345,"channel":"Google","url":"https://x/y","dateTime":1436918400000,"extra":""}` + "\r\n"
	if err := DecodeJSONLine([]byte(bare), &e); err != nil {
		t.Fatalf("bare bid: %v", err)
	}
	want := Event{Kind: KindBid, Bid: Bid{Auction: 1001, Bidder: 1002, Price: 345, Channel: "Google", URL: "https://x/y", DateTime: 1436918400000}}
	if e != want {
		t.Fatalf("bare bid: got %+v", e)
	}
	// Decoding replaces the whole event, including records of another kind.
	if err := DecodeJSONLine([]byte(`{"person":{"id":7,"name":"a b","emailAddress":"x@y.com","creditCard":"1","city":"Kent","state":"WA","dateTime":3}}`), &e); err != nil {
		t.Fatal(err)
	}
	if e.Kind != KindPerson || e.Person.ID != 7 || e.Bid != (Bid{}) || e.Person.Extra != "" {
		t.Fatalf("person: got %+v", e)
	}
	// A Beam-style bid without channel and url.
	if err := DecodeJSONLine([]byte(`{"bid":{"auction":1,"bidder":2,"price":3,"dateTime":4,"extra":"z"}}`), &e); err != nil {
		t.Fatal(err)
	}

	errs := []struct{ line, want string }{
		{"", "empty line"},
		{"   \n", "empty line"},
		{"[1,2]", "not a JSON object"},
		{"{", "invalid JSON"},
		{"{}", "empty JSON object"},
		{`{"bid":{"auction":1,"bidder":2,"price":3,"dateTime":4}} x`, "invalid JSON"},
		{`{"person":{"id":1},"bid":{"auction":1}}`, "wrapper has 2 keys"},
		{`{"person":5}`, `"person" must hold an object`},
		{`{"bid":"x"}`, `"bid" must hold an object`},
		{`{"person":{"id":1,"name":"a","emailAddress":"e","creditCard":"c","city":"c","state":"s"}}`, `person: field "dateTime" is missing or null`},
		{`{"auction":{"id":1,"itemName":"a","description":"d","initialBid":1,"reserve":2,"dateTime":3,"expires":4,"seller":5}}`, `auction: field "category" is missing`},
		{`{"bid":{"auction":1,"bidder":2,"price":null,"dateTime":4}}`, `bid: field "price" is missing or null`},
		{`{"bid":{"auction":1,"bidder":2,"price":3,"dateTime":4,"colour":"red"}}`, `bid: json: unknown field "colour"`},
		{`{"bid":{"auction":1,"bidder":2,"price":3.5,"dateTime":4}}`, `price`},
		{`{"bid":{"auction":1,"bidder":2,"price":3,"dateTime":"2015-07-15 00:00:00"}}`, `dateTime`},
		{`{"auction":1,"bidder":2,"dateTime":4}`, `not a bare bid: field "price" is missing`},
		{`{"foo":1}`, `not a bare bid: json: unknown field "foo"`},
	}
	for _, c := range errs {
		before := e
		err := DecodeJSONLine([]byte(c.line), &e)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.line, err, c.want)
		}
		if e != before {
			t.Errorf("%q: failed decode changed the event", c.line)
		}
	}
}

// FuzzDecodeJSONLine checks that DecodeJSONLine never panics, and that whatever it accepts
// re-encodes (AppendJSON) to valid JSON that decodes to the same event.
func FuzzDecodeJSONLine(f *testing.F) {
	var buf []byte
	for _, e := range generate(f, DefaultConfig(), 60) {
		buf = AppendJSON(buf[:0], &e)
		f.Add(append([]byte(nil), buf...))
	}
	for _, s := range []string{
		`{"auction":1001,"bidder":1002,"price":345,"channel":"c","url":"u","dateTime":1,"extra":"\u0000\"\\"}`,
		`{"bid":{"auction":1,"bidder":2,"price":3,"dateTime":4,"extra":"\ud800"}}`,
		`{"person":{"id":1,"name":"é","emailAddress":"e","creditCard":"c","city":"c","state":"s","dateTime":-9,"extra":"\u2028"}}`,
		`{"auction":{"id":1,"itemName":"a","description":"d","initialBid":1,"reserve":2,"dateTime":3,"expires":4,"seller":5,"category":6}}`,
		`{"PRICE":1,"Auction":2,"bidder":3,"dateTime":4}`,
		`{"person":{}}`, `{"bid":null}`, `null`, `{"auction":{"id":1e3}}`, "{\"extra\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var e Event
		if err := DecodeJSONLine(line, &e); err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if e.Kind != KindPerson && e.Kind != KindAuction && e.Kind != KindBid {
			t.Fatalf("decoded kind %v", e.Kind)
		}
		out := AppendJSON(nil, &e)
		if !json.Valid(out) {
			t.Fatalf("re-encoding is invalid JSON: %s", out)
		}
		var again Event
		if err := DecodeJSONLine(out, &again); err != nil {
			t.Fatalf("re-encoded line does not decode: %v\n%s", err, out)
		}
		if again != e {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", e, again)
		}
	})
}
