// This file handles the control messages on the Tron queue: awake, heartbeat, died, ack
// (spec/protocol.md §3), and sends the Tron's answers.

package tron

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/protocol"
)

// sendTimeout bounds one send of a control message (a broker that does not confirm in
// this time is treated as down for that message).
const sendTimeout = 10 * time.Second

// handle registers the Tron's handlers on b.
func (t *Tron) handle(b bus.Bus) {
	b.OnType(protocol.ActionAwake, t.counted(t.onAwake))
	b.OnType(protocol.ActionHeartbeat, t.counted(t.onHeartbeat))
	b.OnType(protocol.ActionDied, t.counted(t.onDied))
	b.OnType(protocol.ActionAck, t.counted(t.onAck))
	// The other actions of the catalogue have no business on the Tron queue: say so, once
	// per sender, rather than dropping them silently.
	for _, a := range []string{
		protocol.ActionTronInfo, protocol.ActionAllBundles, protocol.ActionEnable, protocol.ActionDisable,
		protocol.ActionResendAwake, protocol.ActionRoute, protocol.ActionDie, protocol.ActionSetStatsd,
		protocol.ActionService, protocol.ActionAnswer,
	} {
		b.OnType(a, t.counted(t.onUnexpected))
	}
	b.OnUndecodable(func(err error) {
		t.metrics.undecodable.Inc()
		t.log.Warn("undecodable message on the Tron queue (dead-lettered)", "err", err)
	})
}

// counted counts a received message by action before handling it.
func (t *Tron) counted(h bus.Handler) bus.Handler {
	return func(ctx context.Context, m bus.Message) {
		t.metrics.msgIn.WithLabelValues(m.Type).Inc()
		h(ctx, m)
	}
}

// send stamps and sends m to the destinations as one message and counts it. It returns the
// receipt (to be closed by the caller) or nil on error, which it logs.
func (t *Tron) send(ctx context.Context, m protocol.Message, to ...bus.Destination) *bus.Receipt {
	if len(to) == 0 {
		return nil
	}
	b := t.getBus()
	if b == nil {
		t.log.Warn("not sending: bus not connected", "message", fmt.Sprintf("%T", m))
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	// With several destinations, Send returns a receipt when at least one got the message,
	// and an error naming those that did not (e.g. an inbox that is gone: that node is
	// dropped by the sweep once silent).
	r, err := b.Send(ctx, m, to...)
	if err != nil {
		t.log.Warn("sending a control message", "message", fmt.Sprintf("%T", m), "to", len(to), "err", err)
	}
	if r != nil || errors.Is(err, bus.ErrUnroutable) {
		t.noteDelivery(to, bus.FailedQueues(err, bus.ErrUnroutable))
	}
	if r != nil {
		t.metrics.msgOut.WithLabelValues(m.Head().Action).Add(float64(len(to)))
	}
	return r
}

// sendOnly is send for messages whose replies nobody waits for.
func (t *Tron) sendOnly(ctx context.Context, m protocol.Message, to ...bus.Destination) {
	if r := t.send(ctx, m, to...); r != nil {
		r.Close()
	}
}

// replyCodec is the codec for a node: frontends read JSON only; otherwise what it spoke.
func (t *Tron) replyCodec(typ string, spoke protocol.Codec) protocol.Codec {
	if typ == protocol.TypeFrontend {
		return protocol.JSON
	}
	if spoke == "" {
		return t.codec
	}
	return spoke
}

// replyRole is the key a reply to an unknown sender is signed with: the one its message
// was verified with (an unsigned sender is taken for a frontend).
func replyRole(signedBy string) string {
	if signedBy == "" {
		return protocol.RoleFrontend
	}
	return signedBy
}

func (t *Tron) onAwake(ctx context.Context, m bus.Message) {
	a, _ := m.Data.(*protocol.Awake)
	if a == nil || m.ReplyTo == "" {
		t.warnOnce(m.ReplyTo, "awake-from", "awake without `from`: cannot answer it")
		return
	}
	if a.Type != protocol.TypeRunner && a.Type != protocol.TypeFrontend {
		t.warnOnce(m.ReplyTo, "awake-type", "awake with an unknown type: ignored", "type", a.Type)
		return
	}
	// Only the runner key makes a runner, which gets props and download URLs.
	if !t.allowed(m, a.Type) {
		return
	}
	now := time.Now()
	n := &node{
		Inbox: m.ReplyTo, Type: a.Type, SignedBy: m.SignedBy, InstanceID: a.InstanceID, HostInfo: a.HostInfo, Version: a.Version,
		Codec: t.replyCodec(a.Type, m.Codec), AwakeAt: now, LastSeen: now,
	}
	// Under ctl, so an enable or disable cannot slip between registering the node (which
	// makes it a target of the next broadcast) and telling it the current state.
	t.ctl.Lock()
	defer t.ctl.Unlock()
	superseded := t.register(n)
	t.log.Info("node awake", "node", n.Inbox, "type", n.Type, "instance_id", n.InstanceID, "version", n.Version)
	t.sendOnly(ctx, &protocol.TronInfo{TronHost: t.tronHost}, n.dest())
	switch n.Type {
	case protocol.TypeFrontend:
		t.sendRoutesTo(ctx, n.Inbox)
		for _, o := range superseded {
			t.log.Warn("two frontends claim one instance-id: telling the older one to die",
				"instance_id", o.InstanceID, "older", o.Inbox, "newer", n.Inbox)
			t.sendOnly(ctx, &protocol.Die{InstanceID: o.InstanceID}, o.dest())
		}
	case protocol.TypeRunner:
		t.announceBundles(ctx, n.dest())
	}
	if n.Type == protocol.TypeRunner {
		t.tellStatsd(t.runCtx, n.Inbox)
	}
	t.publish(ctx, Event{Key: n.Type + ".awake." + n.Inbox, Node: n.Inbox, NodeType: n.Type, InstanceID: n.InstanceID})
}

// announceBundles tells a runner every enabled bundle: all-bundles, then one enable each.
func (t *Tron) announceBundles(ctx context.Context, to bus.Destination) {
	t.mu.Lock()
	enabled := append([]enabledBundle(nil), t.state.Enabled...)
	t.mu.Unlock()
	refs := make([]protocol.BundleRef, 0, len(enabled))
	for _, e := range enabled {
		refs = append(refs, protocol.BundleRef{SHA: e.SHA, Host: e.Host, Path: e.Path, URL: t.bundleURL(e.SHA)})
	}
	t.sendOnly(ctx, &protocol.AllBundles{TronHost: t.tronHost, Bundles: refs}, to)
	for _, e := range enabled {
		t.sendOnly(ctx, t.enableMsg(e), to)
	}
}

func (t *Tron) enableMsg(e enabledBundle) *protocol.Enable {
	return &protocol.Enable{
		TronHost: t.tronHost, SHA: e.SHA, Props: e.Props, Host: e.Host, Path: e.Path, URL: t.bundleURL(e.SHA),
		QueueType: t.opts.QueueType,
	}
}

// bundleURL is the signed URL a runner downloads sha from, without the admin token.
func (t *Tron) bundleURL(sha string) string {
	return t.baseURL + "/api/v1/bundle/" + sha + "?" + t.signer.query(sha)
}

func (t *Tron) onHeartbeat(ctx context.Context, m bus.Message) {
	hb, _ := m.Data.(*protocol.Heartbeat)
	if hb == nil || m.ReplyTo == "" {
		t.warnOnce(m.ReplyTo, "heartbeat-from", "heartbeat without `from`: cannot answer it")
		return
	}
	n := t.touch(m.ReplyTo, m.SignedBy, time.Now(), func(n *node) {
		if n.Type == protocol.TypeRunner {
			n.Routes = hb.Routes
			n.Inflight = make(map[string]int64, len(hb.Stats))
			for queue, rs := range hb.Stats {
				n.Inflight[queue] = rs.Inflight
			}
			t.addStats(hb.Stats)
		}
	})
	if n == nil {
		// Unknown (e.g. this Tron restarted, or dropped the node as silent): ask it to
		// introduce itself again, in the codec it spoke; a frontend reads JSON only.
		typ := hb.Type
		if typ == "" && len(m.ReplyTo) >= len(protocol.FrontendInboxPrefix) &&
			m.ReplyTo[:len(protocol.FrontendInboxPrefix)] == protocol.FrontendInboxPrefix {
			typ = protocol.TypeFrontend
		}
		t.log.Info("heartbeat from an unknown node: asking it to resend awake", "node", m.ReplyTo)
		t.sendOnly(ctx, &protocol.ResendAwake{}, bus.Destination{Queue: m.ReplyTo, Codec: t.replyCodec(typ, m.Codec), Role: replyRole(m.SignedBy)})
		return
	}
	t.sendOnly(ctx, &protocol.TronInfo{TronHost: t.tronHost}, n.dest())
	switch n.Type {
	case protocol.TypeRunner:
		t.disableStale(ctx, n.dest(), hb.Routes)
	case protocol.TypeFrontend:
		t.resendStaleRoutes(ctx, n.Inbox)
	}
}

// disableStale sends `disable` to a runner for each bundle it reports serving that is not
// enabled any more. A runner that missed a disable (cut off from the broker at the time, or
// the Tron crashed between saving its state and telling the runners) would otherwise go on
// taking requests from a route no frontend routes to. A disable too many is harmless: a
// runner ignores one for a sha it does not serve or that was replaced on its route. Under
// ctl, so it cannot overtake a re-enable of the same sha.
func (t *Tron) disableStale(ctx context.Context, to bus.Destination, served []protocol.RouteEntry) {
	t.ctl.Lock()
	defer t.ctl.Unlock()
	t.mu.Lock()
	var stale []string
	for _, r := range served {
		if r.SHA != "" && t.state.find(r.SHA) < 0 && !slices.Contains(stale, r.SHA) && !t.justDisabled(to.Queue, r.SHA) {
			stale = append(stale, r.SHA)
		}
	}
	t.noteDisabledOn(to.Queue, stale)
	t.mu.Unlock()
	for _, sha := range stale {
		t.log.Info("a runner serves a bundle that is not enabled: disabling it there", "node", to.Queue, "sha", sha)
		t.sendOnly(ctx, &protocol.Disable{TronHost: t.tronHost, SHA: sha}, to)
	}
}

// addStats adds a runner's per-route counters (counted since its previous heartbeat) to the
// totals since this Tron started. inflight is a level, kept per runner (node.Inflight) and
// summed over the live runners when shown. Caller holds t.mu.
func (t *Tron) addStats(s protocol.Stats) {
	for queue, rs := range s {
		tot := t.routeStats[queue]
		if tot == nil {
			tot = &protocol.RouteStats{}
			t.routeStats[queue] = tot
		}
		tot.Count += rs.Count
		tot.Errors += rs.Errors
		tot.TotalMS += rs.TotalMS
	}
}

func (t *Tron) onDied(ctx context.Context, m bus.Message) {
	n := t.forget(m.ReplyTo, m.SignedBy)
	if n == nil {
		t.log.Debug("died from an unknown node", "node", m.ReplyTo)
		return
	}
	t.log.Info("node died", "node", n.Inbox, "type", n.Type)
	t.publish(ctx, Event{Key: n.Type + ".died." + n.Inbox, Node: n.Inbox, NodeType: n.Type, InstanceID: n.InstanceID})
}

// onAck sees every ack (the receipts of enable calls see them too): it counts as a sign of
// life, and an error ack is logged, since nobody may be waiting for it any more.
func (t *Tron) onAck(ctx context.Context, m bus.Message) {
	a, _ := m.Data.(*protocol.Ack)
	if a == nil {
		return
	}
	t.touch(m.ReplyTo, m.SignedBy, time.Now(), func(n *node) { n.routeAcked(a.AckID) })
	if a.Status == protocol.AckError {
		t.log.Warn("a node failed a control message", "node", m.ReplyTo, "ack_id", a.AckID, "err", a.Error)
		return
	}
	t.log.Debug("ack", "node", m.ReplyTo, "ack_id", a.AckID, "status", a.Status)
}

func (t *Tron) onUnexpected(ctx context.Context, m bus.Message) {
	t.warnOnce(m.ReplyTo, "action:"+m.Type, "unexpected action on the Tron queue: dropped", "action", m.Type)
}

// disableGrace is how long after sending a runner `disable` for a sha its heartbeats may
// still list the sha without being told again: the runner keeps serving a disabled route
// for its --disable-linger (queued requests get their answers) and heartbeats meanwhile.
func (t *Tron) disableGrace() time.Duration { return 3 * t.opts.HeartbeatPeriod }

// justDisabled reports whether runner inbox was sent `disable` for sha within the grace.
// Caller holds t.mu.
func (t *Tron) justDisabled(inbox, sha string) bool {
	n := t.nodes[inbox]
	if n == nil {
		return false
	}
	at, ok := n.DisabledAt[sha]
	return ok && time.Since(at) < t.disableGrace()
}

// noteDisabled records that the runners were sent `disable` for sha now (and forgets
// records past the grace). Caller holds t.mu.
func (t *Tron) noteDisabled(sha string, runners []bus.Destination) {
	for _, d := range runners {
		t.noteDisabledOn(d.Queue, []string{sha})
	}
}

// noteDisabledOn records the disables of shas sent to runner inbox now, and drops that
// runner's records older than the grace, so the map stays small. Caller holds t.mu.
func (t *Tron) noteDisabledOn(inbox string, shas []string) {
	n := t.nodes[inbox]
	if n == nil {
		return
	}
	for sha, at := range n.DisabledAt {
		if time.Since(at) >= t.disableGrace() {
			delete(n.DisabledAt, sha)
		}
	}
	for _, sha := range shas {
		if n.DisabledAt == nil {
			n.DisabledAt = map[string]time.Time{}
		}
		n.DisabledAt[sha] = time.Now()
	}
}
