package file

import (
	"errors"
	"io"
	"strings"
	"testing"
)

type lineResult struct {
	line    string
	tooLong bool
	num     int
}

func readLines(t *testing.T, input string, max, bufSize int) []lineResult {
	t.Helper()
	lr := newLineReader(strings.NewReader(input), max, bufSize)
	var out []lineResult
	for {
		line, tooLong, err := lr.next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lineResult{string(line), tooLong, lr.num})
	}
}

func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", 100)
	for _, tc := range []struct {
		name, input string
		max         int
		want        []lineResult
	}{
		{"plain", "a\nbb\n", 10, []lineResult{{"a", false, 1}, {"bb", false, 2}}},
		{"no final newline", "a\nbb", 10, []lineResult{{"a", false, 1}, {"bb", false, 2}}},
		{"crlf and empty lines", "a\r\n\r\n\nb\r", 10, []lineResult{{"a", false, 1}, {"", false, 2}, {"", false, 3}, {"b", false, 4}}},
		{"byte-order mark", "\xef\xbb\xbfa\n", 10, []lineResult{{"a", false, 1}}},
		{"exactly max", "abcd\r\nabcde\n", 4, []lineResult{{"abcd", false, 1}, {"abcde", true, 2}}},
		{"long lines across the buffer", long + "\n" + long[:40] + "\r\n" + long + "y", 50,
			[]lineResult{{long, true, 1}, {long[:40], false, 2}, {long + "y", true, 3}}},
		{"long line accepted", long + "\nz", 100, []lineResult{{long, false, 1}, {"z", false, 2}}},
		{"empty input", "", 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := readLines(t, tc.input, tc.max, 16)
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("line %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestLineReaderKeepsPreviewOfHugeLine(t *testing.T) {
	huge := strings.Repeat("0123456789", 1000) // 10 kB
	got := readLines(t, huge+"\nnext\n", 100, 16)
	if len(got) != 2 || !got[0].tooLong || got[1].line != "next" || got[1].num != 2 {
		t.Fatalf("got %d lines: %+v", len(got), got[1:])
	}
	if !strings.HasPrefix(huge, got[0].line) || len(got[0].line) != previewBytes {
		t.Fatalf("preview of %d bytes", len(got[0].line))
	}
}
