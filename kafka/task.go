package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/runtime"
)

// task is one input partition's instance of its sub-topology, run synchronously on the runner's
// goroutine.
type task struct {
	sub  *subtopology
	part int32
	rt   *runtime.SyncRun
	feed feeder
	// writers are the instance's repartition writers.
	writers []*taskWriter
	// committed is the state of the last committed epoch (nil: none yet).
	committed *taskState
	// next is the input offset after the last processed record; touched says the current epoch
	// processed records of this partition.
	next    int64
	touched bool
	// pending is the state of the current epoch, while its transaction is open.
	pending *taskState
	// changelogRec is the current epoch's changelog record, whose offset the promise fills.
	changelogRec *kgo.Record
	epoch        int64
}

// newTask builds the partition's instance of sub, restored from st when it is not nil.
func (r *runner) newTask(ctx context.Context, sub *subtopology, part int32, st *taskState) (*task, error) {
	var rt *runtime.SyncRun
	var err error
	r.building = nil
	if st == nil {
		rt, err = runtime.BuildSync(ctx, sub.graph, r.rcfg)
	} else {
		rt, err = runtime.RestoreSync(ctx, sub.graph, r.rcfg, st.Snaps)
	}
	writers := r.building
	r.building = nil
	if err != nil {
		return nil, fmt.Errorf("%s partition %d: building the pipeline: %w", sub.topic, part, err)
	}
	head, _, ok := rt.Source(sub.src)
	if !ok {
		return nil, fmt.Errorf("%s partition %d: the pipeline has no driven Kafka source", sub.topic, part)
	}
	feed, err := r.bind(sub, head)
	if err != nil {
		return nil, err
	}
	t := &task{sub: sub, part: part, rt: rt, feed: feed, writers: writers, committed: st, next: -1}
	if st != nil {
		t.next = st.NextOffset
		for _, sn := range st.Snaps {
			t.epoch = max(t.epoch, sn.ID)
		}
		feed.restoreUpstream(st.Upstream)
		if err := rt.Guard(func() { feed.restore(st.MaxTS, st.WM) }); err != nil {
			return nil, fmt.Errorf("partition %d: restoring the watermark: %w", part, err)
		}
	}
	return t, nil
}

// bind attaches a feeder of sub's input topic to a task's head outlet.
func (r *runner) bind(sub *subtopology, head any) (feeder, error) {
	if sub.id == 0 {
		return r.src.bind(sub.src.Source, head)
	}
	rd, err := sub.rep.BindReader(head)
	if err != nil {
		return nil, fmt.Errorf("repartition topic %q: %w", sub.topic, err)
	}
	return newRepartFeeder(rd, int(r.subs[sub.upstream].parts), r.idleAfter, time.Now), nil
}

// process pushes records through the pipeline instance.
func (t *task) process(recs []*kgo.Record, reject func(*kgo.Record, string)) error {
	var next int64
	err := t.rt.Guard(func() { next = t.feed.push(recs, reject) })
	if err != nil {
		return fmt.Errorf("%s partition %d: %w", t.sub.topic, t.part, err)
	}
	if next >= 0 {
		t.next, t.touched = next, true
	}
	return nil
}

// snapshot takes the epoch's state, after firing processing-time timers that are due.
func (t *task) snapshot(now int64) (*taskState, error) {
	if err := t.rt.FireProcTime(now); err != nil {
		return nil, fmt.Errorf("partition %d: %w", t.part, err)
	}
	t.epoch++
	snaps, err := t.rt.Checkpoint(t.epoch)
	if err != nil {
		return nil, fmt.Errorf("partition %d: snapshot: %w", t.part, err)
	}
	maxTS, wm := t.feed.position()
	return &taskState{NextOffset: t.next, ChangelogOffset: -1, MaxTS: maxTS, WM: wm, Upstream: t.feed.upstream(), Snaps: snaps}, nil
}
