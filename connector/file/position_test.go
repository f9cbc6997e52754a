package file

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

type rec struct {
	N int `json:"n"`
}

// TestJSONLinesResumeFromPosition: a split sought to the position taken after any number of
// reads yields exactly the records and rejects that follow it, with the right line numbers.
func TestJSONLinesResumeFromPosition(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.jsonl")
	var b strings.Builder
	b.WriteString("\xef\xbb\xbf") // a byte-order mark, only at the start
	for i := 1; i <= 50; i++ {
		switch {
		case i == 17:
			b.WriteString("{not json}\n")
		case i == 30:
			b.WriteString("\n")
		default:
			b.WriteString(`{"n":` + strings.Repeat(" ", i%3) + strconv.Itoa(i) + "}\r\n")
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	readAll := func(r *jsonReader[rec], batch int) ([]int, []string) {
		var got []int
		var rejects []string
		r.SetReject(func(reason string, _ any) { rejects = append(rejects, reason) })
		for {
			out, err := r.Read(context.Background(), make([]rec, 0, batch))
			for _, v := range out {
				got = append(got, v.N)
			}
			if errors.Is(err, io.EOF) {
				return got, rejects
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	open := func() *jsonReader[rec] {
		rs, err := JSONLines[rec](path).Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return rs[0].(*jsonReader[rec])
	}
	wantAll, wantRejects := readAll(open(), 7)
	if len(wantAll) != 48 || len(wantRejects) != 1 || !strings.Contains(wantRejects[0], ":17:") {
		t.Fatalf("full read: %d records, rejects %q", len(wantAll), wantRejects)
	}
	for _, cut := range []int{0, 1, 5, 16, 17, 29, 47, 48} {
		r := open()
		var head []int
		for len(head) < cut {
			out, err := r.Read(context.Background(), make([]rec, 0, min(3, cut-len(head))))
			for _, v := range out {
				head = append(head, v.N)
			}
			if err != nil {
				break
			}
		}
		pos, err := r.Position()
		if err != nil {
			t.Fatal(err)
		}
		resumed := open()
		if err := resumed.Seek(pos); err != nil {
			t.Fatal(err)
		}
		tail, rejects := readAll(resumed, 4)
		if got := append(head, tail...); !slices.Equal(got, wantAll) {
			t.Fatalf("cut after %d records: head %v + resumed %v, want %v", cut, head, tail, wantAll)
		}
		if cut < 16 && (len(rejects) != 1 || !strings.Contains(rejects[0], ":17:")) {
			t.Fatalf("cut after %d: rejects after resume %q, want line 17", cut, rejects)
		}
	}
	// A file shorter than the position (replaced since the checkpoint) is an error naming it.
	r := open()
	if err := r.Seek([]byte{0xfe, 0xff, 0x03, 0x02}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(context.Background(), make([]rec, 0, 4)); err == nil || !strings.Contains(err.Error(), "in.jsonl") {
		t.Fatalf("resuming past the end: %v", err)
	}
}

type row struct {
	Name  string `csv:"name"`
	Count int    `csv:"count"`
}

// TestCSVResumeFromPosition: the header is read again from the start of the file and the split
// goes on exactly after the position, across a quoted field spanning lines and a bad row.
func TestCSVResumeFromPosition(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.csv")
	var b strings.Builder
	b.WriteString("name,count\n")
	for i := 1; i <= 40; i++ {
		switch i {
		case 9:
			b.WriteString("\"multi\nline\"," + strconv.Itoa(i) + "\n")
		case 21:
			b.WriteString("bad,row,extra\n")
		default:
			b.WriteString("n" + strconv.Itoa(i) + "," + strconv.Itoa(i) + "\n")
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	open := func() *csvReader[row] {
		rs, err := CSV[row]([]string{path}).Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		r := rs[0].(*csvReader[row])
		r.SetReject(func(string, any) {})
		return r
	}
	read := func(r *csvReader[row], n, batch int) ([]row, bool) {
		var out []row
		for n < 0 || len(out) < n {
			got, err := r.Read(context.Background(), make([]row, 0, batch))
			out = append(out, got...)
			if errors.Is(err, io.EOF) {
				return out, true
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		return out, false
	}
	want, _ := read(open(), -1, 5)
	if len(want) != 39 || want[8].Name != "multi\nline" {
		t.Fatalf("full read: %d rows, row 9 %+v", len(want), want[8])
	}
	for _, cut := range []int{0, 1, 8, 9, 20, 21, 38} {
		r := open()
		head, _ := read(r, cut, 1)
		pos, err := r.Position()
		if err != nil {
			t.Fatal(err)
		}
		resumed := open()
		if err := resumed.Seek(pos); err != nil {
			t.Fatal(err)
		}
		tail, _ := read(resumed, -1, 3)
		if got := append(head, tail...); !slices.Equal(got, want) {
			t.Fatalf("cut after %d rows: %d rows after resume, want %d", cut, len(got), len(want))
		}
	}
}
