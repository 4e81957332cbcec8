// The route queue's prefetch follows the size of its messages. spec/protocol.md §8 has
// the bundle's concurrency count requests, not messages: a records message holds up to
// --max-batch requests, hence a prefetch of max(1, concurrency / --max-batch) messages.
// But a frontend batches only what arrives while a publish is in flight, so at low load,
// or for a slow bundle, its messages hold one request or a few, and catalogue-form
// messages always one: at that prefetch (1 at the defaults) the bundle would run one
// request at a time while the rest wait in the broker. So each consumer starts at
// max(1, concurrency / --max-batch) and then uses B, the most records of the route's
// recent messages, in place of --max-batch: a message larger than its prefetch assumes
// makes it subscribe again with a smaller prefetch at once (it must hold fewer messages);
// adaptEpoch messages in a row all smaller make it subscribe with a larger one (the first
// message after an enable alone does: a fresh route has no history to keep it from
// flapping, and its first requests should not wait for four messages served one by one). Either way
// at most concurrency requests run (the limit is the route's, shared by both
// subscriptions), and about concurrency are held.

package runner

import "context"

// adaptEpoch is how many messages a consumer looks at before it raises its prefetch.
const adaptEpoch = 4

// observe notes a message of n records (1 for the catalogue's form) taken by c.
func (r *Runner) observe(rt *route, c *consumer, n int) {
	if !c.adaptive {
		return
	}
	if want := prefetchFor(c.concurrency, n); want < c.prefetch {
		r.resubscribe(rt, c, want)
		return
	}
	for {
		m := c.epochMax.Load()
		if int64(n) <= m || c.epochMax.CompareAndSwap(m, int64(n)) {
			break
		}
	}
	if c.epochN.Add(1) < int64(c.epoch) {
		return
	}
	c.epochN.Store(0)
	if want := prefetchFor(c.concurrency, int(c.epochMax.Swap(0))); want > c.prefetch {
		r.resubscribe(rt, c, want)
	}
}

// resubscribe replaces c, while it is rt's consumer, by a subscription with prefetch (the
// new one first, then c stops: its requests in flight finish). Once per consumer.
func (r *Runner) resubscribe(rt *route, c *consumer, prefetch int) {
	if !c.resizing.CompareAndSwap(false, true) {
		return
	}
	r.startJob(func(context.Context) {
		rt.mu.Lock()
		if rt.consumer != c {
			rt.mu.Unlock()
			return
		}
		rt.consumer = r.startConsumer(rt, c.concurrency, prefetch, c.lim)
		rt.consumer.epoch = adaptEpoch
		rt.mu.Unlock()
		r.log.Debug("route queue prefetch follows its messages", "queue", rt.queue, "from", c.prefetch, "to", prefetch)
		c.stop()
	})
}
