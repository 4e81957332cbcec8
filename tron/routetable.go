// This file is the route table's versions (spec/protocol.md §3): every table the Tron sends
// carries `table-version`, each frontend's ack of a route message records the version it
// installed, and a frontend heartbeat gets the current table in reply whenever that frontend
// has not acked the current version. So a frontend that lost its table, or never had it (the
// 2017 frontend sends awake before it subscribes to its inbox, and never acks), has it within
// one heartbeat period.
//
// Decision: table-version is persisted with the enabled bundles in the state file and raised
// in the same atomic write that changes them, so it never goes backwards across a restart;
// the acked versions are membership, rebuilt after a restart like the rest of it (every
// frontend is asked to resend awake and gets the table then).

package tron

import (
	"context"

	"github.com/google/uuid"

	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/protocol"
)

// routesChanged raises the table version: on every change of the table, i.e. of the enabled
// set (before the state is saved) and of whether a route is served (served.go; saved with
// the next change of the enabled set).
func (s *state) routesChanged() { s.TableVersion++ }

// routeMsgLocked is the current table as a route message with its own msg-id, recorded on
// each of the frontends it goes to, so their acks can be matched to its version. Caller
// holds t.mu.
func (t *Tron) routeMsgLocked(to []*node) *protocol.Route {
	m := &protocol.Route{
		Header: protocol.Header{MsgID: uuid.NewString()},
		Routes: routeTable(t.state.Enabled, t.runners), TableVersion: t.state.TableVersion,
	}
	for _, n := range to {
		n.RouteMsgID, n.RouteVersion = m.MsgID, m.TableVersion
	}
	return m
}

// sendRoutesTo sends the current table to the live frontends among inboxes (all live
// frontends when inboxes is empty) as one message, and returns it. Caller holds ctl, so
// tables go out in the order of the changes.
func (t *Tron) sendRoutesTo(ctx context.Context, inboxes ...string) *protocol.Route {
	t.mu.Lock()
	var to []*node
	if len(inboxes) == 0 {
		for _, n := range t.nodes {
			if n.Type == protocol.TypeFrontend {
				to = append(to, n)
			}
		}
	}
	for _, inbox := range inboxes {
		if n := t.nodes[inbox]; n != nil && n.Type == protocol.TypeFrontend {
			to = append(to, n)
		}
	}
	m := t.routeMsgLocked(to)
	dests := make([]bus.Destination, 0, len(to))
	for _, n := range to {
		dests = append(dests, n.dest())
	}
	t.mu.Unlock()
	t.sendOnly(ctx, m, dests...)
	return m
}

// routeAcked records that a frontend installed the table of its last route message, when
// ackID is that message's msg-id. Caller holds t.mu.
func (n *node) routeAcked(ackID string) {
	if n.Type == protocol.TypeFrontend && ackID != "" && ackID == n.RouteMsgID {
		n.AckedVersion, n.Acked = n.RouteVersion, true
	}
}

// resendStaleRoutes sends the current table to a frontend that has not acked it.
func (t *Tron) resendStaleRoutes(ctx context.Context, inbox string) {
	t.ctl.Lock()
	defer t.ctl.Unlock()
	t.mu.Lock()
	n := t.nodes[inbox]
	stale := n != nil && n.Type == protocol.TypeFrontend && (!n.Acked || n.AckedVersion != t.state.TableVersion)
	t.mu.Unlock()
	if stale {
		t.log.Debug("frontend has not acked the current route table: sending it again", "node", inbox)
		t.sendRoutesTo(ctx, inbox)
	}
}
