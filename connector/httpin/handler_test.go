package httpin_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connector/httpin"
)

func rejections(r httpin.Response) map[int]string {
	m := map[int]string{}
	for _, rj := range r.Rejected {
		m[rj.Index] = rj.Error
	}
	return m
}

// TestPartialRejection posts an array with invalid elements: the valid ones are appended, in
// order, and the answer names the others with their reasons.
func TestPartialRejection(t *testing.T) {
	src, url := open[click](t, "", httpin.MaxRecordBytes(40))
	body := `[{"page":"a","at":1}, {"page":"b","at":"x"}, 7, {bad}, {"page":"c","at":3},
		{"page":"` + strings.Repeat("x", 40) + `","at":4}, ]`
	status, resp := post(t, url, "application/json", body)
	if status != http.StatusOK || resp.Accepted != 2 || resp.Error != "" {
		t.Fatalf("status %d, %+v", status, resp)
	}
	want := map[int]string{
		1: "json: cannot unmarshal string into Go struct field click.at of type int64",
		2: "json: cannot unmarshal number into Go value of type httpin_test.click",
		3: "invalid character 'b' looking for beginning of object key string",
		5: "the record is 58 bytes, larger than the limit of 40 bytes (MaxRecordBytes)",
		6: "empty array element",
	}
	got := rejections(resp)
	if len(got) != len(want) {
		t.Fatalf("rejected %v, want %v", got, want)
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("index %d: %q, want %q", i, got[i], w)
		}
	}
	recs := readAll(t, src)
	if len(recs) != 2 || recs[0] != (click{"a", 1}) || recs[1] != (click{"c", 3}) {
		t.Fatalf("log holds %+v", recs)
	}
	if st := src.Stats(); st.Accepted != 2 || st.Rejected != 5 || st.Batches != 1 || st.Requests != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestJSONLines posts JSON lines: blank lines are skipped (but counted in the indexes), a bad line
// is rejected alone, and CRLF endings are accepted.
func TestJSONLines(t *testing.T) {
	for _, ct := range []string{"application/x-ndjson", "text/plain; charset=utf-8", ""} {
		t.Run(ct, func(t *testing.T) {
			src, url := open[click](t, "")
			body := "{\"page\":\"a\",\"at\":1}\r\n\n  \ngarbage\n{\"page\":\"b\",\"at\":2}"
			status, resp := post(t, url, ct, body)
			if status != http.StatusOK || resp.Accepted != 2 {
				t.Fatalf("status %d, %+v", status, resp)
			}
			if got := rejections(resp); len(got) != 1 || got[3] != "invalid character 'g' looking for beginning of value" {
				t.Fatalf("rejected %v", got)
			}
			recs := readAll(t, src)
			if len(recs) != 2 || recs[0] != (click{"a", 1}) || recs[1] != (click{"b", 2}) {
				t.Fatalf("log holds %+v", recs)
			}
		})
	}
}

// TestSingleObject posts one pretty-printed object as application/json: it is one record.
func TestSingleObject(t *testing.T) {
	src, url := open[click](t, "")
	status, resp := post(t, url, "application/json", "{\n  \"page\": \"a\",\n  \"at\": 5\n}\n")
	if status != http.StatusOK || resp.Accepted != 1 || len(resp.Rejected) != 0 {
		t.Fatalf("status %d, %+v", status, resp)
	}
	if recs := readAll(t, src); len(recs) != 1 || recs[0] != (click{"a", 5}) {
		t.Fatalf("log holds %+v", recs)
	}
}

// TestEveryRecordInvalid: 400 with every reason, and nothing is appended.
func TestEveryRecordInvalid(t *testing.T) {
	src, url := open[click](t, "")
	status, resp := post(t, url, "application/json", `[1, "x", {"at":"y"}]`)
	if status != http.StatusBadRequest || resp.Accepted != 0 || len(resp.Rejected) != 3 {
		t.Fatalf("status %d, %+v", status, resp)
	}
	if recs := readAll(t, src); len(recs) != 0 {
		t.Fatalf("log holds %+v", recs)
	}
}

// TestEmptyBatch: an empty array or a blank body is a 200 with nothing accepted.
func TestEmptyBatch(t *testing.T) {
	_, url := open[click](t, "")
	for _, body := range []string{"[]", " [ ] ", "", "\n\n"} {
		status, resp := post(t, url, "application/json", body)
		if status != http.StatusOK || resp.Accepted != 0 || resp.Rejected == nil || len(resp.Rejected) != 0 {
			t.Fatalf("body %q: status %d, %+v", body, status, resp)
		}
	}
}

// TestBrokenArray: an array whose elements cannot be told apart is refused whole.
func TestBrokenArray(t *testing.T) {
	src, url := open[click](t, "")
	for body, want := range map[string]string{
		`[{"page":"a","at":1}, {"page":`: "the JSON array is not closed: the body ends inside element 1",
		`[{"page":"a","at":1}] x`:        "data after the end of the JSON array at byte 22",
		`  [1}`:                          "the JSON array has an unmatched '}' at byte 4",
	} {
		status, resp := post(t, url, "application/json", body)
		if status != http.StatusBadRequest || resp.Accepted != 0 || !strings.HasSuffix(resp.Error, want) {
			t.Errorf("body %q: status %d, %+v, want error %q", body, status, resp, want)
		}
	}
	if recs := readAll(t, src); len(recs) != 0 {
		t.Fatalf("log holds %+v", recs)
	}
}

// TestOversizeBody: 413 naming the limit, whether the length is announced or the body is
// chunked; nothing is appended.
func TestOversizeBody(t *testing.T) {
	src, url := open[click](t, "", httpin.MaxBodyBytes(100))
	body := clicks(10, 0)
	want := "the body is larger than the limit of 100 bytes (MaxBodyBytes)"
	status, resp := post(t, url, "application/json", body)
	if status != http.StatusRequestEntityTooLarge || resp.Error != want {
		t.Fatalf("status %d, %+v", status, resp)
	}
	// A reader that is not a bytes or strings reader: the length is unknown, the body chunked.
	status, resp, err := tryPost(url, "application/json", io.MultiReader(strings.NewReader(body)))
	if err != nil || status != http.StatusRequestEntityTooLarge || resp.Error != want {
		t.Fatalf("chunked: status %d, %+v, %v", status, resp, err)
	}
	status, resp = post(t, url, "application/json", clicks(2, 0))
	if status != http.StatusOK || resp.Accepted != 2 {
		t.Fatalf("a small body after: status %d, %+v", status, resp)
	}
	if recs := readAll(t, src); len(recs) != 2 {
		t.Fatalf("log holds %+v", recs)
	}
}

// TestRefusedRequests: 405 for other methods, 415 for unsupported content types and encodings.
func TestRefusedRequests(t *testing.T) {
	_, url := open[click](t, "")
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "POST" {
		t.Fatalf("GET: status %d, Allow %q", res.StatusCode, res.Header.Get("Allow"))
	}
	for ct, want := range map[string]string{
		"application/x-www-form-urlencoded": `Content-Type "application/x-www-form-urlencoded" is not supported`,
		"application/json; charset=latin1":  `charset "latin1" is not supported: send UTF-8`,
		"text/html":                         `Content-Type "text/html" is not supported`,
	} {
		status, resp := post(t, url, ct, clicks(1, 0))
		if status != http.StatusUnsupportedMediaType || !strings.HasPrefix(resp.Error, want) {
			t.Errorf("%s: status %d, %+v", ct, status, resp)
		}
	}
	req, _ = http.NewRequest(http.MethodPost, url, strings.NewReader(clicks(1, 0)))
	req.Header.Set("Content-Encoding", "gzip")
	status, resp, err := do(req)
	if err != nil || status != http.StatusUnsupportedMediaType || !strings.Contains(resp.Error, "gzip") {
		t.Fatalf("gzip: status %d, %+v, %v", status, resp, err)
	}
	for _, ct := range []string{"application/vnd.api+json", "application/jsonl", "application/json; charset=UTF-8"} {
		if status, resp := post(t, url, ct, clicks(1, 0)); status != http.StatusOK || resp.Accepted != 1 {
			t.Errorf("%s: status %d, %+v", ct, status, resp)
		}
	}
}

// TestClosedSource: a request after Close is answered 503 and nothing is acknowledged.
func TestClosedSource(t *testing.T) {
	src, url := open[click](t, "")
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	status, resp := post(t, url, "application/json", clicks(3, 0))
	if status != http.StatusServiceUnavailable || resp.Accepted != 0 || !strings.Contains(resp.Error, "closed") {
		t.Fatalf("status %d, %+v", status, resp)
	}
}

// TestCustomDecoder: a decoder for text lines; array elements must still be JSON.
func TestCustomDecoder(t *testing.T) {
	dec := func(p []byte) (string, error) {
		if strings.Contains(string(p), "panic") {
			panic("boom")
		}
		return strings.ToUpper(string(p)), nil
	}
	src, url := open[string](t, "", httpin.Decoder(dec))
	status, resp := post(t, url, "text/plain", "hello\npanic here\nworld")
	if status != http.StatusOK || resp.Accepted != 2 || rejections(resp)[1] != "panic: boom" {
		t.Fatalf("status %d, %+v", status, resp)
	}
	status, resp = post(t, url, "application/json", `["x", {y}]`)
	if status != http.StatusOK || resp.Accepted != 1 || !strings.Contains(rejections(resp)[1], "invalid character 'y'") {
		t.Fatalf("status %d, %+v", status, resp)
	}
	recs := readAll(t, src)
	if strings.Join(recs, ",") != `HELLO,WORLD,"X"` {
		t.Fatalf("log holds %q", recs)
	}
	if _, err := httpin.New[int](httpin.Dir(t.TempDir()), httpin.Decoder(dec)); err == nil ||
		!strings.Contains(err.Error(), "decodes a string, the source's records are int") {
		t.Fatalf("mismatched decoder: %v", err)
	}
}

// TestOptions: invalid options are all named; Dir is required.
func TestOptions(t *testing.T) {
	_, err := httpin.New[click](httpin.Path("x"), httpin.MaxBodyBytes(0), httpin.SegmentBytes(-1), httpin.MaxRecordBytes(0))
	for _, want := range []string{"Dir is required", `Path must start with '/', got "x"`, "MaxBodyBytes must be >= 1",
		"SegmentBytes must be >= 1", "MaxRecordBytes must be between"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

// TestServeAddr: with Addr, the source serves Path on the address itself; Close stops it.
func TestServeAddr(t *testing.T) {
	src, err := httpin.New[click](httpin.Dir(t.TempDir()), httpin.Addr("127.0.0.1:0"), httpin.Path("/v1/clicks"))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + src.Addr()
	status, resp := post(t, base+"/v1/clicks", "application/json", clicks(3, 0))
	if status != http.StatusOK || resp.Accepted != 3 {
		t.Fatalf("status %d, %+v", status, resp)
	}
	res, err := client.Post(base+"/other", "application/json", strings.NewReader("[]"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("other path: status %d", res.StatusCode)
	}
	if recs := readAll(t, src); len(recs) != 3 {
		t.Fatalf("log holds %+v", recs)
	}
	if _, _, err := tryPost(base+"/v1/clicks", "application/json", strings.NewReader("[]")); err == nil {
		t.Fatal("the server still answers after Close")
	}
}
