// This file watches whether each enabled route is served: how many runners consume its
// queue. The route table says so (RouteEntry.Runners), so a frontend answers 503 at once
// for a route nobody serves instead of a 504 after its whole timeout (spec/frontend.md
// "No runner, no wait").

package tron

import (
	"context"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
)

// servedPeriod is how often the Tron counts the route queues' consumers. The broker drops
// a consumer when its connection closes (a runner process dying) and within the AMQP
// heartbeat timeout when a runner host vanishes; the Tron sees it within this period.
const servedPeriod = time.Second

// consumerCounter is a bus that can count a queue's consumers (amqpbus.Bus; bus.Memory
// cannot, and then route entries carry no count).
type consumerCounter interface {
	QueueConsumers(ctx context.Context, names []string) (map[string]int, error)
}

// watchServed counts the consumers of every enabled route's queue each servedPeriod and
// sends the route table to the frontends when a route became served or unserved.
func (t *Tron) watchServed(ctx context.Context) error {
	tick := time.NewTicker(servedPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			t.checkServed(ctx)
		}
	}
}

func (t *Tron) checkServed(ctx context.Context) {
	counts, ok := t.countServing(ctx)
	if !ok {
		return
	}
	if !t.setRunners(counts) {
		return
	}
	t.ctl.Lock()
	t.broadcastRoutes(ctx)
	t.ctl.Unlock()
}

// countServing counts each enabled route's runners: its queue's consumers, as a passive
// declare tells; with quorum queues, the runners whose heartbeats say they serve it, because
// RabbitMQ 3.10 answers a passive declare of a quorum queue with its unacknowledged
// messages in the consumer count (rabbitmq-server#16185, fixed in 2026), 0 for idle runners.
// A runner that dies then counts until it is dropped as silent (3 heartbeat periods), not
// within servedPeriod (docs/deploy.md).
func (t *Tron) countServing(ctx context.Context) (map[string]int, bool) {
	queues := t.enabledQueues()
	if t.opts.QueueType == protocol.QueueQuorum {
		return t.heartbeatServing(queues), true
	}
	b := t.getBus()
	cc, ok := b.(consumerCounter)
	if !ok || !b.Connected() {
		return nil, false
	}
	cctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	counts, err := cc.QueueConsumers(cctx, queues)
	if err != nil {
		t.log.Debug("counting the route queues' consumers", "err", err)
		return nil, false
	}
	for _, q := range queues {
		if _, ok := counts[q]; !ok {
			counts[q] = 0 // the queue is gone: nobody consumes it
		}
	}
	return counts, true
}

// heartbeatServing counts, for each of queues, the known runners whose last heartbeat
// listed it.
func (t *Tron) heartbeatServing(queues []string) map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	counts := make(map[string]int, len(queues))
	for _, q := range queues {
		counts[q] = 0
	}
	for _, n := range t.nodes {
		if n.Type != protocol.TypeRunner {
			continue
		}
		for _, r := range n.Routes {
			if _, ok := counts[r.Queue]; ok {
				counts[r.Queue]++
			}
		}
	}
	return counts
}

func (t *Tron) enabledQueues() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	qs := make([]string, 0, len(t.state.Enabled))
	for _, e := range t.state.Enabled {
		qs = append(qs, e.Queue())
	}
	return qs
}

// setRunners keeps the new counts and tells whether a route became served or unserved:
// only that changes what frontends do. A route not counted before counts as served.
func (t *Tron) setRunners(counts map[string]int) (changed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for q, n := range counts {
		old, known := t.runners[q]
		if wasServed := !known || old > 0; wasServed != (n > 0) {
			changed = true
		}
	}
	t.runners = counts
	if changed {
		// The table frontends get changed: a new version, so that a frontend that missed
		// the broadcast gets it again with its next heartbeat's reply (routetable.go).
		t.state.routesChanged()
	}
	return changed
}

// forgetRunners drops queue's count after a runner acked enabling it: the count of before
// (maybe 0) is stale, and the next count comes within servedPeriod.
func (t *Tron) forgetRunners(queue string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.runners, queue)
}
