package wait

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	n := 0
	if !Until(time.Second, func() bool { n++; return n == 3 }) || n != 3 {
		t.Errorf("Until stopped after %d calls, want 3", n)
	}
	start := time.Now()
	if Until(50*time.Millisecond, func() bool { return false }) {
		t.Error("Until reported a condition that never held")
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Error("Until gave up before its deadline")
	}
}

// TestUntilEvery: it looks no more often than its interval (3 looks in 250 ms at 100 ms,
// not the 25 of Until's interval).
func TestUntilEvery(t *testing.T) {
	n := 0
	if UntilEvery(250*time.Millisecond, 100*time.Millisecond, func() bool { n++; return false }) {
		t.Error("UntilEvery reported a condition that never held")
	}
	if n < 2 || n > 4 {
		t.Errorf("UntilEvery looked %d times in 250 ms at 100 ms, want about 3", n)
	}
}

func TestReady(t *testing.T) {
	exited := make(chan struct{})
	close(exited)
	err := Ready(exited, time.Minute, "the thing", func() bool { return false })
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("Ready with an exited process = %v, want an error saying it exited", err)
	}
	if err := Ready(make(chan struct{}), time.Second, "x", func() bool { return true }); err != nil {
		t.Errorf("Ready = %v", err)
	}
	if err := Ready(make(chan struct{}), 30*time.Millisecond, "x", func() bool { return false }); err == nil || !strings.Contains(err.Error(), "not ready") {
		t.Errorf("Ready past its deadline = %v", err)
	}
}

func TestPause(t *testing.T) {
	if !Pause(context.Background(), time.Millisecond) {
		t.Error("Pause without an end reported it was cut short")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if Pause(ctx, time.Hour) || time.Since(start) > time.Second {
		t.Error("Pause did not end with its context")
	}
}
