// The heartbeat: one loop per runner, every HeartbeatPeriod and right after a change.

package runner

import (
	"context"
	"sort"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
)

// heartbeats sends a heartbeat every period, and at once when beatNow asks, until ctx
// ends. It is the runner's only heartbeat loop: resend-awake does not start another.
func (r *Runner) heartbeats(ctx context.Context) {
	t := time.NewTicker(r.opts.HeartbeatPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.beat:
		}
		if err := r.sendToTron(ctx, r.heartbeat()); err != nil && ctx.Err() == nil {
			r.log.Warn("sending heartbeat", "err", err)
		}
	}
}

// beatNow asks for a heartbeat soon (coalesced with one already asked for).
func (r *Runner) beatNow() {
	select {
	case r.beat <- struct{}{}:
	default:
	}
}

// heartbeat reports the routes served and each route queue's stats since the last one.
func (r *Runner) heartbeat() *protocol.Heartbeat {
	r.mu.Lock()
	routes := make([]*route, 0, len(r.routes))
	for _, rt := range r.routes {
		routes = append(routes, rt)
	}
	r.mu.Unlock()
	hb := &protocol.Heartbeat{Type: protocol.TypeRunner, Routes: []protocol.RouteEntry{}, Stats: protocol.Stats{}}
	for _, rt := range routes {
		if e, ok := rt.entry(); ok {
			hb.Routes = append(hb.Routes, e)
		}
		st := rt.stats.take()
		if _, serving := rt.entry(); serving || st.Count > 0 || st.Inflight > 0 {
			hb.Stats[rt.queue] = st
		}
	}
	sort.Slice(hb.Routes, func(i, j int) bool { return hb.Routes[i].Queue < hb.Routes[j].Queue })
	return hb
}
