package watermark

// Combiner merges the watermarks of several inputs into one: the minimum over the inputs that are
// not idle. When every input is idle, the output is idle and the combined watermark becomes the
// maximum over all inputs (Flink's StatusWatermarkValve): no active input is left to hold it back,
// and an input that went idle early must not block the others' progress forever. A Combiner is
// used by one goroutine.
type Combiner struct {
	wms      []int64
	idle     []bool
	combined int64
}

// NewCombiner returns a combiner over n inputs, all starting at Min and active.
func NewCombiner(n int) *Combiner {
	c := &Combiner{wms: make([]int64, n), idle: make([]bool, n), combined: Min}
	for i := range c.wms {
		c.wms[i] = Min
	}
	return c
}

// Inputs returns the number of inputs.
func (c *Combiner) Inputs() int { return len(c.wms) }

// Current returns the combined watermark.
func (c *Combiner) Current() int64 { return c.combined }

// Update records input i's watermark (ignored if it would go backwards), marks the input active,
// and reports whether the combined watermark advanced.
func (c *Combiner) Update(i int, wm int64) bool {
	if wm > c.wms[i] {
		c.wms[i] = wm
	}
	c.idle[i] = false
	return c.recompute()
}

// SetIdle marks input i idle or active and reports whether the combined watermark advanced.
func (c *Combiner) SetIdle(i int, idle bool) bool {
	c.idle[i] = idle
	return c.recompute()
}

// Idle reports whether input i is idle.
func (c *Combiner) Idle(i int) bool { return c.idle[i] }

// Watermark returns input i's last watermark.
func (c *Combiner) Watermark(i int) int64 { return c.wms[i] }

// AllIdle reports whether every input is idle.
func (c *Combiner) AllIdle() bool {
	for _, b := range c.idle {
		if !b {
			return false
		}
	}
	return len(c.idle) > 0
}

// Holding returns the index of the active input with the smallest watermark (the one holding the
// combined watermark back), or -1 when every input is idle.
func (c *Combiner) Holding() int {
	h := -1
	for i, wm := range c.wms {
		if !c.idle[i] && (h < 0 || wm < c.wms[h]) {
			h = i
		}
	}
	return h
}

func (c *Combiner) recompute() bool {
	h := c.Holding()
	if h < 0 {
		return c.advanceToMax()
	}
	if m := c.wms[h]; m > c.combined {
		c.combined = m
		return true
	}
	return false
}

func (c *Combiner) advanceToMax() bool {
	m := Min
	for _, wm := range c.wms {
		m = max(m, wm)
	}
	if m > c.combined {
		c.combined = m
		return true
	}
	return false
}
