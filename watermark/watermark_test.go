package watermark

import (
	"testing"
	"time"
)

func TestBoundedLagsByDelayPlusOne(t *testing.T) {
	s := NewStrategy(BoundedOutOfOrderness(5 * time.Second))
	g := s.NewGenerator()
	if g.Current() != Min {
		t.Fatalf("before events: got %d, want Min", g.Current())
	}
	g.OnEvent(10_000)
	g.OnEvent(7_000) // out of order: does not move the max back
	if got := g.Current(); got != 4_999 {
		t.Fatalf("got %d, want 4999", got)
	}
}

func TestMonotonic(t *testing.T) {
	g := NewStrategy(Monotonic()).NewGenerator()
	g.OnEvent(100)
	if got := g.Current(); got != 99 {
		t.Fatalf("got %d, want 99", got)
	}
}

func TestCombinerMinOverActiveInputs(t *testing.T) {
	c := NewCombiner(3)
	if c.Update(0, 100) {
		t.Fatal("advanced while inputs 1 and 2 are at Min")
	}
	c.Update(1, 50)
	if !c.Update(2, 70) || c.Current() != 50 {
		t.Fatalf("combined = %d, want 50", c.Current())
	}
	if c.Holding() != 1 {
		t.Fatalf("holding = %d, want 1", c.Holding())
	}
	// Input 1 goes idle: the minimum over the others is 70.
	if !c.SetIdle(1, true) || c.Current() != 70 {
		t.Fatalf("after idle: %d, want 70", c.Current())
	}
	// An idle input that comes back behind the combined watermark does not move it back.
	c.Update(1, 60)
	if c.Current() != 70 {
		t.Fatalf("went backwards to %d", c.Current())
	}
	c.SetIdle(0, true)
	c.SetIdle(1, true)
	c.SetIdle(2, true)
	// All idle: the maximum over every input, 100 (input 0), is no longer held back.
	if !c.AllIdle() || c.Holding() != -1 || c.Current() != 100 {
		t.Fatalf("all idle: allIdle=%v holding=%d current=%d", c.AllIdle(), c.Holding(), c.Current())
	}
}

// TestCombinerLastActiveInputGoesIdle: input 0 goes idle first at 9999 while input 1 (no events
// yet) is active at Min; when input 1 goes idle too, the watermark must reach 9999.
func TestCombinerLastActiveInputGoesIdle(t *testing.T) {
	c := NewCombiner(2)
	c.Update(0, 9_999)
	c.SetIdle(0, true)
	if c.Current() != Min {
		t.Fatalf("input 1 is active at Min; got %d", c.Current())
	}
	if !c.SetIdle(1, true) || c.Current() != 9_999 {
		t.Fatalf("all idle: got %d, want 9999", c.Current())
	}
}
