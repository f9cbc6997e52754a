package file

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// physicalLines splits data the way lineReader does, independently of it: a byte-order mark at
// the start is dropped, lines end at "\n", and one "\r" before the end of a line is dropped.
func physicalLines(data []byte) [][]byte {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if len(data) == 0 {
		return nil
	}
	lines := bytes.Split(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		lines[i] = bytes.TrimSuffix(l, []byte("\r"))
	}
	return lines
}

// lineOf returns the first line number of a reason "path:N: …" or "path:N-M: …".
func lineOf(t *testing.T, path, reason string) int {
	t.Helper()
	rest, ok := strings.CutPrefix(reason, path+":")
	if !ok {
		t.Fatalf("reason %q does not name the file", reason)
	}
	num, _, _ := strings.Cut(rest, ":")
	num, _, _ = strings.Cut(num, "-")
	n, err := strconv.Atoi(num)
	if err != nil {
		t.Fatalf("reason %q does not name the line", reason)
	}
	return n
}

type fuzzRecord struct {
	ID   int64              `json:"id"`
	Name string             `json:"name"`
	Tags []string           `json:"tags"`
	M    map[string]float64 `json:"m"`
}

// FuzzJSONLinesReader reads arbitrary bytes as a JSON-lines file: it never panics, and every line
// that is not blank is either decoded (exactly when encoding/json decodes it and it fits the line
// limit) or rejected, once, in order.
func FuzzJSONLinesReader(f *testing.F) {
	f.Add([]byte(`{"id":1,"name":"a","tags":["x"]}`+"\n\n"+`{"id":"2"}`+"\r\n  \nnope\n{}"), uint16(100), uint8(3))
	f.Add([]byte("\xef\xbb\xbf{\"m\":{\"a\":1.5}}\n"+strings.Repeat(" ", 40)+"\n"+strings.Repeat("[", 70)), uint16(30), uint8(1))
	f.Add([]byte("null\n\"str\"\n[1,2]\n{\"id\":1e99}\n{\"name\":\"\xff\"}"), uint16(500), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, maxLine uint16, batch uint8) {
		max := int(maxLine%300) + 1
		wantDecoded, wantRejected := 0, 0
		for _, l := range physicalLines(data) {
			switch {
			case len(l) > max:
				wantRejected++
			case isBlank(l):
			case json.Unmarshal(l, new(fuzzRecord)) == nil:
				wantDecoded++
			default:
				wantRejected++
			}
		}

		r := &jsonReader[fuzzRecord]{split: split{path: "fuzz.jsonl", max: max}}
		r.lines = newLineReader(bytes.NewReader(data), max, 16)
		rejected, last := 0, 0
		r.SetReject(func(reason string, raw any) {
			rejected++
			if n := lineOf(t, "fuzz.jsonl", reason); n <= last {
				t.Fatalf("reject of line %d after line %d", n, last)
			} else {
				last = n
			}
			if _, ok := raw.(string); !ok {
				t.Fatalf("raw %T", raw)
			}
		})
		decoded := 0
		buf := make([]fuzzRecord, 0, int(batch%8)+1)
		for reads := 0; ; reads++ {
			var err error
			buf, err = r.Read(context.Background(), buf[:0])
			decoded += len(buf)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if reads > len(data)+1 {
				t.Fatal("the reader makes no progress")
			}
		}
		if decoded != wantDecoded || rejected != wantRejected {
			t.Fatalf("decoded %d and rejected %d, want %d and %d", decoded, rejected, wantDecoded, wantRejected)
		}
	})
}

// csvRecords reads every record of data with csvReader.next.
func csvRecords(t *testing.T, data []byte, max int, comma rune) []csvRecord {
	t.Helper()
	r := &csvReader[[]string]{split: split{path: "fuzz.csv", max: max},
		parser: csvParser{comma: utf8.AppendRune(nil, comma)}}
	r.lines = newLineReader(bytes.NewReader(data), max, 16)
	var recs []csvRecord
	for {
		rec, err := r.next()
		if errors.Is(err, io.EOF) {
			return recs
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
}

// FuzzCSVReader reads arbitrary bytes as a CSV file. It checks that the reader never panics; that
// records cover every non-empty line exactly once, in order; that with no line limit they are
// encoding/csv's records (or errors where it has errors); and that every record is either decoded
// or rejected.
func FuzzCSVReader(f *testing.F) {
	f.Add([]byte("name,count\na,1\n\n\"b,\"\"c\"\"\",2\r\n\"multi\nline\",3\nbad\"quote,4\n\"x\"y,5\n\"open,6"), uint16(100), uint8(0))
	f.Add([]byte("\xef\xbb\xbfname;count\n\"a\";;\n"+strings.Repeat("z", 90)+"\n,\n"), uint16(40), uint8(1))
	f.Add([]byte("count\tname\n1\t\"tab\"\n x \t\n"), uint16(200), uint8(2))
	f.Add([]byte("naméécount\n1é2\n\"é\"é\"\n\"\"\n"), uint16(10), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, maxLine uint16, mode uint8) {
		comma := []rune{',', ';', '\t', 'é'}[mode%4]
		max := int(maxLine%300) + 1
		lines := physicalLines(data)

		// Records cover every non-empty line once, in order.
		recs := csvRecords(t, data, max, comma)
		covered := make([]bool, len(lines)+1)
		last := 0
		for _, rec := range recs {
			if rec.first <= last || rec.last < rec.first || rec.last > len(lines) {
				t.Fatalf("record spans lines %d-%d after line %d of %d", rec.first, rec.last, last, len(lines))
			}
			if rec.problem == nil && rec.fields == nil {
				t.Fatalf("record %d-%d has neither fields nor a problem", rec.first, rec.last)
			}
			for n := rec.first; n <= rec.last; n++ {
				covered[n] = true
			}
			last = rec.last
		}
		for i, l := range lines {
			if len(l) > 0 && !covered[i+1] {
				t.Fatalf("line %d (%q) is in no record", i+1, l)
			}
		}

		// Without a line limit, the records are encoding/csv's.
		unlimited := csvRecords(t, data, len(data)+1, comma)
		oracle := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
		oracle.Comma, oracle.FieldsPerRecord = comma, -1
		for i := 0; ; i++ {
			want, err := oracle.Read()
			if errors.Is(err, io.EOF) {
				if i != len(unlimited) {
					t.Fatalf("%d records, encoding/csv has %d", len(unlimited), i)
				}
				break
			}
			if i >= len(unlimited) {
				t.Fatalf("%d records, encoding/csv has more: %q, %v", len(unlimited), want, err)
			}
			got := unlimited[i]
			if (err != nil) != (got.problem != nil) || (err == nil && !slices.Equal(got.fields, want)) {
				t.Fatalf("record %d: got %q (%v), encoding/csv has %q (%v)", i, got.fields, got.problem, want, err)
			}
		}

		// Every record is decoded or rejected.
		decode := func(record, _ []string) ([]string, error) {
			if len(record) > 0 && record[0] == "reject" {
				return nil, errors.New("rejected by the decoder")
			}
			return record, nil
		}
		src := &csvReader[[]string]{split: split{path: "fuzz.csv", max: max},
			parser: csvParser{comma: utf8.AppendRune(nil, comma)}, decode: decode, needHeader: mode&4 != 0}
		src.lines = newLineReader(bytes.NewReader(data), max, 16)
		rejected, decoded := 0, 0
		src.SetReject(func(reason string, raw any) {
			rejected++
			if _, ok := raw.(string); !ok {
				t.Fatalf("raw %T", raw)
			}
			lineOf(t, "fuzz.csv", reason)
		})
		buf := make([][]string, 0, int(mode>>4)+1)
		for {
			var err error
			buf, err = src.Read(context.Background(), buf[:0])
			decoded += len(buf)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if !strings.Contains(err.Error(), "reading the CSV header") {
					t.Fatal(err)
				}
				return
			}
		}
		want := len(recs)
		if mode&4 != 0 && want > 0 {
			want-- // the header
		}
		if decoded+rejected != want {
			t.Fatalf("decoded %d + rejected %d, want %d records", decoded, rejected, want)
		}
	})
}

// FuzzCSVStruct decodes arbitrary CSV into a struct by header: it never panics, and every record
// after the header is decoded or rejected.
func FuzzCSVStruct(f *testing.F) {
	f.Add([]byte("id,name,price,ok,at\n1,a,1.5,true,2024-01-02T03:04:05Z\n-1,b,x,maybe,yesterday\n2\n"))
	f.Add([]byte("ID, Price \n18446744073709551616,1e400\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		type row struct {
			ID    int64   `csv:"id"`
			Name  string  `csv:"name"`
			Price float32 `csv:"price"`
			OK    bool    `csv:"ok"`
			N     uint16
			At    csvTime `csv:"at"`
		}
		recs := csvRecords(t, data, 256, ',')
		s := CSV[row](nil, MaxLineBytes(256))
		if err := errors.Join(s.cfg.errs...); err != nil {
			t.Fatal(err)
		}
		r := &csvReader[row]{split: split{path: "fuzz.csv", max: 256}, parser: csvParser{comma: []byte(",")},
			plan: s.plan, needHeader: true}
		r.lines = newLineReader(bytes.NewReader(data), 256, 16)
		n := 0
		r.SetReject(func(string, any) { n++ })
		for {
			got, err := r.Read(context.Background(), make([]row, 0, 4))
			n += len(got)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if !strings.Contains(err.Error(), "header") {
					t.Fatal(err)
				}
				return
			}
		}
		if n != max(len(recs)-1, 0) {
			t.Fatalf("decoded or rejected %d of %d records", n, len(recs)-1)
		}
	})
}

// csvTime is a TextUnmarshaler field (time.Time's is covered by the unit tests).
type csvTime struct{ s string }

func (c *csvTime) UnmarshalText(b []byte) error {
	if len(b) > 3 {
		return errors.New("too long")
	}
	c.s = string(b)
	return nil
}
