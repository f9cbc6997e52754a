package httpin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"sync"
)

// Response is the JSON body of every answer of the handler.
type Response struct {
	// Accepted is the number of records appended to the log; they are acknowledged only with
	// status 200.
	Accepted int `json:"accepted"`
	// Rejected lists the records that were not accepted and why, in the order of the body.
	Rejected []Rejection `json:"rejected"`
	// Error says why the request as a whole was refused (a status other than 200, except 400 for a
	// batch whose every record was rejected). It is omitted when empty.
	Error string `json:"error,omitempty"`
}

// Rejection is a record that was not accepted.
type Rejection struct {
	// Index is the record's position in the body: its index in the JSON array, or its line
	// number counted from 0 (blank lines count; they are skipped, not rejected).
	Index int `json:"index"`
	// Error is the reason.
	Error string `json:"error"`
}

// handler serves POST requests for a Source.
type handler[T any] struct{ s *Source[T] }

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (h handler[T]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.s
	s.stats.requests.Add(1)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, &Response{Error: fmt.Sprintf("method %s is not allowed: POST a JSON array or JSON lines", r.Method)})
		return
	}
	whole, err := checkContentType(r.Header)
	if err != nil {
		reply(w, http.StatusUnsupportedMediaType, &Response{Error: err.Error()})
		return
	}
	if r.ContentLength > s.cfg.maxBody {
		s.tooLarge(w)
		return
	}
	body := bufPool.Get().(*bytes.Buffer)
	defer putBuffer(body)
	if r.ContentLength > 0 {
		body.Grow(int(r.ContentLength))
	}
	if _, err := body.ReadFrom(http.MaxBytesReader(w, r.Body, s.cfg.maxBody)); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			s.tooLarge(w)
			return
		}
		reply(w, http.StatusBadRequest, &Response{Error: "reading the body: " + err.Error()})
		return
	}
	recs, err := splitBody(body.Bytes(), whole)
	if err != nil {
		reply(w, http.StatusBadRequest, &Response{Error: "the body cannot be split into records: " + err.Error()})
		return
	}
	s.ingest(w, recs)
}

// tooLarge answers 413, naming the limit.
func (s *Source[T]) tooLarge(w http.ResponseWriter) {
	reply(w, http.StatusRequestEntityTooLarge, &Response{
		Error: fmt.Sprintf("the body is larger than the limit of %d bytes (MaxBodyBytes)", s.cfg.maxBody)})
}

// ingest validates the records, appends the valid ones to the log and answers.
func (s *Source[T]) ingest(w http.ResponseWriter, recs []rawRecord) {
	resp := &Response{Rejected: []Rejection{}}
	frames := bufPool.Get().(*bytes.Buffer)
	defer putBuffer(frames)
	var last []byte
	for _, rec := range recs {
		if err := s.validate(rec); err != nil {
			resp.Rejected = append(resp.Rejected, Rejection{Index: rec.index, Error: err.Error()})
			continue
		}
		if last != nil {
			frames.Write(appendFrame(frames.AvailableBuffer(), last, false))
		}
		last = rec.data
		resp.Accepted++
	}
	s.stats.rejected.Add(int64(len(resp.Rejected)))
	if resp.Accepted == 0 {
		status := http.StatusOK
		if len(resp.Rejected) > 0 {
			status = http.StatusBadRequest
		}
		reply(w, status, resp)
		return
	}
	frames.Write(appendFrame(frames.AvailableBuffer(), last, true))
	if err := s.log.append(frames.Bytes()); err != nil {
		s.stats.failed.Add(1)
		w.Header().Set("Retry-After", "1")
		msg := "the ingest log cannot be written, so nothing of this batch was accepted: " + err.Error()
		if errors.Is(err, ErrClosed) {
			msg = "the ingest source is closed, so nothing of this batch was accepted"
		}
		resp.Accepted, resp.Error = 0, msg
		reply(w, http.StatusServiceUnavailable, resp)
		return
	}
	s.stats.accepted.Add(int64(resp.Accepted))
	s.stats.batches.Add(1)
	reply(w, http.StatusOK, resp)
}

// validate checks one record: its size, then that it decodes. An array element must be valid
// JSON: the default decoder checks it; for a custom one it is checked first.
func (s *Source[T]) validate(rec rawRecord) error {
	data := rec.data
	switch {
	case len(data) == 0:
		return errors.New("empty array element")
	case len(data) > s.cfg.maxRecord:
		return fmt.Errorf("the record is %d bytes, larger than the limit of %d bytes (MaxRecordBytes)", len(data), s.cfg.maxRecord)
	}
	if s.customDecoder && rec.element {
		if err := json.Unmarshal(data, new(json.RawMessage)); err != nil {
			return err
		}
	}
	_, err := decodeSafe(s.decode, data)
	return err
}

// checkContentType checks the request's Content-Type and Content-Encoding. whole reports
// application/json (or a +json type), for which a body that is one JSON value is one record.
// Without a Content-Type, the body is read as an array or JSON lines.
func checkContentType(h http.Header) (whole bool, err error) {
	if enc := h.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return false, fmt.Errorf("Content-Encoding %q is not supported: send the body uncompressed", enc)
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		return false, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false, fmt.Errorf("Content-Type %q cannot be parsed: %v", ct, err)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return false, fmt.Errorf("charset %q is not supported: send UTF-8", cs)
	}
	switch mt {
	case "application/json":
		return true, nil
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonl",
		"application/jsonlines", "application/x-jsonlines", "text/plain":
		return false, nil
	}
	if strings.HasSuffix(mt, "+json") {
		return true, nil
	}
	return false, fmt.Errorf("Content-Type %q is not supported: send application/json (a JSON array, or one value) or application/x-ndjson (JSON lines)", mt)
}

// reply writes resp as JSON with the status.
func reply(w http.ResponseWriter, status int, resp *Response) {
	if resp.Rejected == nil {
		resp.Rejected = []Rejection{}
	}
	b, _ := json.Marshal(resp) // a Response always encodes
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// putBuffer returns a buffer to the pool unless it grew past the default body limit.
func putBuffer(b *bytes.Buffer) {
	if b.Cap() <= 2*DefaultMaxBodyBytes {
		b.Reset()
		bufPool.Put(b)
	}
}
