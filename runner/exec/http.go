// Kind exec, http mode: warm worker processes serving HTTP/1.1 on unix sockets
// (spec/bundles.md §4).

package exec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/runner/kind"
	"github.com/valyala/fasthttp"
)

// httpInstance is an exec bundle in http mode: cfg.Workers supervised processes, calls
// spread over the ready ones (fewest in flight first), at most cfg.Concurrency at once.
type httpInstance struct {
	cfg     *execConfig
	log     *slog.Logger
	grace   time.Duration
	workers []*worker
	sem     chan struct{}
	next    atomic.Uint32

	sb        *sandbox
	onRestart func()

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever a worker's readiness changes

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// startHTTP starts the workers and returns once every one is ready, or fails with the
// reason the first one did not get ready (the processes are then stopped). ctx bounds the
// start only (shutdown during an enable).
func startHTTP(ctx context.Context, cfg *execConfig, env execEnv) (*httpInstance, error) {
	life, cancel := context.WithCancel(context.Background())
	stopWatching := context.AfterFunc(ctx, cancel)
	defer stopWatching()
	h := &httpInstance{
		cfg: cfg, log: env.log, grace: env.grace, onRestart: env.onRestart,
		sem: make(chan struct{}, cfg.Concurrency), sb: env.sb,
		changed: make(chan struct{}), cancel: cancel,
	}
	first := make(chan workerErr, cfg.Workers)
	for i := range cfg.Workers {
		// A short path: sun_path holds only 108 bytes.
		w := newWorker(h, i, filepath.Join(env.sb.sockDir, fmt.Sprintf("w%d.sock", i)))
		h.workers = append(h.workers, w)
		h.done.Add(1)
		go func() {
			defer h.done.Done()
			w.supervise(life, first)
		}()
	}
	var failed *workerErr
	for range cfg.Workers {
		if we := <-first; we.err != nil && failed == nil {
			failed = &we
		}
	}
	if failed != nil {
		h.stopWorkers()
		return nil, fmt.Errorf("bundle worker %d: %w", failed.id, failed.err)
	}
	return h, nil
}

func (h *httpInstance) Concurrency() int       { return h.cfg.Concurrency }
func (h *httpInstance) Timeout() time.Duration { return h.cfg.Timeout }

// Health is ok while at least one worker is ready, unavailable while every one is
// restarting.
func (h *httpInstance) Health() kind.Health {
	for _, w := range h.workers {
		if w.ready.Load() {
			return kind.HealthOK
		}
	}
	return kind.HealthUnavailable
}

// serve forwards c to a ready worker and turns its response into out: 502 when the
// process fails or crashes, 504 when it does not answer within the bundle's timeout.
func (h *httpInstance) Serve(ctx context.Context, c *kind.Call, out *protocol.AnswerBody) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	buildRequest(req, c)
	worker, err := h.do(ctx, req, resp)
	switch {
	case err == nil:
		readResponse(resp, out)
	case errors.Is(err, ErrNotRunning):
		kind.BadGateway(out, "the function is not running")
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrNoFreeConns):
		if worker >= 0 {
			h.log.Warn("bundle timed out", "worker", worker, "op", c.Op, "timeout", h.cfg.Timeout)
		}
		kind.GatewayTimeout(out)
	default:
		h.log.Warn("bundle failed", "worker", worker, "op", c.Op, "err", err)
		kind.BadGateway(out, "the function failed to answer")
	}
}

// ErrNotRunning is do's error when no worker was ready before the request's time ran out.
var ErrNotRunning = errors.New("the function is not running")

// do sends req to the ready worker with the fewest calls in flight and reads its response,
// within the bundle's timeout (or ctx's deadline when sooner), at most cfg.Concurrency at
// once. worker is the worker's id, -1 when none was reached: the error is then
// fasthttp.ErrTimeout (no free slot in time) or ErrNotRunning.
func (h *httpInstance) do(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response) (worker int, err error) {
	deadline := time.Now().Add(h.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return -1, fasthttp.ErrTimeout
	}
	defer func() { <-h.sem }()
	w := h.pick(ctx)
	if w == nil {
		return -1, ErrNotRunning
	}
	w.inflight.Add(1)
	defer w.inflight.Add(-1)
	return w.id, w.client.DoDeadline(req, resp, deadline)
}

// pick returns the ready worker with the fewest calls in flight (ties broken round-robin),
// waiting while none is ready; nil when ctx ends first.
func (h *httpInstance) pick(ctx context.Context) *worker {
	for {
		h.mu.Lock()
		changed := h.changed
		h.mu.Unlock()
		n := uint32(len(h.workers))
		start := h.next.Add(1)
		var best *worker
		for i := range n {
			w := h.workers[(start+i)%n]
			if w.ready.Load() && (best == nil || w.inflight.Load() < best.inflight.Load()) {
				best = w
			}
		}
		if best != nil {
			return best
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

func (h *httpInstance) readinessChanged() {
	h.mu.Lock()
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

func (h *httpInstance) restarted() {
	if h.onRestart != nil {
		h.onRestart()
	}
}

// Stop stops every worker (SIGTERM, SIGKILL after the grace period), waits for them, kills
// whatever else runs as the bundle's uid and removes its sandbox.
func (h *httpInstance) Stop(ctx context.Context) error {
	h.stopWorkers()
	return h.sb.close()
}

// stopWorkers stops every worker and waits for them.
func (h *httpInstance) stopWorkers() {
	h.cancel()
	h.done.Wait()
}
