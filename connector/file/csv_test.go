package file_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connector/file"
)

type Base struct {
	Region string
}

type trade struct {
	Base
	Symbol string    `csv:"sym"`
	Price  float64   `csv:"price"`
	Qty    int32     // by name, any case
	Lot    uint8     `csv:"lot"`
	Buy    bool      `csv:"buy"`
	At     time.Time `csv:"at"`
	Note   string    `csv:"-"`
	Extra  []int     // unsupported, and named by no column
	hidden string    //lint:ignore U1000 present on purpose: unexported fields are not mapped
}

func TestCSVHeaderMapping(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "t.csv", "\xef\xbb\xbfsym, QTY ,price,unused,buy,at,lot,region\r\n"+
		"ACME,10,1.5,x,true,2024-01-02T03:04:05Z,7,eu\r\n"+
		"\r\n"+
		`"A,B",,  2 ,"multi`+"\n"+`line",false,,0,"us"`+"\r\n"+
		"BAD,1,notanumber,x,true,,1,eu\n"+
		"SHORT,1\n"+
		"LOT,1,1,x,true,,256,eu\n"+
		`QUOTE,1,1,x"y,true,,1,eu`+"\n"+
		"LAST,-3,0.25,x,1,2024-01-02T03:04:05.5+01:00,255,ap")
	var rej reject
	got, err := readAll(t, file.CSV[trade]([]string{path}), &rej)
	if err != nil {
		t.Fatal(err)
	}
	want := []trade{
		{Base: Base{"eu"}, Symbol: "ACME", Qty: 10, Price: 1.5, Buy: true, At: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), Lot: 7},
		{Base: Base{"us"}, Symbol: "A,B", Price: 2},
		{Base: Base{"ap"}, Symbol: "LAST", Qty: -3, Price: 0.25, Buy: true,
			At: time.Date(2024, 1, 2, 2, 4, 5, 5e8, time.UTC), Lot: 255},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if !got[i].At.Equal(want[i].At) {
			t.Fatalf("record %d: at %v, want %v", i, got[i].At, want[i].At)
		}
		got[i].At, want[i].At = time.Time{}, time.Time{}
		if !equalTrade(got[i], want[i]) {
			t.Fatalf("record %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	wantReasons := []string{
		path + `:6: column "price": strconv.ParseFloat: parsing "notanumber": invalid syntax`,
		path + ":7: record has 2 fields, the header has 8",
		path + `:8: column "lot": strconv.ParseUint: parsing "256": value out of range`,
		path + `:9: bare " in non-quoted-field`,
	}
	if !slices.Equal(rej.reasons, wantReasons) {
		t.Fatalf("rejects\n%q\nwant\n%q", rej.reasons, wantReasons)
	}
	if rej.raws[1] != "SHORT,1" {
		t.Fatalf("raw %#v", rej.raws[1])
	}
}

func equalTrade(a, b trade) bool {
	return a.Region == b.Region && a.Symbol == b.Symbol && a.Price == b.Price && a.Qty == b.Qty &&
		a.Lot == b.Lot && a.Buy == b.Buy && a.At.Equal(b.At)
}

type pair struct {
	Name  string
	Count int
}

func TestCSVWithoutHeader(t *testing.T) {
	path := writeFile(t, t.TempDir(), "p.csv", "a;1\nb;2\nc;2;3\n\"d\"\"\";4\n")
	var rej reject
	got, err := readAll(t, file.CSV[pair]([]string{path}, file.Header(false), file.Comma(';')), &rej)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []pair{{"a", 1}, {"b", 2}, {`d"`, 4}}) {
		t.Fatalf("got %+v", got)
	}
	if len(rej.reasons) != 1 || !strings.HasSuffix(rej.reasons[0], ":3: record has 3 fields, file_test.pair has 2") {
		t.Fatalf("rejects %q", rej.reasons)
	}
}

func TestCSVDecoder(t *testing.T) {
	path := writeFile(t, t.TempDir(), "p.csv", "name,count\nx,1\ny,boom\nz,panic\n")
	decode := func(record, header []string) (pair, error) {
		if !slices.Equal(header, []string{"name", "count"}) {
			return pair{}, errors.New("bad header")
		}
		switch record[1] {
		case "boom":
			return pair{}, errors.New("boom")
		case "panic":
			panic("kaboom")
		}
		return pair{Name: record[0], Count: len(record[1])}, nil
	}
	var rej reject
	got, err := readAll(t, file.CSV[pair]([]string{path}, file.CSVDecoder(decode)), &rej)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []pair{{"x", 1}}) {
		t.Fatalf("got %+v", got)
	}
	want := []string{path + ":3: boom", path + ":4: panic: kaboom"}
	if !slices.Equal(rej.reasons, want) {
		t.Fatalf("rejects %q", rej.reasons)
	}
}

func TestCSVMultilineRecordErrors(t *testing.T) {
	path := writeFile(t, t.TempDir(), "p.csv", "name,count\n\"a\nb\"x,1\n\"unterminated,2\nmore\n")
	var rej reject
	got, err := readAll(t, file.CSV[pair]([]string{path}), &rej)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("got %+v", got)
	}
	want := []string{
		path + `:2-3: line 3: extraneous or missing " in quoted-field`,
		path + `:4-5: extraneous or missing " in quoted-field (the quoted field is not closed at the end of the file)`,
	}
	if !slices.Equal(rej.reasons, want) {
		t.Fatalf("rejects\n%q\nwant\n%q", rej.reasons, want)
	}
	if rej.raws[0] != "\"a\nb\"x,1" {
		t.Fatalf("raw %q", rej.raws[0])
	}
}

func TestCSVRecordTooLong(t *testing.T) {
	a, b, c := strings.Repeat("a", 20), strings.Repeat("b", 20), strings.Repeat("c", 20)
	path := writeFile(t, t.TempDir(), "p.csv", "name,count\n\""+a+"\n"+b+"\n"+c+"\",1\nok,2\n"+strings.Repeat("y", 70)+",3\n")
	var rej reject
	got, err := readAll(t, file.CSV[pair]([]string{path}, file.MaxLineBytes(50)), &rej)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []pair{{"ok", 2}}) {
		t.Fatalf("got %+v", got)
	}
	want := []string{path + ":2-4: record longer than 50 bytes (the dead letter keeps its first 1024)",
		path + ":6: line longer than 50 bytes (the dead letter keeps its first 1024)"}
	if !slices.Equal(rej.reasons, want) {
		t.Fatalf("rejects\n%q\nwant\n%q", rej.reasons, want)
	}
	if rej.raws[0] != "\""+a+"\n"+b+"\n"+c+"\",1" || rej.raws[1] != strings.Repeat("y", 70)+",3" {
		t.Fatalf("raws %q", rej.raws)
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ content, want string }{
		{"a,b\n1,2\n", `no column of the header ["a" "b"] names a field of file_test.pair`},
		{"name,NAME\n1,2\n", `columns "name" and "NAME" both map to field Name`},
		{"na\"me,count\n", `reading the CSV header: bare "`},
	} {
		path := writeFile(t, dir, "h.csv", tc.content)
		_, err := readAll(t, file.CSV[pair]([]string{path}), &reject{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path+":1") {
			t.Errorf("%q: got %v, want %q", tc.content, err, tc.want)
		}
	}
	type unsupported struct{ M map[string]int }
	path := writeFile(t, dir, "u.csv", "m\nx\n")
	if _, err := readAll(t, file.CSV[unsupported]([]string{path}), &reject{}); err == nil ||
		!strings.Contains(err.Error(), "cannot decode a cell into field M") {
		t.Errorf("got %v", err)
	}
}

func TestCSVConfigErrors(t *testing.T) {
	path := writeFile(t, t.TempDir(), "p.csv", "name\nx\n")
	type tagged struct {
		C chan int `csv:"c"`
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{open(file.CSV[int]([]string{path})), "int is not a struct"},
		{open(file.CSV[tagged]([]string{path})), "cannot decode a cell into chan int"},
		{open(file.CSV[pair]([]string{path}, file.CSVDecoder(func(r, h []string) (string, error) { return "", nil }))), "does not decode file_test.pair"},
		{open(file.CSV[pair]([]string{path}, file.Comma('"'))), "invalid delimiter"},
		{open(file.CSV[[]string]([]string{path}, file.CSVDecoder[[]string](nil))), "nil function"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("got %v, want %q", tc.err, tc.want)
		}
	}
	// A decoder makes any T readable.
	got, err := readAll(t, file.CSV[[]string]([]string{path}, file.Header(false),
		file.CSVDecoder(func(r, h []string) ([]string, error) { return r, nil })), &reject{})
	if err != nil || len(got) != 2 || got[1][0] != "x" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func open[T any](src interface {
	Open(context.Context) (T, error)
}) error {
	_, err := src.Open(context.Background())
	return err
}

func TestCSVStrayQuoteOverManyLines(t *testing.T) {
	// A stray quote swallows the lines after it into one quoted field until the record limit; that
	// must cost time linear in the bytes read, not in lines × bytes.
	path := writeFile(t, t.TempDir(), "p.csv", "name,count\n\"stray,1\n"+strings.Repeat("ab,2\n", 300_000))
	var rej reject
	got, err := readAll(t, file.CSV[pair]([]string{path}), &rej)
	if err != nil {
		t.Fatal(err)
	}
	// The first 1 MiB is one rejected record; the lines after it decode again.
	if len(rej.reasons) != 1 || !strings.Contains(rej.reasons[0], "record longer than 1048576 bytes") || len(got) < 80_000 {
		t.Fatalf("%d records, rejects %q", len(got), rej.reasons)
	}
}
