// Gilmour → node: the node's subscriptions on Redis, applied while the node is healthy.

package gilmour

import (
	"context"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/runner/exec"
)

// sub is one service or slot of the node.
type sub struct {
	bundles.Subscription
	slot bool
}

// key is the subscription on Redis sub needs: "c:<channel>" or "p:<pattern>".
func (s sub) key() string {
	if s.slot {
		if isPattern(s.Topic) {
			return "p:" + slotChannel(s.Topic)
		}
		return "c:" + slotChannel(s.Topic)
	}
	return "c:" + requestChannel(s.Topic)
}

// nodeSide is the node process and what it serves: its subscriptions, on a pub/sub
// connection of their own (with the health channel), and the calls to it.
type nodeSide struct {
	in   *instance
	proc *exec.Node // nil without a node
	ps   *redis.PubSub

	applyMu sync.Mutex // one apply at a time, so SUBSCRIBEs and UNSUBSCRIBEs keep their order
	mu      sync.Mutex
	subs    []sub
	active  map[string]bool // keys subscribed (asked for)
	acked   map[string]bool // keys Redis confirmed
	ackCh   chan struct{}   // closed and replaced on every confirmation

	healthy, dirty atomic.Bool
	sem            chan struct{} // bounds the calls to the node in flight
	calls          sync.WaitGroup
	done           chan struct{}
}

func newNodeSide(in *instance) *nodeSide {
	n := &nodeSide{in: in, ps: in.rdb.Subscribe(context.Background()), active: map[string]bool{},
		acked: map[string]bool{}, ackCh: make(chan struct{}), sem: make(chan struct{}, in.cfg.Concurrency),
		done: make(chan struct{})}
	if c := in.cfg.Node; c != nil {
		for _, s := range c.Services {
			n.subs = append(n.subs, sub{s, false})
		}
		for _, s := range c.Slots {
			n.subs = append(n.subs, sub{s, true})
		}
	}
	go n.receive(n.ps.ChannelWithSubscriptions(redis.WithChannelSize(256)))
	return n
}

// startProcess starts the node; it is healthy once exec found it ready.
func (n *nodeSide) startProcess(ctx context.Context) error {
	p, err := exec.StartNode(ctx, n.in.spec, n.in.nodeConfig())
	if err != nil {
		return err
	}
	n.proc = p
	n.healthy.Store(true)
	return nil
}

func (n *nodeSide) healthChannel() string { return healthPrefix + n.in.ident }

// want is the set of keys to be subscribed: the health channel always, the node's topics
// while it is healthy and not dirty.
func (n *nodeSide) want() map[string]bool {
	w := map[string]bool{"c:" + n.healthChannel(): true}
	if n.proc == nil || !n.healthy.Load() || n.dirty.Load() {
		return w
	}
	for _, s := range n.subs {
		w[s.key()] = true
	}
	return w
}

// apply brings the Redis subscriptions in line with want and, with wait, returns once
// Redis confirmed the new ones (within ioTimeout).
func (n *nodeSide) apply(ctx context.Context, wait bool) error {
	n.applyMu.Lock()
	defer n.applyMu.Unlock()
	n.mu.Lock()
	want := n.want()
	var add, drop []string
	for k := range want {
		if !n.active[k] {
			add = append(add, k)
		}
	}
	for k := range n.active {
		if !want[k] {
			drop = append(drop, k)
		}
	}
	n.active = want
	n.mu.Unlock()
	for _, k := range drop {
		n.change(ctx, k, false)
	}
	for _, k := range add {
		if err := n.change(ctx, k, true); err != nil {
			return err
		}
	}
	if wait {
		return n.waitAcked(ctx, add)
	}
	return nil
}

// change subscribes or unsubscribes one key. go-redis remembers the subscriptions and
// makes them again after a reconnect.
func (n *nodeSide) change(ctx context.Context, key string, on bool) error {
	kind, name, _ := strings.Cut(key, ":")
	switch {
	case kind == "p" && on:
		return n.ps.PSubscribe(ctx, name)
	case kind == "p":
		return n.ps.PUnsubscribe(ctx, name)
	case on:
		return n.ps.Subscribe(ctx, name)
	}
	return n.ps.Unsubscribe(ctx, name)
}

// waitAcked waits until Redis confirmed every key.
func (n *nodeSide) waitAcked(ctx context.Context, keys []string) error {
	ctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	for {
		n.mu.Lock()
		missing := 0
		for _, k := range keys {
			if !n.acked[k] && n.active[k] {
				missing++
			}
		}
		ch := n.ackCh
		n.mu.Unlock()
		if missing == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// receive handles the pub/sub connection's confirmations and messages until it closes.
func (n *nodeSide) receive(ch <-chan any) {
	defer close(n.done)
	for m := range ch {
		switch m := m.(type) {
		case *redis.Subscription:
			n.noteAck(m)
		case *redis.Message:
			n.dispatch(m)
		}
	}
}

func (n *nodeSide) noteAck(m *redis.Subscription) {
	key := "c:" + m.Channel
	if strings.HasPrefix(m.Kind, "p") {
		key = "p:" + m.Channel
	}
	n.mu.Lock()
	n.acked[key] = m.Kind == "subscribe" || m.Kind == "psubscribe"
	close(n.ackCh)
	n.ackCh = make(chan struct{})
	n.mu.Unlock()
}

// dispatch starts a call for every subscription m is for, at most cap(sem) at once (the
// receive loop waits for a free slot: backpressure onto Redis, never an unbounded queue).
func (n *nodeSide) dispatch(m *redis.Message) {
	if m.Channel == n.healthChannel() {
		n.run(func() { n.answerHealth(m.Payload) })
		return
	}
	key := "c:" + m.Channel
	if m.Pattern != "" {
		key = "p:" + m.Pattern
	}
	// Not filtered by active: a message Redis delivered while the subscription was being
	// removed is still answered (503 while the node is down), rather than left hanging.
	n.mu.Lock()
	var matched []sub
	for _, s := range n.subs {
		if s.key() == key {
			matched = append(matched, s)
		}
	}
	n.mu.Unlock()
	for _, s := range matched {
		n.run(func() { n.handle(s, redisMessage{m.Channel, m.Payload}) })
	}
}

// run runs f in a goroutine once a slot of sem is free.
func (n *nodeSide) run(f func()) {
	n.sem <- struct{}{}
	n.calls.Add(1)
	go func() {
		defer func() { <-n.sem; n.calls.Done() }()
		f()
	}()
}

// topics are the request and slot channels subscribed, sorted: the health answer.
func (n *nodeSide) topics() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := []string{}
	for k := range n.active {
		if name := k[2:]; name != n.healthChannel() {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// close ends the subscriptions and waits for the calls in flight (bounded by ctx).
func (n *nodeSide) close(ctx context.Context) {
	n.ps.Close()
	select {
	case <-n.done:
	case <-time.After(ioTimeout):
	}
	finished := make(chan struct{})
	go func() { n.calls.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
	}
}
