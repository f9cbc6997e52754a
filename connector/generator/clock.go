package generator

import (
	"context"
	"time"
)

// Clock is the time source that paces a Rate-limited generator. It is shared by all splits of a
// source, so it must be safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep blocks until d has passed on this clock or ctx is done, whichever comes first. It
	// returns ctx.Err() when ctx ended the wait, else nil.
	Sleep(ctx context.Context, d time.Duration) error
}

// wallClock is the real clock.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pollInterval is the longest a paced Read waits before it returns with no records, so the
// runtime can check idleness and timers.
const pollInterval = 100 * time.Millisecond

// burstWindow is how much time's worth of records the token bucket holds.
const burstWindow = 100 * time.Millisecond

// pacer is a token bucket in its GCRA form: tat is the theoretical arrival time of the next
// record, interval the time one record's token takes to accrue, and tau the slack that lets up
// to burst records go at once. Integer nanoseconds keep it exact under a fake clock.
type pacer struct {
	clock    Clock
	interval time.Duration
	tau      time.Duration
	tat      time.Time
	started  bool
}

// newPacer returns a pacer for ratePerSecond records per second, or nil when the rate is too high
// to pace (an interval below one nanosecond) or zero.
func newPacer(clock Clock, ratePerSecond float64) *pacer {
	if ratePerSecond <= 0 {
		return nil
	}
	interval := time.Duration(float64(time.Second) / ratePerSecond)
	if interval <= 0 {
		return nil
	}
	burst := max(int64(burstWindow/interval), 1)
	return &pacer{clock: clock, interval: interval, tau: time.Duration(burst-1) * interval}
}

// take waits until at least one record may go, for at most pollInterval, and returns how many of
// want may go now: between 0 (the poll interval passed) and want.
func (p *pacer) take(ctx context.Context, want int64) (int64, error) {
	now := p.clock.Now()
	if !p.started {
		p.tat, p.started = now, true
	}
	deadline := now.Add(pollInterval)
	for {
		if n := p.allow(now, want); n > 0 {
			return n, nil
		}
		wait := min(p.tat.Sub(now)-p.tau, deadline.Sub(now))
		if wait <= 0 {
			return 0, nil
		}
		if err := p.clock.Sleep(ctx, wait); err != nil {
			return 0, err
		}
		now = p.clock.Now()
	}
}

// allow takes up to want tokens available at now and returns how many it took.
func (p *pacer) allow(now time.Time, want int64) int64 {
	base := p.tat
	if now.After(base) {
		base = now
	}
	slack := now.Sub(base) + p.tau
	if slack < 0 {
		return 0
	}
	n := min(int64(slack/p.interval)+1, want)
	p.tat = base.Add(time.Duration(n) * p.interval)
	return n
}
