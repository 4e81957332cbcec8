// Enabling and disabling a bundle on a route: fetch, check, unpack, start, switch.

package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/logging"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/runner/kind"
)

// enable makes rt serve bundle m.SHA with m.Props. The new bundle is started and ready
// before it takes over: requests already on the old one finish there (then the old one
// stops, in the returned cleanup, which the caller runs after acking), new ones go to the
// new one, so a swap drops no request. Any failure leaves rt as it was.
func (r *Runner) enable(ctx context.Context, rt *route, m *protocol.Enable) (cleanup func(), err error) {
	log := r.log.With("queue", rt.queue, "sha", m.SHA)
	qt, ok := protocol.ParseQueueType(string(m.QueueType))
	if !ok {
		return nil, fmt.Errorf("unknown queue-type %q (want classic or quorum)", m.QueueType)
	}
	s, err := r.startBundle(ctx, m)
	if err != nil {
		log.Warn("enable failed", "err", err)
		return nil, err
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if err := ctx.Err(); err != nil {
		s.inst.Stop(context.Background())
		return nil, errors.New("the runner is shutting down")
	}
	if err := r.broker.declare(ctx, rt.queue, qt); err != nil {
		s.inst.Stop(context.Background())
		return nil, fmt.Errorf("declaring route queue %s: %w", rt.queue, err)
	}
	old := rt.cur.Swap(s)
	concurrency := max(1, s.inst.Concurrency())
	if rt.consumer == nil || rt.consumer.concurrency != concurrency {
		// A new subscription with the new prefetch first, then the old one goes.
		prev := rt.consumer
		rt.consumer = r.startConsumer(rt, concurrency)
		if prev != nil {
			prev.stop()
		}
	}
	r.beatNow()
	log.Info("bundle enabled", "host", s.host, "path", s.basePath, "replaced", old != nil)
	if old == nil {
		return func() {}, nil
	}
	return func() {
		if err := old.drainAndStop(context.Background()); err != nil {
			log.Warn("stopping the replaced bundle", "old_sha", old.sha, "err", err)
		}
	}, nil
}

// startBundle downloads (or finds in the cache), checks, unpacks and starts bundle m.SHA.
func (r *Runner) startBundle(ctx context.Context, m *protocol.Enable) (*served, error) {
	src, err := r.downloadURL(m.SHA, m.URL)
	if err != nil {
		return nil, err
	}
	data, err := r.store.get(ctx, m.SHA, src)
	if err != nil {
		return nil, err
	}
	b, err := bundles.Open(data, bundles.Limits{MaxUnpackedBytes: r.opts.MaxUnpackedBytes, MaxManifestBytes: r.opts.MaxManifestBytes})
	if err != nil {
		return nil, fmt.Errorf("invalid bundle: %w", err)
	}
	props := map[string]any(m.Props)
	if props == nil {
		props = map[string]any{}
	}
	if b, err = b.WithProps(props); err != nil {
		return nil, fmt.Errorf("invalid bundle with these props: %w", err)
	}
	k := r.opts.Kinds[b.Kind]
	if k == nil {
		return nil, fmt.Errorf("bundle kind %s is not supported by this runner", b.Kind)
	}
	dir, err := r.store.unpack(m.SHA, func(dir string) error {
		if err := b.Unpack(dir); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	propsJSON, err := json.Marshal(props)
	if err != nil {
		return nil, fmt.Errorf("props do not encode as JSON: %w", err)
	}
	host, basePath := m.Host, m.Path
	if basePath == "" {
		host, basePath = b.Host, b.BasePath
	}
	queue := protocol.RouteQueue(host, basePath)
	inst, err := k.Start(ctx, &kind.Spec{
		SHA: m.SHA, Host: host, BasePath: basePath, Queue: queue, Bundle: b, Dir: dir,
		Props: props, PropsJSON: propsJSON, Log: r.log.With("queue", queue, "sha", m.SHA),
		Grace: r.opts.StopGrace, OnRestart: r.metrics.restarts.WithLabelValues(routeLabelValues(queue, host, basePath)...).Inc,
		UIDs: r.opts.BundleUIDs, Output: r.bundleOutput(queue, m.SHA, host, basePath),
	})
	if err != nil {
		return nil, err
	}
	return newServed(m.SHA, host, basePath, inst, routerMatcher(b.Router())), nil
}

// bundleOutput is where bundle sha's stdout and stderr lines go: the runner's log, with
// the bundle's sha, its route (host, path) and queue, and the dropped lines counted. The
// runner's log ships them to funcatron.logging with those attributes (Options.Logs), at
// key info, whatever the runner's --log-level (logging.ShipAlways: a bundle's output is
// its author's data, wanted in `funcatron logs` when the runner logs only warnings); on
// the runner's stderr they follow the level (at warn, not there).
func (r *Runner) bundleOutput(queue, sha, host, path string) kind.Output {
	dropped := r.metrics.outDropped.WithLabelValues(routeLabelValues(queue, host, path)...)
	log := logging.ShipAlways(r.log.With("queue", queue, "sha", sha, "host", host, "path", path, "bundle_output", true))
	return kind.LogOutput(log, func(n int) { dropped.Add(float64(n)) })
}

// routerMatcher adapts the bundle's router to a matcher.
func routerMatcher(rt *bundles.Router) matcher {
	return func(method, uri string) (string, int, []string) {
		m, err := rt.Match(method, uri)
		if err == nil {
			return m.Operation.OperationID, 0, nil
		}
		var re *bundles.RouteError
		if errors.As(err, &re) {
			return "", re.Status, re.Allow
		}
		return "", http.StatusNotFound, nil
	}
}

// disable stops serving sha on rt, if rt serves it still: a disable of a bundle that was
// already replaced on its route leaves the route alone.
func (r *Runner) disable(ctx context.Context, rt *route, sha string) {
	if s := rt.cur.Load(); s == nil || s.sha != sha {
		return
	}
	// Jobs of one route run in order, so nothing swaps the bundle during the linger.
	select {
	case <-time.After(r.opts.DisableLinger):
	case <-ctx.Done():
	}
	r.stopRoute(ctx, rt)
	r.mu.Lock()
	if r.shaQueue[sha] == rt.queue {
		delete(r.shaQueue, sha)
	}
	r.mu.Unlock()
	r.beatNow()
	r.log.Info("bundle disabled", "queue", rt.queue, "sha", sha)
}

// startConsumer subscribes to rt's queue for a bundle's concurrency (prefetchFor), in a
// goroutine the consumer owns.
func (r *Runner) startConsumer(rt *route, concurrency int) *consumer {
	ctx, cancel := context.WithCancel(context.Background())
	prefetch := prefetchFor(concurrency)
	c := &consumer{concurrency: concurrency, prefetch: prefetch, lim: make(limit, concurrency), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		err := r.broker.consume(ctx, rt.queue, prefetch, func(d delivery) { r.handle(rt, c, d) })
		if err != nil {
			r.log.Error("consuming route queue stopped", "queue", rt.queue, "err", err)
		}
	}()
	return c
}
