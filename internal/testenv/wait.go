package testenv

import (
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/wait"
)

// Poll calls cond until it holds (true) or within has passed (false): the one place tests
// wait, on observable state, never on sleeps. It is wait.Until under the name tests use.
func Poll(within time.Duration, cond func() bool) bool {
	return wait.Until(within, cond)
}

// WaitFor is Poll that fails the test, naming what it waited for, when within has passed.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(within, cond) {
		t.Fatalf("timed out after %s waiting for %s", within, what)
	}
}
