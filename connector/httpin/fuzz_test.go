package httpin

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// fuzzBatches cuts data into payloads (at 0x00 bytes, empty pieces dropped) grouped into batches:
// a payload of odd length ends its batch, and so does the last.
func fuzzBatches(data []byte) [][][]byte {
	var batches [][][]byte
	var cur [][]byte
	for _, p := range bytes.Split(data, []byte{0}) {
		if len(p) == 0 {
			continue
		}
		cur = append(cur, p)
		if len(p)%2 == 1 {
			batches, cur = append(batches, cur), nil
		}
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	return batches
}

type frameRec struct {
	payload string
	last    bool
}

func scanAll(t *testing.T, data []byte) (scanResult, []frameRec, error) {
	var got []frameRec
	res, err := scanSegment(bytes.NewReader(data), int64(len(data)), 1, func(p []byte, last bool) {
		got = append(got, frameRec{string(p), last})
	})
	return res, got, err
}

// FuzzLogReader checks the segment decoder:
//   - arbitrary bytes never make it panic, and the part it accepts is exactly the encoding of
//     the frames it returns (nothing is misread);
//   - a segment of valid frames round-trips;
//   - cut anywhere (a torn write), or followed by zeros (a preallocated tail), it yields exactly
//     the batches that are whole before the cut, and its valid end is the end of the last one;
//   - positions decode only from their canonical encoding.
func FuzzLogReader(f *testing.F) {
	valid := appendHeader(nil, 1)
	valid = appendFrame(valid, []byte(`{"id":1}`), false)
	valid = appendFrame(valid, []byte(`{"id":2}`), true)
	f.Add(valid, uint16(0))
	f.Add(valid[:len(valid)-3], uint16(40))
	f.Add(append(bytes.Clone(valid), 0, 0, 0, 0, 0, 0, 0, 0), uint16(7))
	f.Add([]byte("a\x00bb\x00ccc\x00dddd\x00e"), uint16(100))
	f.Add([]byte{1, 1, 24}, uint16(3))
	f.Add([]byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		// Arbitrary bytes, with and without a valid header in front.
		for _, seg := range [][]byte{data, append(appendHeader(nil, 1), data...)} {
			res, got, err := scanAll(t, seg)
			if err != nil {
				if !errors.Is(err, errBadHeader) {
					t.Fatalf("scan error %v", err)
				}
				continue
			}
			if res.end < headerSize || res.end > int64(len(seg)) || res.records != len(got) {
				t.Fatalf("end %d of %d bytes, %d records, %d frames", res.end, len(seg), res.records, len(got))
			}
			re := appendHeader(nil, 1)
			for _, fr := range got {
				re = appendFrame(re, []byte(fr.payload), fr.last)
			}
			if !bytes.Equal(re, seg[:res.end]) {
				t.Fatalf("the accepted part does not re-encode to itself")
			}
		}

		// A valid segment built from the data, then torn.
		batches := fuzzBatches(data)
		seg := appendHeader(nil, 1)
		var want []frameRec
		var ends []int // end offset of each batch
		for _, b := range batches {
			for i, p := range b {
				seg = appendFrame(seg, p, i == len(b)-1)
				want = append(want, frameRec{string(p), i == len(b)-1})
			}
			ends = append(ends, len(seg))
		}
		res, got, err := scanAll(t, seg)
		if err != nil || res.end != int64(len(seg)) || res.stop != "" || len(got) != len(want) || res.batches != len(batches) {
			t.Fatalf("valid segment: %+v, %d frames of %d, %v", res, len(got), len(want), err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("frame %d: %+v, want %+v", i, got[i], want[i])
			}
		}
		zeros := append(bytes.Clone(seg), make([]byte, int(cut)%100+1)...)
		if res, got, err := scanAll(t, zeros); err != nil || res.end != int64(len(seg)) || len(got) != len(want) || res.stop == "" {
			t.Fatalf("zero-filled tail: %+v, %d frames, %v", res, len(got), err)
		}
		at := int(cut) % (len(seg) + 1)
		res, got, err = scanAll(t, seg[:at])
		if at < headerSize {
			if !errors.Is(err, errBadHeader) {
				t.Fatalf("cut in the header: %v", err)
			}
			return
		}
		wantEnd, wantFrames := headerSize, 0
		for i, e := range ends {
			if e <= at {
				wantEnd, wantFrames = e, wantFrames+len(batches[i])
			}
		}
		if err != nil || res.end != int64(wantEnd) || len(got) != wantFrames {
			t.Fatalf("cut at %d: %+v, %d frames; want end %d, %d frames (%v)", at, res, len(got), wantEnd, wantFrames, err)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("cut at %d, frame %d: %+v, want %+v", at, i, got[i], want[i])
			}
		}

		// Positions.
		if p, err := decodePosition(data); err == nil && !bytes.Equal(p.encode(), data) {
			t.Fatalf("position %x decodes to %v, which encodes to %x", data, p, p.encode())
		}
	})
}

// FuzzSplitBody checks how a body is cut into records: never a panic; a valid JSON array yields
// exactly the elements encoding/json sees; an array whose elements are all valid is valid JSON;
// lines hold no line break and come in order.
func FuzzSplitBody(f *testing.F) {
	for _, s := range []string{`[1, {"a":[2,"]"]}, "x\"y"]`, `[]`, ` [ {"a":1} , ] `, `[1}`, `[1] x`, "{\"a\":1}\n\n{b}\r\n",
		`["\\"]`, `{"a":` + "\n" + `1}`, "\xef\xbb\xbf[1]", `[[[[`} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, whole bool) {
		recs, err := splitBody(body, whole)
		trimmed := trimJSONSpace(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")))
		isArray := len(trimmed) > 0 && trimmed[0] == '['
		if isArray && json.Valid(trimmed) {
			var elems []json.RawMessage
			if err := json.Unmarshal(trimmed, &elems); err != nil {
				t.Fatal(err)
			}
			if err != nil || len(recs) != len(elems) {
				t.Fatalf("valid array: %d records, %d elements, %v", len(recs), len(elems), err)
			}
			for i, e := range elems {
				if !bytes.Equal(recs[i].data, trimJSONSpace(e)) || recs[i].index != i || !recs[i].element {
					t.Fatalf("element %d: %q, want %q", i, recs[i].data, e)
				}
			}
			return
		}
		if whole && !isArray && len(trimmed) > 0 && json.Valid(trimmed) {
			if err != nil || len(recs) != 1 || !bytes.Equal(recs[0].data, trimmed) {
				t.Fatalf("one JSON value: %+v, %v", recs, err)
			}
			return
		}
		if err != nil {
			if !isArray {
				t.Fatalf("a body that is not an array failed: %v", err)
			}
			return
		}
		if isArray {
			for _, r := range recs {
				if len(r.data) == 0 || !json.Valid(r.data) {
					return // rejected on its own
				}
			}
			t.Fatalf("every element of %q is valid JSON, but the array is not", trimmed)
		}
		for i, r := range recs {
			if bytes.ContainsAny(r.data, "\n") || len(trimJSONSpace(r.data)) == 0 || (i > 0 && r.index <= recs[i-1].index) {
				t.Fatalf("record %d: %+v", i, r)
			}
		}
	})
}
