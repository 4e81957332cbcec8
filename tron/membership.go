// This file is membership: the runners and frontends the Tron knows, rebuilt from their awake
// and heartbeat messages (spec/protocol.md §3), and the timer that drops silent ones.

package tron

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/protocol"
)

// silentPeriods is how many heartbeat periods a node may stay silent before it is dropped.
const silentPeriods = 3

// node is a live runner or frontend, keyed by its inbox queue (the `from` of its messages).
type node struct {
	Inbox      string
	Type       string // protocol.TypeRunner or protocol.TypeFrontend
	SignedBy   string // the role of the key its awake was verified with; "" = unsigned frontend
	InstanceID string
	HostInfo   *protocol.HostPort
	Version    string
	Codec      protocol.Codec // what it spoke in its awake; frontends always get JSON
	AwakeAt    time.Time
	LastSeen   time.Time
	Routes     []protocol.RouteEntry // what a runner said it serves in its last heartbeat
	Reached    bool                  // a message to its inbox was routed: the inbox existed
	Inflight   map[string]int64      // requests in flight per route queue, from that heartbeat
	// RouteMsgID and RouteVersion are the last route message sent to a frontend and the
	// table version it carried; AckedVersion is the version of the last one it acked
	// (Acked: it acked one at all). routetable.go.
	RouteMsgID   string
	RouteVersion uint64
	AckedVersion uint64
	Acked        bool
	// DisabledAt is when this runner was sent `disable` for a sha (disableStale leaves a
	// sha alone for a while after: the runner still reports it during its disable linger).
	DisabledAt map[string]time.Time
}

// dest is where messages to n go, signed with the key of its type.
func (n *node) dest() bus.Destination {
	return bus.Destination{Queue: n.Inbox, Codec: n.Codec, Role: n.Type}
}

// nodeView is a node as GET /api/v1/stats shows it.
type nodeView struct {
	Type       string                `json:"type"`
	InstanceID string                `json:"instance-id,omitempty"`
	HostInfo   *protocol.HostPort    `json:"host-info,omitempty"`
	LastSeen   int64                 `json:"last-seen"`
	AwakeAt    int64                 `json:"awake-at"`
	Version    string                `json:"version"`
	Routes     []protocol.RouteEntry `json:"routes,omitempty"`
}

func (n *node) view() nodeView {
	return nodeView{
		Type: n.Type, InstanceID: n.InstanceID, HostInfo: n.HostInfo, Version: n.Version,
		LastSeen: n.LastSeen.UnixMilli(), AwakeAt: n.AwakeAt.UnixMilli(), Routes: n.Routes,
	}
}

// nodesOf returns the destinations of the live nodes of one type. Caller holds t.mu.
func (t *Tron) nodesOf(typ string) []bus.Destination {
	var out []bus.Destination
	for _, n := range t.nodes {
		if n.Type == typ {
			out = append(out, n.dest())
		}
	}
	slices.SortFunc(out, func(a, b bus.Destination) int { return strings.Compare(a.Queue, b.Queue) })
	return out
}

// register records an awake node and returns the frontends it supersedes: the other live
// frontends with the same instance-id (older by definition: they woke before this one),
// removed from membership, to be told `die`. An unsigned awake supersedes nobody: it
// could claim any instance-id (spec/protocol.md §7).
func (t *Tron) register(n *node) (superseded []*node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nodes[n.Inbox] = n
	if n.Type == protocol.TypeFrontend && n.InstanceID != "" && n.SignedBy != "" {
		for inbox, o := range t.nodes {
			if inbox != n.Inbox && o.Type == protocol.TypeFrontend && o.InstanceID == n.InstanceID {
				delete(t.nodes, inbox)
				superseded = append(superseded, o)
			}
		}
	}
	t.updateNodeGauges()
	return superseded
}

// forget removes a node and returns it, or nil when it was not known or signedBy is not
// the key its awake was signed with (a frontend cannot say a runner died).
func (t *Tron) forget(inbox, signedBy string) *node {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.nodes[inbox]
	if n != nil && n.SignedBy == signedBy {
		delete(t.nodes, inbox)
		t.updateNodeGauges()
	}
	return n
}

// noteDelivery records, after a send, which nodes' inboxes a message reached (routed) and
// forgets those whose inbox, reached before, is gone (forgetGone).
func (t *Tron) noteDelivery(to []bus.Destination, gone []string) {
	t.mu.Lock()
	for _, d := range to {
		if n := t.nodes[d.Queue]; n != nil && !slices.Contains(gone, d.Queue) {
			n.Reached = true
		}
	}
	t.mu.Unlock()
	for _, inbox := range gone {
		t.forgetGone(inbox)
	}
}

// forgetGone drops the runner whose inbox, reached before, a message could not reach. An
// inbox is exclusive to its node's broker connection: when the node fails over to another
// broker (spec/protocol.md §9) it is re-created there, and what was sent meanwhile (an
// enable) is lost. Forgotten, the runner's next heartbeat gets resend-awake, and its awake
// all-bundles and every enable, as after a Tron restart. Frontends are kept: each new
// session of theirs sends awake anyway, and a route table they missed comes again with their
// next heartbeat's reply (table-version); forgetting them would only make them miss the
// tables broadcast meanwhile. A runner whose inbox was never reached stays too.
func (t *Tron) forgetGone(inbox string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n, ok := t.nodes[inbox]; ok && n.Reached && n.Type == protocol.TypeRunner {
		delete(t.nodes, inbox)
		t.updateNodeGauges()
		t.log.Info("a runner's inbox is gone (it failed over to another broker, or died): forgotten until it heartbeats again", "node", inbox)
	}
}

// touch records a sign of life of a known node; it returns a copy of it, or nil when the
// node is unknown or signedBy is not the key its awake was signed with.
func (t *Tron) touch(inbox, signedBy string, now time.Time, fn func(*node)) *node {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.nodes[inbox]
	if n == nil || n.SignedBy != signedBy {
		return nil
	}
	n.LastSeen = now
	if fn != nil {
		fn(n)
	}
	c := *n
	return &c
}

// expire drops the nodes silent since before now - 3 heartbeat periods, and returns them.
func (t *Tron) expire(now time.Time) []*node {
	limit := now.Add(-silentPeriods * t.opts.HeartbeatPeriod)
	t.mu.Lock()
	defer t.mu.Unlock()
	var lost []*node
	for inbox, n := range t.nodes {
		if n.LastSeen.Before(limit) {
			delete(t.nodes, inbox)
			lost = append(lost, n)
		}
	}
	if len(lost) > 0 {
		t.updateNodeGauges()
	}
	return lost
}

// updateNodeGauges sets the nodes-by-type gauge. Caller holds t.mu.
func (t *Tron) updateNodeGauges() {
	counts := map[string]int{protocol.TypeRunner: 0, protocol.TypeFrontend: 0}
	for _, n := range t.nodes {
		counts[n.Type]++
	}
	for typ, c := range counts {
		t.metrics.nodes.WithLabelValues(typ).Set(float64(c))
	}
}

// sweep drops silent nodes every half heartbeat period until ctx ends, publishing a
// `<type>.lost.<id>` event for each.
func (t *Tron) sweep(ctx context.Context) error {
	tick := time.NewTicker(max(t.opts.HeartbeatPeriod/2, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			for _, n := range t.expire(now) {
				t.log.Warn("node silent for 3 heartbeat periods: dropped", "node", n.Inbox, "type", n.Type,
					"last_seen", n.LastSeen.Format(time.RFC3339Nano))
				t.metrics.lost.WithLabelValues(n.Type).Inc()
				t.publish(ctx, Event{Key: n.Type + ".lost." + n.Inbox, Node: n.Inbox, NodeType: n.Type, InstanceID: n.InstanceID})
			}
		}
	}
}
