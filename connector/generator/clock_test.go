package generator

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWallClockSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (wallClock{}).Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if err := (wallClock{}).Sleep(context.Background(), time.Microsecond); err != nil {
		t.Fatal(err)
	}
}

func TestPacerTooFastIsUnpaced(t *testing.T) {
	if p := newPacer(wallClock{}, 2e9); p != nil {
		t.Fatalf("2e9/s paced with interval %v", p.interval)
	}
	if p := newPacer(wallClock{}, 0); p != nil {
		t.Fatal("rate 0 paced")
	}
}
