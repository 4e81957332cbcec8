package testenv

import (
	"testing"
	"time"
)

// WaitFor polls cond every 10 ms until it holds, and fails the test naming what it waited
// for once within has passed: tests synchronise on observable state, never on sleeps.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
