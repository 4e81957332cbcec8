// The response side of requests: one shared pub/sub connection per instance, one waiter
// per request in flight, keyed by its response channel.

package gilmour

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// errTooManyWaiters: the waiter map is full (it is bounded).
var errTooManyWaiters = errors.New("too many Gilmour requests in flight")

// responses routes each message of gilmour.response.<sender> to the request waiting for it.
type responses struct {
	rdb     *redis.Client
	ps      *redis.PubSub
	max     int
	mu      sync.Mutex
	waiters map[string]*waiter // by response channel
	done    chan struct{}
}

// waiter is one request waiting for its response.
type waiter struct {
	channel string
	acked   chan struct{} // closed when Redis confirmed the SUBSCRIBE
	ackOnce sync.Once
	got     chan string // the first response's payload
}

func newResponses(rdb *redis.Client, max int) *responses {
	r := &responses{rdb: rdb, ps: rdb.Subscribe(context.Background()), max: max,
		waiters: map[string]*waiter{}, done: make(chan struct{})}
	ch := r.ps.ChannelWithSubscriptions(redis.WithChannelSize(256))
	go r.route(ch)
	return r
}

// route hands subscribe confirmations and responses to their waiters until the pub/sub
// connection closes. A resubscribe after a reconnect confirms again: harmless.
func (r *responses) route(ch <-chan any) {
	defer close(r.done)
	for m := range ch {
		switch m := m.(type) {
		case *redis.Subscription:
			if w := r.waiter(m.Channel); w != nil && m.Kind == "subscribe" {
				w.ackOnce.Do(func() { close(w.acked) })
			}
		case *redis.Message:
			if w := r.waiter(m.Channel); w != nil {
				select {
				case w.got <- m.Payload:
				default: // a second response: the first one won
				}
			}
		}
	}
}

func (r *responses) waiter(channel string) *waiter {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.waiters[channel]
}

// subscribe registers a waiter for sender's response channel and returns once Redis
// confirmed the subscription, so a response cannot be missed (the Go library publishes
// without waiting, a race). The caller must call release.
func (r *responses) subscribe(ctx context.Context, sender string) (*waiter, error) {
	w := &waiter{channel: responsePrefix + sender, acked: make(chan struct{}), got: make(chan string, 1)}
	r.mu.Lock()
	if len(r.waiters) >= r.max {
		r.mu.Unlock()
		return nil, errTooManyWaiters
	}
	r.waiters[w.channel] = w
	r.mu.Unlock()
	// go-redis may hold the pub/sub connection's lock through a reconnect, past ctx: the
	// SUBSCRIBE runs aside, so the caller never waits past its deadline.
	sent := make(chan error, 1)
	go func() { sent <- r.ps.Subscribe(context.Background(), w.channel) }()
	select {
	case err := <-sent:
		if err != nil {
			r.release(w)
			return nil, err
		}
	case <-ctx.Done():
		go func() { <-sent; r.release(w) }()
		return nil, ctx.Err()
	}
	if err := r.waitAck(ctx, w); err != nil {
		r.release(w)
		return nil, err
	}
	return w, nil
}

// ackPatience is how long a SUBSCRIBE confirmation may take before Redis is asked whether
// it is there at all: a connection Redis lost can take a SUBSCRIBE without error.
const ackPatience = 500 * time.Millisecond

// waitAck waits for w's confirmation; a Redis that does not answer a PING meanwhile is an
// error at once rather than a wait until ctx ends.
func (r *responses) waitAck(ctx context.Context, w *waiter) error {
	patience := time.NewTimer(ackPatience)
	defer patience.Stop()
	for {
		select {
		case <-w.acked:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-patience.C:
			pctx, cancel := context.WithTimeout(ctx, dialTimeout)
			err := r.rdb.Ping(pctx).Err()
			cancel()
			if err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
}

// release forgets w and unsubscribes its channel, aside (see subscribe).
func (r *responses) release(w *waiter) {
	r.mu.Lock()
	delete(r.waiters, w.channel)
	r.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		_ = r.ps.Unsubscribe(ctx, w.channel)
	}()
}

// close ends the pub/sub connection and waits for the router.
func (r *responses) close() {
	r.ps.Close()
	select {
	case <-r.done:
	case <-time.After(ioTimeout):
	}
}
