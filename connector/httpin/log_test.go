package httpin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

type rec struct {
	ID int `json:"id"`
}

// withFS makes the log write through fs (fault injection).
func withFS(fs fileSystem) Option { return optionFunc(func(c *config) { c.fs = fs }) }

// logBuffer collects log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newSource(t *testing.T, dir string, opts ...Option) (*Source[rec], *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	opts = append([]Option{Dir(dir), Logger(slog.New(slog.NewTextHandler(logs, nil)))}, opts...)
	src, err := New[rec](opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src, logs
}

// ingestIDs posts records with ids from..to-1 as one batch through the handler and returns the
// status and answer.
func ingestIDs(src *Source[rec], from, to int) (int, string) {
	var b strings.Builder
	b.WriteByte('[')
	for i := from; i < to; i++ {
		if i > from {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d}`, i)
	}
	b.WriteByte(']')
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/ingest", strings.NewReader(b.String()))
	req.Header.Set("Content-Type", "application/json")
	src.Handler().ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

func mustIngest(t *testing.T, src *Source[rec], from, to int) {
	t.Helper()
	if code, body := ingestIDs(src, from, to); code != http.StatusOK {
		t.Fatalf("ingest %d-%d: %d %s", from, to, code, body)
	}
}

// ids closes src and returns the ids of every record in its log, in order.
func ids(t *testing.T, src *Source[rec]) []int {
	t.Helper()
	splits, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := splits[0]
	defer r.Close()
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	var out []int
	buf := make([]rec, 0, 64)
	for {
		buf, err = r.Read(context.Background(), buf[:0])
		for _, v := range buf {
			out = append(out, v.ID)
		}
		if errors.Is(err, ErrClosed) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func wantIDs(t *testing.T, got []int, ranges ...[2]int) {
	t.Helper()
	var want []int
	for _, r := range ranges {
		for i := r[0]; i < r[1]; i++ {
			want = append(want, i)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ids %v\nwant %v", got, want)
	}
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestTornTail appends what a crash in the middle of an append can leave to the last segment and
// checks that reopening cuts exactly that, logs it, and that appends go on after it.
func TestTornTail(t *testing.T) {
	frame := appendFrame(nil, []byte(`{"id":99}`), false)
	lastFrame := appendFrame(nil, []byte(`{"id":99}`), true)
	badCRC := bytes.Clone(lastFrame)
	badCRC[len(badCRC)-2] ^= 1
	for name, tail := range map[string][]byte{
		"partial frame header":        frame[:5],
		"partial payload":             lastFrame[:len(lastFrame)-1],
		"batch without its last":      append(bytes.Clone(frame), frame...),
		"whole frames then a partial": append(append(bytes.Clone(frame), frame...), lastFrame[:10]...),
		"checksum mismatch":           badCRC,
		"zero-filled":                 make([]byte, 4096),
		"garbage":                     []byte("\xff\xff\xff\x7fgarbage"),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			src, _ := newSource(t, dir)
			mustIngest(t, src, 0, 10)
			mustIngest(t, src, 10, 12)
			src.Close()
			seg := segments(t, dir)[0]
			good := fileSize(t, seg)
			appendFile(t, seg, tail)

			again, logs := newSource(t, dir)
			if got := fileSize(t, seg); got != good {
				t.Fatalf("segment is %d bytes after repair, want %d", got, good)
			}
			if !strings.Contains(logs.String(), "cutting a torn tail") || !strings.Contains(logs.String(), fmt.Sprintf("bytes=%d", len(tail))) {
				t.Fatalf("log: %s", logs)
			}
			mustIngest(t, again, 12, 15)
			wantIDs(t, ids(t, again), [2]int{0, 15})
		})
	}
}

// TestTornHeader: a crash while a new segment was being created leaves a short header; the
// segment is written again.
func TestTornHeader(t *testing.T) {
	dir := t.TempDir()
	src, _ := newSource(t, dir)
	mustIngest(t, src, 0, 5)
	src.Close()
	next := filepath.Join(dir, segmentName(2))
	if err := os.WriteFile(next, appendHeader(nil, 2)[:10], 0o644); err != nil {
		t.Fatal(err)
	}
	again, logs := newSource(t, dir)
	if !strings.Contains(logs.String(), "rewriting a torn segment header") {
		t.Fatalf("log: %s", logs)
	}
	mustIngest(t, again, 5, 8)
	wantIDs(t, ids(t, again), [2]int{0, 8})
	if got := fileSize(t, next); got <= headerSize {
		t.Fatalf("segment 2 is %d bytes", got)
	}
}

// TestRoll: segments roll at SegmentBytes, a batch is never split, and reading crosses segments.
func TestRoll(t *testing.T) {
	dir := t.TempDir()
	src, _ := newSource(t, dir, SegmentBytes(300))
	for b := range 20 {
		mustIngest(t, src, b*10, b*10+10) // 10 records of about 17 bytes: one batch a segment
	}
	segs := segments(t, dir)
	if len(segs) != 20 {
		t.Fatalf("%d segments, want 20", len(segs))
	}
	wantIDs(t, ids(t, src), [2]int{0, 200})

	again, _ := newSource(t, dir, SegmentBytes(1<<20))
	mustIngest(t, again, 200, 210)
	if len(segments(t, dir)) != 20 {
		t.Fatal("a new segment was started without need")
	}
	wantIDs(t, ids(t, again), [2]int{0, 210})
}

// TestCorruptSealedSegment: a damaged record in a segment before the last is not "repaired"
// away; reading it fails, naming the segment and offset.
func TestCorruptSealedSegment(t *testing.T) {
	dir := t.TempDir()
	src, _ := newSource(t, dir, SegmentBytes(200))
	mustIngest(t, src, 0, 10)
	mustIngest(t, src, 10, 20)
	src.Close()
	seg := filepath.Join(dir, segmentName(1))
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[headerSize+frameHeaderSize+2] ^= 0x20
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	again, _ := newSource(t, dir)
	splits, _ := again.Open(context.Background())
	defer splits[0].Close()
	_, err = splits[0].Read(context.Background(), make([]rec, 0, 100))
	if err == nil || !strings.Contains(err.Error(), segmentName(1)+":24: bad frame: checksum mismatch") {
		t.Fatalf("read: %v", err)
	}
}

// TestMissingSegment: a gap in the segment numbers fails New.
func TestMissingSegment(t *testing.T) {
	dir := t.TempDir()
	src, _ := newSource(t, dir, SegmentBytes(100))
	for b := range 3 {
		mustIngest(t, src, b*10, b*10+10)
	}
	src.Close()
	os.Remove(filepath.Join(dir, segmentName(2)))
	_, err := New[rec](Dir(dir))
	if err == nil || !strings.Contains(err.Error(), "missing segment "+segmentName(2)) {
		t.Fatalf("New: %v", err)
	}
}

// faultFS wraps segment files so that a test can make writes fail (after half the bytes, as a
// full disk does), the next syncFailures fsyncs fail, or cutting a failed append back fail.
type faultFS struct {
	failWrite, failTruncate atomic.Bool
	syncFailures            atomic.Int32
}

func (fs *faultFS) OpenSegment(path string, create bool) (segmentFile, error) {
	f, err := osFS{}.OpenSegment(path, create)
	if err != nil {
		return nil, err
	}
	return &faultFile{segmentFile: f, fs: fs}, nil
}

type faultFile struct {
	segmentFile
	fs *faultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	if f.fs.failWrite.Load() {
		n, _ := f.segmentFile.Write(p[:len(p)/2])
		return n, syscall.ENOSPC
	}
	return f.segmentFile.Write(p)
}

func (f *faultFile) Sync() error {
	if f.fs.syncFailures.Add(-1) >= 0 {
		return syscall.EIO
	}
	return f.segmentFile.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if f.fs.failTruncate.Load() {
		return syscall.EIO
	}
	return f.segmentFile.Truncate(size)
}

// TestDiskFull: a batch that cannot be written or fsynced is answered 503, none of it is read,
// and appends go on when the disk has room again.
func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	fs := &faultFS{}
	src, logs := newSource(t, dir, withFS(fs))
	mustIngest(t, src, 0, 10)
	fs.failWrite.Store(true)
	code, body := ingestIDs(src, 10, 20)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"accepted":0`) || !strings.Contains(body, "no space left on device") {
		t.Fatalf("full disk: %d %s", code, body)
	}
	fs.failWrite.Store(false)
	fs.syncFailures.Store(1)
	code, body = ingestIDs(src, 20, 30)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "input/output error") {
		t.Fatalf("failed fsync: %d %s", code, body)
	}
	mustIngest(t, src, 30, 40)
	if st := src.Stats(); st.Failed != 2 || st.Accepted != 20 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(logs.String(), "append failed") {
		t.Fatalf("log: %s", logs)
	}
	wantIDs(t, ids(t, src), [2]int{0, 10}, [2]int{30, 40})
	again, _ := newSource(t, dir)
	wantIDs(t, ids(t, again), [2]int{0, 10}, [2]int{30, 40})
}

// TestBrokenLog: when a failed append cannot even be cut back, the log refuses appends until it
// is reopened; reopening cuts the partial batch as a torn tail.
func TestBrokenLog(t *testing.T) {
	dir := t.TempDir()
	fs := &faultFS{}
	src, _ := newSource(t, dir, withFS(fs))
	mustIngest(t, src, 0, 10)
	fs.failWrite.Store(true)
	fs.failTruncate.Store(true)
	if code, _ := ingestIDs(src, 10, 20); code != http.StatusServiceUnavailable {
		t.Fatalf("status %d", code)
	}
	fs.failWrite.Store(false)
	fs.failTruncate.Store(false)
	code, body := ingestIDs(src, 20, 30)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "until it is reopened") {
		t.Fatalf("after the failure: %d %s", code, body)
	}
	src.Close()
	again, logs := newSource(t, dir)
	if !strings.Contains(logs.String(), "cutting a torn tail") {
		t.Fatalf("log: %s", logs)
	}
	mustIngest(t, again, 30, 35)
	wantIDs(t, ids(t, again), [2]int{0, 10}, [2]int{30, 35})
}

// TestGroupCommit: many requests at once are all acknowledged and all in the log, each batch
// contiguous, whatever the grouping.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	src, _ := newSource(t, dir, SegmentBytes(2000))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for b := range 10 {
				from := (w*10 + b) * 20
				if code, body := ingestIDs(src, from, from+20); code != http.StatusOK {
					t.Errorf("%d %s", code, body)
				}
			}
		})
	}
	wg.Wait()
	got := ids(t, src)
	if len(got) != 1600 {
		t.Fatalf("%d records", len(got))
	}
	for i := 0; i < len(got); i += 20 {
		for j := range 20 {
			if got[i+j] != got[i]+j || got[i]%20 != 0 {
				t.Fatalf("batch at %d is not contiguous: %v", i, got[i:i+20])
			}
		}
	}
}
