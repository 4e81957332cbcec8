// Package wait is the one way Funcatron's programs and tests wait for something: poll an
// observable condition with a deadline, never sleep a fixed time and hope. Tests reach it
// through internal/testenv (Poll, WaitFor); make run and the bench use it directly.
package wait

import (
	"context"
	"fmt"
	"time"
)

// Interval is how often Until looks again.
const Interval = 10 * time.Millisecond

// Until calls cond every Interval until it holds (true) or within has passed (false).
func Until(within time.Duration, cond func() bool) bool {
	return UntilEvery(within, Interval, cond)
}

// UntilEvery is Until looking every interval: for a condition that is costly to look at
// (one that starts a process) and changes slowly.
func UntilEvery(within, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
	return true
}

// Ready is Until for a process being started: it gives up at once when exited is closed
// (the process died, so waiting longer is pointless) and says in its error what it waited
// for and why it stopped.
func Ready(exited <-chan struct{}, within time.Duration, what string, cond func() bool) error {
	died := false
	ok := Until(within, func() bool {
		select {
		case <-exited:
			died = true
			return true
		default:
		}
		return cond()
	})
	switch {
	case died:
		return fmt.Errorf("%s: the process exited", what)
	case !ok:
		return fmt.Errorf("%s: not ready after %s", what, within)
	}
	return nil
}

// Pause waits d, or less when ctx ends first: a backoff or a spacing between tries, never
// a way to wait for something to happen (Until is). It reports whether the whole d passed.
func Pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
