// Control messages from the Tron: tron-info, all-bundles, enable, disable, resend-awake;
// and the messages the runner sends it. All are signed with the runner key (spec/protocol.md
// §7): the bus refuses the rest before they reach these handlers. There is no `die`: the
// Tron never sends a runner one, and a handler for it was a way to stop a runner for
// anyone who could publish to its inbox.

package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/protocol"
)

// prefetchJobs bounds the downloads all-bundles starts at once.
const prefetchJobs = 2

// handleControl registers the handlers of the runner inbox. The bus runs them one at a
// time in arrival order; anything slow (download, start-up) runs as a job, and jobs of
// one route queue run one at a time in arrival order: each waits for the previous job of
// its route (the rt.tail chain in routeJob). route.mu does not order them: it guards the
// route's consumer and bundle against the shutdown, which stops routes outside that chain.
func (r *Runner) handleControl() {
	r.bus.OnType(protocol.ActionTronInfo, func(_ context.Context, m bus.Message) {
		r.setTronHost(m.Data.(*protocol.TronInfo).TronHost)
	})
	r.bus.OnType(protocol.ActionAllBundles, func(_ context.Context, m bus.Message) {
		ab := m.Data.(*protocol.AllBundles)
		r.setTronHost(ab.TronHost)
		r.prefetch(ab.Bundles)
	})
	r.bus.OnType(protocol.ActionEnable, func(_ context.Context, m bus.Message) { r.onEnable(m.Data.(*protocol.Enable)) })
	r.bus.OnType(protocol.ActionDisable, func(_ context.Context, m bus.Message) { r.onDisable(m.Data.(*protocol.Disable)) })
	r.bus.OnType(protocol.ActionResendAwake, func(ctx context.Context, _ bus.Message) {
		// Only the awake again: the one heartbeat loop goes on (the original runner
		// started a second loop here).
		if err := r.sendAwake(ctx); err != nil {
			r.log.Warn("sending awake", "err", err)
		}
	})
	r.bus.OnUndecodable(func(err error) {
		r.metrics.undecodable.Inc()
		r.log.Warn("undecodable control message (dead-lettered)", "err", err)
	})
}

func (r *Runner) setTronHost(hp protocol.HostPort) {
	if hp.Host != "" {
		r.tronHost.Store(&hp)
	}
}

// onEnable queues the enable as a job of its route; the ack follows when it is done.
func (r *Runner) onEnable(m *protocol.Enable) {
	r.setTronHost(m.TronHost)
	queue := protocol.RouteQueue(m.Host, m.Path)
	r.mu.Lock()
	r.shaQueue[m.SHA] = queue
	rt := r.routeFor(queue, m.Host, m.Path)
	r.mu.Unlock()
	ok := r.routeJob(rt, func(ctx context.Context) {
		cleanup, err := r.enable(ctx, rt, m)
		r.sendAck(ctx, m.MsgID, err)
		if cleanup != nil {
			cleanup()
		}
	})
	if !ok {
		r.sendAck(context.Background(), m.MsgID, errors.New("the runner is shutting down"))
	}
}

// onDisable queues the disable as a job of the route the sha was enabled on.
func (r *Runner) onDisable(m *protocol.Disable) {
	r.setTronHost(m.TronHost)
	r.mu.Lock()
	queue, known := r.shaQueue[m.SHA]
	rt := r.routes[queue]
	r.mu.Unlock()
	if !known || rt == nil {
		r.sendAck(context.Background(), m.MsgID, nil) // not served here: nothing to do
		return
	}
	ok := r.routeJob(rt, func(ctx context.Context) {
		r.disable(ctx, rt, m.SHA)
		r.sendAck(ctx, m.MsgID, nil)
	})
	if !ok {
		r.sendAck(context.Background(), m.MsgID, nil) // shutdown stops it anyway
	}
}

// routeJob runs fn as a job after the jobs queued on rt before it, so the enables and
// disables of one route take effect in the order they arrived.
func (r *Runner) routeJob(rt *route, fn func(ctx context.Context)) bool {
	r.mu.Lock()
	prev := rt.tail
	done := make(chan struct{})
	rt.tail = done
	r.mu.Unlock()
	ok := r.startJob(func(ctx context.Context) {
		defer close(done)
		if prev != nil {
			<-prev
		}
		fn(ctx)
	})
	if !ok {
		close(done)
	}
	return ok
}

// routeFor returns the route of queue, creating it. r.mu is held.
func (r *Runner) routeFor(queue, host, path string) *route {
	rt := r.routes[queue]
	if rt == nil {
		rt = newRoute(queue, host, path, r.metrics)
		r.routes[queue] = rt
	}
	return rt
}

// prefetch downloads the listed bundles the cache lacks, in the background.
func (r *Runner) prefetch(refs []protocol.BundleRef) {
	var missing []protocol.BundleRef
	for _, b := range refs {
		if shaPattern.MatchString(b.SHA) && !r.store.has(b.SHA) {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return
	}
	work := make(chan protocol.BundleRef, len(missing))
	for _, b := range missing {
		work <- b
	}
	close(work)
	for range min(prefetchJobs, len(missing)) {
		r.startJob(func(ctx context.Context) {
			for b := range work {
				src, err := r.downloadURL(b.SHA, b.URL)
				if err == nil {
					_, err = r.store.get(ctx, b.SHA, src)
				}
				if err != nil {
					r.log.Warn("prefetching bundle", "sha", b.SHA, "err", err)
				}
			}
		})
	}
}

// downloadURL is the signed URL from the message, else the Tron's bundle route.
func (r *Runner) downloadURL(sha, signed string) (string, error) {
	if signed != "" {
		return signed, nil
	}
	hp := r.tronHost.Load()
	if hp == nil {
		return "", fmt.Errorf("no download URL in the message and no tron-host known")
	}
	host := net.JoinHostPort(hp.Host, strconv.Itoa(int(hp.Port)))
	return (&url.URL{Scheme: "http", Host: host, Path: "/api/v1/bundle/" + sha}).String(), nil
}

// sendAwake introduces the runner to the Tron.
func (r *Runner) sendAwake(ctx context.Context) error {
	if err := r.sendToTron(ctx, &protocol.Awake{Type: protocol.TypeRunner}); err != nil {
		return err
	}
	r.beatNow()
	return nil
}

// sendAck answers an enable or disable: ok, or error with the reason (see ackError; the
// whole error goes to the log).
func (r *Runner) sendAck(ctx context.Context, msgID string, err error) {
	ack := &protocol.Ack{AckID: msgID, Status: protocol.AckOK}
	if err != nil {
		ack.Status, ack.Error = protocol.AckError, ackError(err)
		r.log.Warn("enable failed", "ack_id", msgID, "err", err)
	}
	if serr := r.sendToTron(context.WithoutCancel(ctx), ack); serr != nil {
		r.log.Warn("sending ack", "ack_id", msgID, "err", serr)
	}
}

// sendToTron sends m to the Tron queue, persistent, in the configured codec.
func (r *Runner) sendToTron(ctx context.Context, m protocol.Message) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.PublishTimeout)
	defer cancel()
	rc, err := r.bus.Send(ctx, m, bus.Destination{Queue: r.opts.TronQueue, Codec: r.opts.Codec, Persistent: true})
	if err != nil {
		return err
	}
	rc.Close()
	return nil
}
