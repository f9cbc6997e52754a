package runtime

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/internal/flow"
	"github.com/sluicehq/sluice/internal/plan"
)

// SyncRun is a plan built for single-goroutine, deterministic execution: exchanges deliver by
// direct calls, driven sources are pushed into by the caller, and processing time advances only
// when the caller says so. The sluicetest driver is built on it.
type SyncRun struct {
	r     *run
	tasks []*flow.Task
	heads []any
	src   map[*plan.Node]int // driven source node -> task index
	plain []int              // tasks of non-driven source splits
}

// BuildSync compiles g for synchronous execution. Non-driven sources are opened now and read by
// RunSources.
func BuildSync(ctx context.Context, g *plan.Graph, cfg Config) (*SyncRun, error) {
	cfg.ensureDefaults(g)
	r := &run{sync: true, g: g, cfg: cfg, abort: make(chan struct{}), exchanges: map[*plan.Node]plan.Exchange{}}
	if err := r.plan(ctx); err != nil {
		return nil, err
	}
	s := &SyncRun{r: r, src: map[*plan.Node]int{}}
	for _, st := range r.stages {
		for i := 0; i < st.n; i++ {
			t, head := r.buildSubtask(st, i)
			idx := len(s.tasks)
			s.tasks = append(s.tasks, t)
			s.heads = append(s.heads, head)
			switch {
			case st.entry.Kind == plan.KindExchange:
				r.exchanges[st.entry].Attach(i, t, head)
			case st.splits == nil:
				s.src[st.entry] = idx
			default:
				s.plain = append(s.plain, idx)
			}
		}
	}
	return s, nil
}

// Source returns the head outlet (flow.Outlet[T] as any) and task of a driven source.
func (s *SyncRun) Source(n *plan.Node) (any, *flow.Task, bool) {
	i, ok := s.src[n]
	if !ok {
		return nil, nil, false
	}
	return s.heads[i], s.tasks[i], true
}

// Guard runs f and turns a task abort (a sink error, a fail-fast panic) into an error.
func (s *SyncRun) Guard(f func()) error { return flow.RunGuarded(f) }

// RunSources reads every non-driven source split to its end, in order.
func (s *SyncRun) RunSources(ctx context.Context) error {
	k := 0
	for _, st := range s.r.stages {
		for _, sp := range st.splits {
			i := s.plain[k]
			k++
			if err := sp.Run(ctx, s.tasks[i], s.heads[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// FireProcTime delivers processing time now to every task whose timers are due.
func (s *SyncRun) FireProcTime(now int64) error {
	return flow.RunGuarded(func() {
		for i, t := range s.tasks {
			if t.ProcDeadline() <= now {
				t.TakeProcDeadline()
				s.heads[i].(flow.Node).ProcTime(now)
			}
		}
	})
}

// Finish ends the dead-letter stream of every task; call it after every source has finished.
func (s *SyncRun) Finish() error {
	return flow.RunGuarded(func() {
		for _, t := range s.tasks {
			finishDLQ(t)
		}
	})
}

// Checkpoint takes checkpoint id across every task, synchronously, and returns their snapshots.
func (s *SyncRun) Checkpoint(id int64) ([]flow.TaskSnapshot, error) {
	var snaps []flow.TaskSnapshot
	for _, t := range s.tasks {
		t.OnSnapshot = func(ts flow.TaskSnapshot) { snaps = append(snaps, ts) }
	}
	err := flow.RunGuarded(func() {
		for _, st := range s.r.stages {
			if st.entry.Kind != plan.KindSource {
				continue
			}
			for _, t := range s.tasks {
				if t.Stage == st.entry.Name {
					t.Checkpoint(id, nil)
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	for _, sn := range snaps {
		if sn.Err != nil {
			return nil, sn.Err
		}
	}
	if len(snaps) != len(s.tasks) {
		return nil, fmt.Errorf("checkpoint %d: %d of %d tasks reported a snapshot", id, len(snaps), len(s.tasks))
	}
	return snaps, nil
}

// RestoreSync builds g afresh, like BuildSync, and restores every operator from snapshots taken
// by Checkpoint on a run of the same graph and parallelism.
func RestoreSync(ctx context.Context, g *plan.Graph, cfg Config, snaps []flow.TaskSnapshot) (*SyncRun, error) {
	s, err := BuildSync(ctx, g, cfg)
	if err != nil {
		return nil, err
	}
	byTask := map[string]flow.TaskSnapshot{}
	for _, sn := range snaps {
		byTask[fmt.Sprintf("%s#%d", sn.Stage, sn.Subtask)] = sn
	}
	for _, t := range s.tasks {
		sn := byTask[t.Name()]
		kgStart, kgEnd := flow.KeyGroupRange(flow.DefaultMaxParallelism, t.Parallelism, t.Index)
		for _, op := range t.Snapshotters() {
			var parts []flow.StatePart
			for _, o := range sn.States {
				if o.UID == op.StateUID() {
					parts = append(parts, flow.StatePart{Data: o.Data, OperatorState: true})
				}
			}
			if err := op.RestoreState(flow.NewStateReader(parts, kgStart, kgEnd)); err != nil {
				return nil, fmt.Errorf("restoring operator %q of task %s: %w", op.StateUID(), t.Name(), err)
			}
		}
	}
	return s, nil
}
