package testenv

import (
	"testing"
	"time"
)

// pollInterval is how often Poll and WaitFor look again.
const pollInterval = 10 * time.Millisecond

// Poll calls cond every 10 ms until it holds (true) or within has passed (false): the one
// place tests wait, on observable state, never on sleeps.
func Poll(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
	return true
}

// WaitFor is Poll that fails the test, naming what it waited for, when within has passed.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(within, cond) {
		t.Fatalf("timed out after %s waiting for %s", within, what)
	}
}
