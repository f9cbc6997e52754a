package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/hugepage"
	"github.com/sluicehq/sluice/internal/plan"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/watermark"
)

// Stats are the counts of a Run.
type Stats struct {
	// Records is the number of source topic records processed in committed epochs.
	Records int64
	// Produced is the number of output records committed (sink and dead-letter topics; not the
	// repartition topics).
	Produced int64
	// Epochs and Aborted count committed and aborted epochs.
	Epochs, Aborted int64
	// DeadLetters counts records sent to the dead-letter topic.
	DeadLetters int64
	// ByTopic counts the committed output records of each sink topic.
	ByTopic map[string]int64
	// Repartitioned counts the records read from repartition topics in committed epochs (watermark
	// markers included).
	Repartitioned int64
}

// binder is a Kafka source, type-erased.
type binder interface {
	bind(factory any, head any) (feeder, error)
	TopicName() string
	partitionedByKey() bool
}

// tp is a task's input: a topic partition.
type tp struct {
	topic string
	part  int32
}

// runner is one Run: the group member, its tasks and the epoch in progress.
type runner struct {
	cfg       Config
	graph     *plan.Graph
	rcfg      runtime.Config
	srcNode   *plan.Node
	src       binder
	topic     string
	changelog string
	dlq       string
	sinks     []string
	counters  flow.Counters

	// subs are the sub-topologies (subs[0] reads the source topic), subOf finds one by its input
	// topic, and topics are their input topics.
	subs   []*subtopology
	subOf  map[string]*subtopology
	topics []string
	// idleAfter is the source's idleness timeout, applied to upstream tasks of repartition topics.
	idleAfter time.Duration
	// changelogParts is the changelog's partition count.
	changelogParts int32
	// building collects the repartition writers of the task being built.
	building []*taskWriter

	sess  session
	admin *admin // for committed offsets and lag, while the run lasts
	tasks map[tp]*task

	mu sync.Mutex // guards the fields below, written by group callbacks and produce promises
	// committedOffsets are the group's committed offsets of newly assigned partitions, taken
	// when they were assigned (-1: none).
	committedOffsets map[tp]int64
	revoked          map[tp]bool
	produceErr       error

	// assignedAt is when the group last changed this member's partitions.
	assignedAt time.Time

	// epochCtx is the open epoch's context (beginEpoch), epochCancel its cancel.
	epochCtx    context.Context
	epochCancel context.CancelFunc

	pending []*kgo.Record // the current partition's output, produced after it is processed
	stats   Stats
	epoch   struct {
		records, produced, dead, repart int64
		byTopic                         map[string]int64
	}
}

// Run runs the pipeline over Kafka until ctx is done or, with UntilIdle, the input has been idle;
// both end it with a nil error. The pipeline must read one Kafka Source; its Kafka Sinks write
// in the epochs' transactions. Other sinks see every record of committed epochs, and possibly
// records of aborted ones again (at least once).
func Run(ctx context.Context, p *sluice.Pipeline, cfg Config) (Stats, error) {
	if err := cfg.defaults(); err != nil {
		return Stats{}, err
	}
	if cfg.Application == "" {
		return Stats{}, errors.New("kafka.Run: Config.Application (the consumer group) is required")
	}
	if !cfg.NoHugePages {
		hugepage.Enable()
	}
	r, err := newRunner(p, cfg)
	if err != nil {
		return Stats{}, err
	}
	err = r.prepare(ctx)
	if r.admin != nil {
		defer r.admin.close()
	}
	if err != nil {
		if ctx.Err() != nil { // stopped while starting
			return Stats{}, nil
		}
		return Stats{}, err
	}
	defer func() { r.sess.close() }()
	var failingSince time.Time
	var epochsAtFail int64
	for {
		err = r.loop(ctx)
		var fatal *fatalError
		switch {
		case err == nil || ctx.Err() != nil:
			r.logTasks()
			return r.stats, nil
		case errors.As(err, &fatal) || isFatal(err):
			return r.stats, err
		case failingSince.IsZero() || r.stats.Epochs > epochsAtFail: // the first failure since progress
			failingSince, epochsAtFail = time.Now(), r.stats.Epochs
		case time.Since(failingSince) > r.cfg.RetryFor:
			return r.stats, fmt.Errorf("%w (retried for %s)", err, r.cfg.RetryFor)
		}
		r.cfg.Logger.Warn("kafka: session failed; rejoining from the last committed epoch", "err", err)
		if err := r.reopen(ctx); err != nil {
			return r.stats, err
		}
	}
}

// fatalError is an error retrying cannot fix (a pipeline failure).
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// isFatal reports errors of configuration or authorization, which a new session would meet again.
func isFatal(err error) bool {
	return errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.GroupAuthorizationFailed) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed) || errors.Is(err, kerr.ClusterAuthorizationFailed) ||
		errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.UnknownTopicOrPartition)
}

// reopen closes the session, forgets every task (they are restored from their committed state
// when their partitions come back) and joins again, after a pause.
func (r *runner) reopen(ctx context.Context) error {
	r.sess.close()
	r.tasks = map[tp]*task{}
	r.mu.Lock()
	clear(r.committedOffsets)
	clear(r.revoked)
	r.produceErr = nil
	r.mu.Unlock()
	r.pending = r.pending[:0]
	r.resetEpoch()
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(time.Second):
	}
	var err error
	r.sess, err = r.openSession()
	return err
}

func newRunner(p *sluice.Pipeline, cfg Config) (*runner, error) {
	g, err := p.Plan()
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, graph: g, tasks: map[tp]*task{}, committedOffsets: map[tp]int64{}, revoked: map[tp]bool{},
		changelog: cfg.Application + "-changelog", dlq: cfg.Application + "-dlq"}
	r.stats.ByTopic, r.epoch.byTopic = map[string]int64{}, map[string]int64{}
	r.rcfg = runtime.Config{Parallelism: 1, Clock: flow.WallClock{}, Logger: cfg.Logger, Counters: &r.counters}
	for _, n := range g.Nodes {
		switch n.Kind {
		case plan.KindSource:
			src, _ := n.Source.(interface{ Source() any })
			var b binder
			if src != nil {
				b, _ = src.Source().(binder)
			}
			if b == nil {
				return nil, fmt.Errorf("kafka.Run: source %s is not a Kafka source (kafka.Topic, kafka.Records)", n.Label())
			}
			if r.src != nil {
				return nil, fmt.Errorf("kafka.Run: the pipeline reads two Kafka sources (%q and %q); it supports one", r.topic, b.TopicName())
			}
			r.srcNode, r.src, r.topic = n, b, b.TopicName()
		case plan.KindSink:
			if s, ok := n.Ext.(interface {
				bindEmitter(emitter)
				TopicName() string
			}); ok {
				s.bindEmitter(r)
				r.sinks = append(r.sinks, s.TopicName())
			} else {
				cfg.Logger.Warn("kafka.Run: a sink that is not a Kafka sink sees records at least once", "sink", n.Label())
			}
		}
	}
	if r.src == nil {
		return nil, errors.New("kafka.Run: the pipeline has no Kafka source")
	}
	if err := r.splitGraph(); err != nil {
		return nil, err
	}
	return r, nil
}

// splitGraph cuts the plan into sub-topologies at the KeyBys that need repartition topics.
func (r *runner) splitGraph() error {
	subs, err := split(r.graph, r.srcNode, r.src.partitionedByKey(), r.cfg.Application, r.newWriter)
	if err != nil {
		return err
	}
	subs[0].topic = r.topic
	r.subs, r.subOf = subs, map[string]*subtopology{}
	for _, sub := range subs {
		r.subOf[sub.topic] = sub
		r.topics = append(r.topics, sub.topic)
	}
	if et, ok := r.srcNode.Source.(interface{ WatermarkStrategy() watermark.Strategy }); ok {
		r.idleAfter = et.WatermarkStrategy().IdleTimeout()
	}
	return nil
}

// newWriter makes the Build of a repartition writer node: each task's instance gets a writer
// that adds its records to the epoch.
func (r *runner) newWriter(out *repartOut, rep plan.Repartition) func(t *flow.Task, outs []any) any {
	build := func(t *flow.Task, outs []any) any {
		w := &taskWriter{out: out, r: r, wm: flow.MinTime, sent: flow.MinTime}
		r.building = append(r.building, w)
		return rep.BuildWriter(w)(t, outs)
	}
	return build
}

// prepare checks the broker and topics and opens the group session.
func (r *runner) prepare(ctx context.Context) error {
	a, err := newAdmin(&r.cfg)
	if err != nil {
		return err
	}
	r.admin = a
	if err := a.reach(ctx); err != nil {
		return err
	}
	parts, err := a.partitions(ctx, r.topic)
	if err != nil {
		return err
	}
	if r.cfg.Partitions <= 0 {
		r.cfg.Partitions = parts
	}
	r.subs[0].parts = parts
	if err := r.ensureRepartition(ctx, a); err != nil {
		return err
	}
	compact, segment := "compact", "60000"
	r.changelogParts, err = a.ensureParts(ctx, r.changelog, max(parts, r.cfg.Partitions), map[string]*string{"cleanup.policy": &compact, "segment.ms": &segment})
	if err != nil {
		return err
	}
	for _, t := range append([]string{r.dlq}, r.sinks...) {
		if err := a.ensure(ctx, t, r.cfg.Partitions, nil); err != nil {
			return err
		}
	}
	r.sess, err = r.openSession()
	return err
}

// ensureRepartition creates the missing repartition topics (Config.Partitions partitions) and
// learns their partition counts.
func (r *runner) ensureRepartition(ctx context.Context, a *admin) error {
	for _, sub := range r.subs[1:] {
		parts, err := a.ensureParts(ctx, sub.topic, r.cfg.Partitions, nil)
		if err != nil {
			return err
		}
		sub.parts = parts
		for _, up := range r.subs {
			for _, out := range up.outs {
				if out.topic == sub.topic {
					out.parts = parts
				}
			}
		}
	}
	return nil
}

// loop runs epochs until ctx is done or the input is idle long enough.
func (r *runner) loop(ctx context.Context) error {
	lastInput := time.Now()
	var epochStart time.Time
	var stalled lagWatch
	inEpoch := false
	for {
		wait := r.cfg.CommitInterval
		if inEpoch {
			wait = max(time.Until(epochStart.Add(r.cfg.CommitInterval)), time.Millisecond)
		}
		pctx, cancel := context.WithTimeout(ctx, wait)
		fetches := r.sess.poll(pctx)
		cancel()
		if fetches.IsClientClosed() {
			return r.stop(inEpoch)
		}
		if err := r.fetchErr(fetches); err != nil {
			r.abortOpen(inEpoch)
			return err
		}
		if !inEpoch {
			r.applyRevokes()
		}
		if fetches.NumRecords() > 0 {
			lastInput, stalled.lag = time.Now(), 0
			if !inEpoch {
				if err := r.beginEpoch(ctx); err != nil {
					return err
				}
				inEpoch, epochStart = true, time.Now()
			}
			if err := r.process(ctx, fetches); err != nil {
				r.abortOpen(inEpoch)
				return err
			}
		}
		if inEpoch && time.Since(epochStart) >= r.cfg.CommitInterval {
			if err := r.endEpoch(ctx); err != nil {
				return err
			}
			inEpoch = false
			r.sess.allowRebalance()
		} else if !inEpoch {
			r.sess.allowRebalance()
		}
		switch {
		case ctx.Err() != nil:
			return r.stop(inEpoch)
		case !inEpoch && r.cfg.UntilIdle > 0 && time.Since(r.lastActivity(lastInput)) >= r.cfg.UntilIdle:
			done, err := r.consumed(ctx, &stalled)
			if err != nil {
				return err
			}
			if done {
				r.cfg.Logger.Info("kafka: input idle and fully consumed; stopping", "idle", time.Since(lastInput).Round(time.Millisecond))
				return r.stop(false)
			}
			lastInput = time.Now()
		}
	}
}

// logTasks logs, at debug level, where each task stands: its input offset and watermarks.
func (r *runner) logTasks() {
	for in, t := range r.tasks {
		maxTS, wm := t.feed.position()
		r.cfg.Logger.Debug("kafka: task at the end", "topic", in.topic, "partition", in.part, "next", t.next,
			"max_ts", maxTS, "watermark", wm, "upstream", t.feed.upstream())
	}
}

// stop ends the run: an open epoch is committed (or aborted when it cannot be).
func (r *runner) stop(inEpoch bool) error {
	if inEpoch {
		if err := r.endEpoch(context.Background()); err != nil {
			return err
		}
	}
	return nil
}

// beginEpoch opens the epoch's transaction and its context. The epoch's produce, flush and end
// calls use that context, not the run's: a run stopped by its context still ends the open
// transaction, committing it when it can, else aborting it. A transaction left open holds back
// the last stable offset of every partition it wrote until the broker times it out, and with it
// every read_committed reader of those partitions: downstream tasks, the group's lag (a run
// would stop believing the input consumed) and the consumers of the output. The context is
// bounded instead, by the bounds of the flush and the end (txSession.end) and the epoch's length.
func (r *runner) beginEpoch(ctx context.Context) error {
	if err := r.sess.begin(); err != nil {
		return fmt.Errorf("kafka: beginning a transaction: %w", err)
	}
	r.epochCtx, r.epochCancel = context.WithTimeout(context.WithoutCancel(ctx), 6*r.cfg.TransactionTimeout+r.cfg.CommitInterval)
	return nil
}

// closeEpoch releases the epoch's context.
func (r *runner) closeEpoch() {
	if r.epochCancel != nil {
		r.epochCancel()
	}
	r.epochCtx, r.epochCancel = nil, nil
}

func (r *runner) abortOpen(inEpoch bool) {
	if inEpoch {
		if _, err := r.sess.end(context.Background(), false); err != nil {
			r.cfg.Logger.Warn("kafka: aborting the open transaction", "err", err)
		}
	}
	r.closeEpoch()
}

// fetchErr returns the first fatal fetch error; timeouts of the poll are not errors.
func (r *runner) fetchErr(f kgo.Fetches) error {
	for _, fe := range f.Errors() {
		if errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, context.Canceled) {
			continue
		}
		return fmt.Errorf("kafka: consuming topic %q partition %d: %w", fe.Topic, fe.Partition, explain(fe.Err))
	}
	return nil
}

// applyRevokes drops the tasks of partitions this member no longer owns.
func (r *runner) applyRevokes() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for in := range r.revoked {
		delete(r.tasks, in)
	}
	clear(r.revoked)
}

// process runs each partition's records through its task.
func (r *runner) process(ctx context.Context, f kgo.Fetches) error {
	var err error
	f.EachPartition(func(fp kgo.FetchTopicPartition) {
		if err != nil || len(fp.Records) == 0 {
			return
		}
		var t *task
		if t, err = r.task(ctx, tp{fp.Topic, fp.Partition}); err != nil {
			return
		}
		if err = t.process(fp.Records, r.reject); err != nil {
			err = &fatalError{err}
			return
		}
		if t.sub.id == 0 {
			r.epoch.records += int64(len(fp.Records))
		} else {
			r.epoch.repart += int64(len(fp.Records))
		}
		r.flushPending(r.epochCtx)
	})
	return err
}

// task returns the topic partition's task, restoring it on first use after an assignment.
func (r *runner) task(ctx context.Context, in tp) (*task, error) {
	r.mu.Lock()
	if r.revoked[in] { // assigned again since the task was built: its state may be stale
		delete(r.tasks, in)
		delete(r.revoked, in)
	}
	committed, ok := r.committedOffsets[in]
	r.mu.Unlock()
	if t, ok := r.tasks[in]; ok {
		return t, nil
	}
	if !ok {
		committed = -1
	}
	sub := r.subOf[in.topic]
	if sub == nil {
		return nil, fmt.Errorf("kafka: records of topic %q, which no sub-topology reads", in.topic)
	}
	st, err := r.restoreState(ctx, sub, in.part, committed)
	if err != nil {
		return nil, err
	}
	t, err := r.newTask(ctx, sub, in.part, st)
	if err != nil {
		return nil, err
	}
	r.tasks[in] = t
	return t, nil
}

// emit receives a sink's record (emitter).
func (r *runner) emit(rec *kgo.Record) {
	if size := recordSize(rec); size > r.cfg.MaxRecordBytes {
		r.deadLetter(rec, fmt.Sprintf("record too large for topic %q: %d bytes > %d", rec.Topic, size, r.cfg.MaxRecordBytes), false)
		return
	}
	r.pending = append(r.pending, rec)
}

func recordSize(rec *kgo.Record) int {
	n := len(rec.Key) + len(rec.Value)
	for _, h := range rec.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// reject sends an undecodable input record to the dead-letter topic.
func (r *runner) reject(rec *kgo.Record, reason string) {
	dl := &kgo.Record{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Key: rec.Key, Value: rec.Value}
	r.deadLetter(dl, "undecodable record: "+reason, true)
}

// deadLetter adds rec to the dead-letter topic with its reason, topic and, for an input record,
// partition and offset in the headers. A
// value too large to forward is cut to its first 64 KiB; the header says so.
func (r *runner) deadLetter(rec *kgo.Record, reason string, origin bool) {
	out := &kgo.Record{Topic: r.dlq, Key: rec.Key, Value: rec.Value, Headers: []kgo.RecordHeader{
		{Key: "sluice-reason", Value: []byte(reason)},
		{Key: "sluice-topic", Value: []byte(rec.Topic)},
	}}
	if origin {
		out.Headers = append(out.Headers,
			kgo.RecordHeader{Key: "sluice-partition", Value: strconv.AppendInt(nil, int64(rec.Partition), 10)},
			kgo.RecordHeader{Key: "sluice-offset", Value: strconv.AppendInt(nil, rec.Offset, 10)})
	}
	if recordSize(out) > r.cfg.MaxRecordBytes {
		out.Value = out.Value[:min(len(out.Value), 64<<10)]
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: "sluice-truncated", Value: strconv.AppendInt(nil, int64(len(rec.Value)), 10)})
	}
	r.counters.DeadLetters.Add(1)
	r.epoch.dead++
	r.pending = append(r.pending, out)
}

// flushPending hands the partition's output to the producer.
func (r *runner) flushPending(ctx context.Context) {
	for _, rec := range r.pending {
		r.sess.produce(ctx, rec, r.promise)
		switch {
		case r.subOf[rec.Topic] != nil: // a repartition topic: internal
		case rec.Topic == r.dlq:
			r.epoch.produced++
		default:
			r.epoch.produced++
			r.epoch.byTopic[rec.Topic]++
		}
	}
	clear(r.pending)
	r.pending = r.pending[:0]
}

func (r *runner) promise(rec *kgo.Record, err error) {
	if err == nil {
		return
	}
	r.mu.Lock()
	if r.produceErr == nil {
		r.produceErr = fmt.Errorf("kafka: producing to topic %q: %w", rec.Topic, explain(err))
	}
	r.mu.Unlock()
}

// endEpoch snapshots the touched tasks into the changelog and commits the transaction; when it
// aborts, the touched tasks roll back to their last committed state.
func (r *runner) endEpoch(runCtx context.Context) error {
	ctx := r.epochCtx
	defer r.closeEpoch()
	now := time.Now().UnixMilli()
	var touched []*task
	for _, t := range r.tasks {
		if !t.touched {
			continue
		}
		st, err := t.snapshot(now)
		if err != nil {
			r.abortOpen(true)
			return &fatalError{err}
		}
		for _, w := range t.writers {
			w.markers(t.part)
		}
		r.flushPending(ctx) // outputs of processing-time timers, watermark markers
		t.pending = st
		t.changelogRec = &kgo.Record{Topic: r.changelog, Partition: r.changelogPartition(t.part),
			Key: changelogKey(t.sub, t.part), Value: st.encode(nil)}
		r.sess.produce(ctx, t.changelogRec, r.promise)
		touched = append(touched, t)
	}
	t0 := time.Now()
	fctx, cancel := context.WithTimeout(ctx, 3*r.cfg.TransactionTimeout) // bounded: see txSession.end
	err := r.sess.flush(fctx)
	cancel()
	if err != nil {
		r.abortOpen(true)
		return fmt.Errorf("kafka: flushing the epoch: %w", err)
	}
	t1 := time.Now()
	r.mu.Lock()
	perr := r.produceErr
	r.produceErr = nil
	r.mu.Unlock()
	committed, err := r.sess.end(ctx, perr == nil)
	r.cfg.Logger.Debug("kafka: epoch", "committed", committed, "records", r.epoch.records, "tasks", len(touched),
		"flush", t1.Sub(t0), "end", time.Since(t1))
	if perr != nil {
		return perr
	}
	if err != nil {
		return fmt.Errorf("kafka: ending the transaction: %w", err)
	}
	for _, t := range touched {
		t.touched = false
		if committed {
			t.pending.ChangelogOffset = t.changelogRec.Offset
			t.committed = t.pending
			r.saveLocal(t.sub, t.part, t.committed)
		}
		t.pending, t.changelogRec = nil, nil
	}
	if committed {
		r.stats.Epochs++
		r.stats.Records += r.epoch.records
		r.stats.Produced += r.epoch.produced
		r.stats.DeadLetters += r.epoch.dead
		r.stats.Repartitioned += r.epoch.repart
		for t, n := range r.epoch.byTopic {
			r.stats.ByTopic[t] += n
		}
	} else {
		r.stats.Aborted++
		r.cfg.Logger.Info("kafka: epoch aborted (a rebalance or a failed commit); rolling back", "tasks", len(touched))
		if err := r.rollback(runCtx, touched); err != nil {
			return err
		}
	}
	r.resetEpoch()
	return nil
}

func (r *runner) resetEpoch() {
	r.epoch.records, r.epoch.produced, r.epoch.dead, r.epoch.repart = 0, 0, 0, 0
	clear(r.epoch.byTopic)
}

// rollback rebuilds tasks from their last committed state.
func (r *runner) rollback(ctx context.Context, ts []*task) error {
	for _, t := range ts {
		nt, err := r.newTask(ctx, t.sub, t.part, t.committed)
		if err != nil {
			return err
		}
		r.tasks[tp{t.sub.topic, t.part}] = nt
	}
	return nil
}

// lastActivity is the later of the last input and the last assignment change: a member that has
// just been given partitions is not idle.
func (r *runner) lastActivity(lastInput time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.assignedAt.After(lastInput) {
		return r.assignedAt
	}
	return lastInput
}

// lagWatch is the group's stable lag while this member idles, and since when it has not shrunk.
type lagWatch struct {
	lag   int64
	since time.Time
}

// consumed reports whether the group has consumed and committed all of its input, once this
// member is idle. While records remain in partitions another member holds (or held, until its
// session times out), it waits for the group to finish them; if that lag does not shrink for a
// while, no member is consuming them, and it returns an error that rejoins the group (which
// rebalances it). Records of transactions still open (a process killed in a transaction, until
// its restart or the broker's timeout aborts it; commit markers not yet written) are not
// readable yet: it waits for them, without counting them as stalled. A run that stopped then
// would leave whatever those transactions hold back, such as the end-of-stream markers of a
// repartition topic, to no one.
func (r *runner) consumed(ctx context.Context, w *lagWatch) (bool, error) {
	lag, open, err := r.groupLag(ctx)
	switch {
	case err != nil:
		r.cfg.Logger.Info("kafka: input idle here; the group's lag is unknown", "err", err)
		return false, nil
	case lag == 0 && open == 0:
		return true, nil
	case lag == 0:
		r.cfg.Logger.Info("kafka: input idle and consumed up to transactions still open on it; waiting for them to end", "records", open)
		w.lag = 0
		return false, nil
	}
	r.cfg.Logger.Info("kafka: input idle here, but the group has lag; waiting", "lag", lag)
	if w.lag == 0 || lag < w.lag {
		w.lag, w.since = lag, time.Now()
	} else if time.Since(w.since) > max(3*r.cfg.UntilIdle, 2*r.cfg.SessionTimeout) {
		return false, fmt.Errorf("kafka: the group's lag on %q stayed at %d for %s while this member was idle: rejoining",
			r.topic, lag, time.Since(w.since).Round(time.Second))
	}
	return false, nil
}

// groupLag is the number of records of the input topics (the source and the repartition topics)
// the group has not committed: lag up to each partition's last stable offset, and open beyond it,
// up to its end (records of open transactions, and commit markers being written).
func (r *runner) groupLag(ctx context.Context) (lag, open int64, err error) {
	a := r.admin
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ConnectTimeout)
	defer cancel()
	stable, err := a.adm.ListCommittedOffsets(ctx, r.topics...)
	if err != nil {
		return 0, 0, err
	}
	ends, err := a.adm.ListEndOffsets(ctx, r.topics...)
	if err != nil {
		return 0, 0, err
	}
	committed, err := a.adm.FetchOffsets(ctx, r.cfg.Application)
	if err != nil {
		return 0, 0, err
	}
	starts, err := r.startOffsets(ctx, a.adm)
	if err != nil {
		return 0, 0, err
	}
	stable.Each(func(o kadm.ListedOffset) {
		from := starts[tp{o.Topic, o.Partition}] // where the group would begin without a commit
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.At >= 0 {
			from = c.At
		}
		lag += max(o.Offset-from, 0)
		if end, ok := ends.Lookup(o.Topic, o.Partition); ok {
			open += max(end.Offset-max(o.Offset, from), 0)
		}
	})
	return lag, open, nil
}

// startOffsets is, per partition, where a partition without a commit begins: Config.Start for
// the source topic, the earliest record for repartition topics.
func (r *runner) startOffsets(ctx context.Context, adm *kadm.Client) (map[tp]int64, error) {
	var l kadm.ListedOffsets
	var err error
	switch s := r.cfg.Start; {
	case s.atMS > 0:
		l, err = adm.ListOffsetsAfterMilli(ctx, s.atMS, r.topic)
	case s.latest:
		l, err = adm.ListEndOffsets(ctx, r.topic) // nothing was there to read when it began
	default:
		l, err = adm.ListStartOffsets(ctx, r.topic)
	}
	if err != nil {
		return nil, err
	}
	out := map[tp]int64{}
	l.Each(func(o kadm.ListedOffset) { out[tp{o.Topic, o.Partition}] = o.Offset })
	if len(r.topics) > 1 {
		if l, err = adm.ListStartOffsets(ctx, r.topics[1:]...); err != nil {
			return nil, err
		}
		l.Each(func(o kadm.ListedOffset) { out[tp{o.Topic, o.Partition}] = o.Offset })
	}
	return out, nil
}
