package kafka

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// restoreState finds the state committed with offset committed of partition part: the local
// snapshot when it is that state, else the changelog record written in the same transaction
// (read from the local snapshot's changelog offset on, or from the start). Every epoch that
// advances a partition's offset writes its state, so the record exists; -1 means no commit yet.
func (r *runner) restoreState(ctx context.Context, sub *subtopology, part int32, committed int64) (*taskState, error) {
	if committed < 0 {
		return nil, nil
	}
	from := int64(0)
	if local, ok := r.loadLocal(sub, part); ok {
		if local.NextOffset == committed {
			r.cfg.Logger.Info("kafka: restored from the local snapshot", "topic", sub.topic, "partition", part, "offset", committed)
			return local, nil
		}
		if local.NextOffset < committed && local.ChangelogOffset >= 0 {
			from = local.ChangelogOffset
		}
	}
	start := time.Now()
	st, err := r.readChangelog(ctx, changelogKey(sub, part), r.changelogPartition(part), committed, from)
	if err != nil {
		return nil, err
	}
	r.cfg.Logger.Info("kafka: restored from the changelog", "topic", sub.topic, "partition", part, "offset", committed,
		"from", from, "took", time.Since(start).Round(time.Millisecond))
	return st, nil
}

// changelogKey is the changelog key of a task's state: its partition for a task of the source
// topic (as in format version 1), "<repartition topic>/<partition>" for a task of a repartition
// topic. Tasks of several sub-topologies share a changelog partition; their keys tell them apart.
func changelogKey(sub *subtopology, part int32) []byte {
	if sub.id == 0 {
		return strconv.AppendInt(nil, int64(part), 10)
	}
	return strconv.AppendInt([]byte(sub.topic+"/"), int64(part), 10)
}

// changelogPartition is the changelog partition of the tasks of input partition part.
func (r *runner) changelogPartition(part int32) int32 { return part % max(r.changelogParts, 1) }

// readChangelog scans the changelog partition from offset from for the state under key with
// NextOffset committed. The transaction that committed the offset also wrote that state, but its commit
// marker may reach the changelog partition after the group's offsets are visible (markers are
// written partition by partition, later still across a broker restart), so the scan waits for
// it, up to the transaction timeout and a minute; then it fails, naming the partition.
func (r *runner) readChangelog(ctx context.Context, key []byte, part int32, committed, from int64) (*taskState, error) {
	opts, err := r.cfg.clientOpts()
	if err != nil {
		return nil, err
	}
	opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.changelog: {part: kgo.NewOffset().At(from)}}))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.TransactionTimeout+time.Minute)
	defer cancel()
	last := from - 1
	for {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("kafka: changelog %q partition %d holds no state of %s for committed offset %d (read offsets %d to %d): %w",
				r.changelog, part, key, committed, from, last, ctx.Err())
		}
		var found *taskState
		f.EachRecord(func(rec *kgo.Record) {
			last = rec.Offset
			if !bytes.Equal(rec.Key, key) {
				return
			}
			st, err := decodeState(rec.Value)
			if err != nil || st.NextOffset != committed {
				return
			}
			st.ChangelogOffset = rec.Offset
			found = &st
		})
		if found != nil {
			return found, nil
		}
	}
}

func (r *runner) localPath(sub *subtopology, part int32) string {
	return filepath.Join(r.cfg.StateDir, "kafka", sub.topic+"-"+strconv.Itoa(int(part))+".state")
}

// loadLocal reads the partition's local snapshot; a missing, torn or corrupt one is ignored.
func (r *runner) loadLocal(sub *subtopology, part int32) (*taskState, bool) {
	if r.cfg.StateDir == "" {
		return nil, false
	}
	b, err := os.ReadFile(r.localPath(sub, part))
	if err != nil {
		return nil, false
	}
	st, err := decodeState(b)
	if err != nil {
		r.cfg.Logger.Warn("kafka: ignoring an unreadable local snapshot", "path", r.localPath(sub, part), "err", err)
		return nil, false
	}
	return &st, true
}

// saveLocal writes the committed state of a partition. It is a cache of the changelog: no fsync,
// and a failure is only logged.
func (r *runner) saveLocal(sub *subtopology, part int32, st *taskState) {
	if r.cfg.StateDir == "" {
		return
	}
	if err := writeFileAtomic(r.localPath(sub, part), st.encode(nil), false); err != nil {
		r.cfg.Logger.Warn("kafka: saving a local snapshot", "partition", part, "err", err)
	}
}

// writeFileAtomic replaces path with data through a temporary file and a rename.
func writeFileAtomic(path string, data []byte, sync bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
