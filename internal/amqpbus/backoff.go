// Exponential backoff with jitter, for reconnecting and re-subscribing.
package amqpbus

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff doubles its delay from min up to max. Each wait is drawn from [d/2, d] (equal
// jitter), so a fleet of runners that lost the same broker does not reconnect in lockstep.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

// next returns the next delay.
func (b *backoff) next() time.Duration {
	switch {
	case b.cur == 0:
		b.cur = b.min
	case b.cur < b.max:
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return half + rand.N(half+1)
}

// reset starts again from min, after a success.
func (b *backoff) reset() { b.cur = 0 }

// wait blocks for the next delay; it returns false if ctx or stop ended first.
func (b *backoff) wait(ctx context.Context, stop <-chan struct{}) bool {
	t := time.NewTimer(b.next())
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-stop:
		return false
	}
}
