// Health: the node pinged every interval, Redis checked, the subscriptions following both
// (spec/bundles.md §5; the seed's ok | unavailable | dirty).

package gilmour

import (
	"context"
	"os"
	"time"

	"github.com/valyala/fasthttp"
)

// healthLoop checks every in.every until ctx ends.
func (in *instance) healthLoop(ctx context.Context) {
	t := time.NewTicker(in.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		in.checkHealth(ctx)
	}
}

// checkHealth checks Redis (and registers the ident again: Redis may have restarted
// empty), then the node, and applies the subscriptions that follow.
func (in *instance) checkHealth(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	err := in.rdb.HSet(cctx, knownHostsKey, in.ident, "true").Err()
	in.busDown.Store(err != nil)
	in.node.check()
	if err == nil {
		if err := in.node.apply(cctx, false); err != nil && ctx.Err() == nil {
			in.log.Warn("gilmour subscriptions", "err", err)
		}
	}
}

// check pings the node's health_check: healthy on 2xx. A node whose socket is no longer
// a socket while its process runs (checked before and after, so a restart in between is
// not mistaken for it) is dirty: its subscriptions go and its process is stopped.
func (n *nodeSide) check() {
	if n.proc == nil || n.dirty.Load() {
		return
	}
	ready := n.proc.Ready()
	if ready && !isSocket(n.proc.Socket()) && n.proc.Ready() {
		n.markDirty()
		return
	}
	was := n.healthy.Load()
	now := ready && n.ping()
	n.healthy.Store(now)
	if was != now {
		n.in.log.Warn("gilmour node health changed", "healthy", now)
	}
}

// ping GETs the health_check path within a second or two.
func (n *nodeSide) ping() bool {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(n.in.cfg.Node.HealthCheck)
	if !n.proc.Ready() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(n.in.every, 2*time.Second))
	defer cancel()
	if err := n.proc.Do(ctx, req, resp); err != nil {
		return false
	}
	return resp.StatusCode() >= 200 && resp.StatusCode() <= 299
}

func isSocket(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode()&os.ModeSocket != 0
}

// markDirty stops all activity of the node: subscriptions now, the process in the
// background (its stop may take the grace period).
func (n *nodeSide) markDirty() {
	n.dirty.Store(true)
	n.in.log.Error("the gilmour node's socket is not the one started: node marked dirty and stopped", "socket", n.proc.Socket())
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	_ = n.apply(ctx, false)
	go n.proc.Stop(context.Background())
}
