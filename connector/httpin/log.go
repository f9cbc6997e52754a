package httpin

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ingestLog is the durable log of accepted batches: numbered segment files in one folder, each a
// header and then frames (docs/format/ingest-log.md). Appends come from many HTTP requests at
// once and are group-committed: one request at a time, the leader, writes every batch queued so
// far and fsyncs once for all of them. Readers (splits) read only what has been fsynced.
//
// Lock order: wmu, then qmu or mu. qmu and mu are held only briefly and never together.
type ingestLog struct {
	dir      string
	segBytes int64
	fs       fileSystem
	logger   *slog.Logger

	wmu    sync.Mutex  // held by the leader of a group commit; guards the fields below
	f      segmentFile // the active segment, open for appending
	size   int64       // bytes of the active segment, all of them fsynced
	broken error       // set when the log can take no more appends

	qmu   sync.Mutex
	queue []*appendReq // batches waiting for a leader

	mu      sync.Mutex // guards what readers see
	first   uint64     // the oldest segment
	active  uint64     // the segment being appended to
	sealed  []int64    // sizes of segments first … active-1
	durable int64      // bytes of the active segment that readers may read
	notify  chan struct{}
	closed  bool
}

// appendReq is one batch of frames waiting to be committed. err and done are written by the
// leader that commits it, under wmu.
type appendReq struct {
	frames []byte
	err    error
	done   bool
}

// ErrClosed is returned by a split's Read once the source is closed and it has read everything,
// and by Open after Close. Requests to a closed source are answered 503.
var ErrClosed = errors.New("httpin: source closed")

// errSegmentGone is returned to a reader whose segment was deleted by Truncate.
var errSegmentGone = errors.New("the segment was deleted by Truncate")

func segmentName(seg uint64) string { return fmt.Sprintf("%020d.seg", seg) }

func (l *ingestLog) path(seg uint64) string { return filepath.Join(l.dir, segmentName(seg)) }

// parseSegmentName returns the index of a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, ".seg")
	if !ok || len(digits) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

// openLog opens the log in dir, creating it if needed, and repairs a torn tail of the last
// segment: the frames after its last complete batch, left by a crash in the middle of an append,
// are cut off. Such frames were never acknowledged.
func openLog(dir string, segBytes int64, fs fileSystem, logger *slog.Logger) (*ingestLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("httpin: creating the log folder: %w", err)
	}
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	l := &ingestLog{dir: dir, segBytes: segBytes, fs: fs, logger: logger, notify: make(chan struct{})}
	if len(segs) == 0 {
		l.first, l.active = 1, 1
		if l.f, err = l.createSegment(1); err != nil {
			return nil, fmt.Errorf("httpin: creating the first log segment: %w", err)
		}
		l.size, l.durable = headerSize, headerSize
		return l, nil
	}
	l.first, l.active = segs[0], segs[len(segs)-1]
	for _, seg := range segs[:len(segs)-1] {
		size, err := l.checkSealed(seg)
		if err != nil {
			return nil, err
		}
		l.sealed = append(l.sealed, size)
	}
	if l.size, err = l.repair(l.active); err != nil {
		return nil, err
	}
	if l.f, err = fs.OpenSegment(l.path(l.active), false); err != nil {
		return nil, fmt.Errorf("httpin: opening the log: %w", err)
	}
	l.durable = l.size
	return l, nil
}

// listSegments returns the segment indexes in dir, in order; they must be consecutive.
func listSegments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("httpin: reading the log folder: %w", err)
	}
	var segs []uint64
	for _, e := range entries {
		if n, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			segs = append(segs, n)
		}
	}
	slices.Sort(segs)
	for i := 1; i < len(segs); i++ {
		if segs[i] != segs[i-1]+1 {
			return nil, fmt.Errorf("httpin: the log in %s is missing segment %s (it has %s and %s)",
				dir, segmentName(segs[i-1]+1), segmentName(segs[i-1]), segmentName(segs[i]))
		}
	}
	return segs, nil
}

// checkSealed checks the header of a segment before the last and returns its size. Its frames
// are checked when they are read.
func (l *ingestLog) checkSealed(seg uint64) (int64, error) {
	f, err := os.Open(l.path(seg))
	if err != nil {
		return 0, fmt.Errorf("httpin: opening the log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("httpin: opening the log: %w", err)
	}
	h := make([]byte, headerSize)
	if _, err := f.ReadAt(h, 0); err != nil {
		h = nil
	}
	if err := checkHeader(h, seg); err != nil {
		return 0, fmt.Errorf("httpin: log segment %s: %w", l.path(seg), err)
	}
	return fi.Size(), nil
}

// repair scans the last segment, cuts a torn tail and returns the segment's size. A segment whose
// header is torn (a crash while it was being created, so it holds no acknowledged record) is
// written again.
func (l *ingestLog) repair(seg uint64) (int64, error) {
	path := l.path(seg)
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("httpin: opening the log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("httpin: opening the log: %w", err)
	}
	res, err := scanSegment(f, fi.Size(), seg, nil)
	switch {
	case errors.Is(err, errBadHeader) && fi.Size() <= headerSize:
		l.logger.Warn("ingest log: rewriting a torn segment header", "segment", path, "bytes", fi.Size(), "reason", err)
		return headerSize, l.rewriteHeader(seg)
	case err != nil:
		return 0, fmt.Errorf("httpin: log segment %s: %w", path, err)
	case res.end == fi.Size():
		return res.end, nil
	}
	l.logger.Warn("ingest log: cutting a torn tail (a crash during an append; it was not acknowledged)",
		"segment", path, "offset", res.end, "bytes", fi.Size()-res.end, "reason", res.stop)
	w, err := l.fs.OpenSegment(path, false)
	if err != nil {
		return 0, fmt.Errorf("httpin: repairing the log: %w", err)
	}
	err = w.Truncate(res.end)
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("httpin: cutting the torn tail of %s: %w", path, err)
	}
	return res.end, nil
}

// rewriteHeader replaces a torn segment file by an empty segment.
func (l *ingestLog) rewriteHeader(seg uint64) error {
	if err := os.Remove(l.path(seg)); err != nil {
		return fmt.Errorf("httpin: repairing the log: %w", err)
	}
	f, err := l.createSegment(seg)
	if err != nil {
		return fmt.Errorf("httpin: repairing the log: %w", err)
	}
	return f.Close()
}

// createSegment creates segment seg holding its header, fsynced with its folder entry.
func (l *ingestLog) createSegment(seg uint64) (segmentFile, error) {
	path := l.path(seg)
	f, err := l.fs.OpenSegment(path, true)
	if err != nil {
		return nil, err
	}
	_, err = f.Write(appendHeader(nil, seg))
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(l.dir)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return f, nil
}

// append writes a batch of frames (the last one marked endOfBatch) and returns once they are
// fsynced: then, and only then, the batch may be acknowledged. On an error nothing of the batch
// is readable, and it has been cut from the segment.
func (l *ingestLog) append(frames []byte) error {
	req := &appendReq{frames: frames}
	l.qmu.Lock()
	l.queue = append(l.queue, req)
	l.qmu.Unlock()

	l.wmu.Lock()
	defer l.wmu.Unlock()
	if req.done { // a leader committed it while this request waited for wmu
		return req.err
	}
	l.qmu.Lock()
	group := l.queue
	l.queue = nil
	l.qmu.Unlock()
	l.commit(group)
	return req.err
}

// commit writes a group of batches. Batches that fit the active segment are written and fsynced
// together; a batch that does not fit starts a new segment. On a failure the batches not yet
// fsynced fail together.
func (l *ingestLog) commit(group []*appendReq) {
	for len(group) > 0 {
		if l.broken == nil && l.size > headerSize && l.size+int64(len(group[0].frames)) > l.segBytes {
			if err := l.roll(); err != nil {
				l.finish(group, fmt.Errorf("starting a new log segment: %w", err))
				return
			}
		}
		if l.broken != nil {
			l.finish(group, l.broken)
			return
		}
		n, size := 1, l.size+int64(len(group[0].frames))
		for n < len(group) && size+int64(len(group[n].frames)) <= l.segBytes {
			size += int64(len(group[n].frames))
			n++
		}
		if err := l.write(group[:n]); err != nil {
			l.finish(group, err)
			return
		}
		l.publish(size)
		l.finish(group[:n], nil)
		group = group[n:]
	}
}

// write appends the batches to the active segment and fsyncs it. On a failure it cuts the
// segment back to its fsynced size; if even that fails, the log is broken until reopened.
func (l *ingestLog) write(group []*appendReq) error {
	var err error
	for _, r := range group {
		if _, err = l.f.Write(r.frames); err != nil {
			break
		}
	}
	if err == nil {
		if err = l.f.Sync(); err == nil {
			return nil
		}
	}
	err = fmt.Errorf("writing the log segment %s: %w", l.path(l.active), err)
	l.logger.Error("ingest log: append failed; the batches are not acknowledged", "error", err)
	if terr := l.f.Truncate(l.size); terr != nil {
		l.broken = fmt.Errorf("%w; cutting it back failed too, so the log takes no more appends until it is reopened: %v", err, terr)
	} else if serr := l.f.Sync(); serr != nil {
		l.broken = fmt.Errorf("%w; syncing the cut failed too, so the log takes no more appends until it is reopened: %v", err, serr)
	}
	if l.broken != nil {
		l.logger.Error("ingest log: broken", "error", l.broken)
	}
	return err
}

// roll seals the active segment (it is fsynced) and starts the next one.
func (l *ingestLog) roll() error {
	next := l.active + 1
	f, err := l.createSegment(next)
	if err != nil {
		return err
	}
	if err := l.f.Close(); err != nil {
		l.logger.Warn("ingest log: closing a sealed segment", "segment", l.path(l.active), "error", err)
	}
	l.f = f
	l.mu.Lock()
	l.sealed = append(l.sealed, l.size)
	l.active, l.durable = next, headerSize
	l.mu.Unlock()
	l.size = headerSize
	return nil
}

// publish makes the active segment readable up to size and wakes the readers.
func (l *ingestLog) publish(size int64) {
	l.size = size
	l.mu.Lock()
	l.durable = size
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
}

func (l *ingestLog) finish(group []*appendReq, err error) {
	for _, r := range group {
		r.err, r.done = err, true
	}
}

// bounds tells a reader of segment seg how far it may read (end), whether the segment is sealed
// (complete: reading goes on in seg+1 after end), a channel closed at the next append, and
// whether the log is closed.
func (l *ingestLog) bounds(seg uint64) (end int64, sealed bool, notify <-chan struct{}, closed bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case seg < l.first:
		return 0, false, nil, false, fmt.Errorf("log segment %s: %w (the log starts at %s)", segmentName(seg), errSegmentGone, segmentName(l.first))
	case seg > l.active:
		return 0, false, nil, false, fmt.Errorf("log segment %s does not exist (the last is %s)", segmentName(seg), segmentName(l.active))
	case seg < l.active:
		return l.sealed[seg-l.first], true, l.notify, l.closed, nil
	}
	return l.durable, false, l.notify, l.closed, nil
}

// start returns the oldest segment.
func (l *ingestLog) start() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

// truncate deletes the segments before seg, never the active one, and returns how many it
// deleted.
func (l *ingestLog) truncate(seg uint64) (int, error) {
	l.mu.Lock()
	from, to := l.first, min(seg, l.active)
	if to <= from {
		l.mu.Unlock()
		return 0, nil
	}
	l.sealed = l.sealed[to-from:]
	l.first = to
	l.mu.Unlock()
	var errs []error
	for s := from; s < to; s++ {
		if err := os.Remove(l.path(s)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := syncDir(l.dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return int(to - from), fmt.Errorf("httpin: deleting log segments: %w", err)
	}
	return int(to - from), nil
}

// close waits for the commit in progress, closes the active segment and wakes the readers.
// Appends after close fail with ErrClosed.
func (l *ingestLog) close() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if errors.Is(l.broken, ErrClosed) {
		return nil
	}
	l.broken = ErrClosed
	err := l.f.Close()
	l.mu.Lock()
	l.closed = true
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
	return err
}
