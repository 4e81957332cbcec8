// The Runner: its state, start-up and shutdown.

package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/options"
	"github.com/funcatron/funcatron/internal/protocol"
)

// Runner is the worker of Funcatron: it serves the route queues the Tron enables, running
// their bundles, and reports to the Tron (spec/protocol.md §3, spec/bundles.md).
type Runner struct {
	opts    Options
	log     *slog.Logger
	id      string // the uuid of this start; the inbox is RU-<id>
	inbox   string
	ln      net.Listener
	store   *store
	metrics *metrics
	key     []byte             // the runner key: signs what it sends, verifies its inbox
	verify  *protocol.Verifier // kept for the runner's life: it remembers processed msg-ids

	// Set by run, read-only afterwards.
	broker  broker
	bus     bus.Bus
	replies *replyBatches // raw answers, batched per reply queue

	mu       sync.Mutex
	routes   map[string]*route // by route queue
	shaQueue map[string]string // sha → the route queue its last enable named
	closing  bool              // shutdown began: no new jobs

	tronHost atomic.Pointer[protocol.HostPort]
	statsd   statsdSender   // run-time configuration (config.go, statsd.go)
	beat     chan struct{}  // a heartbeat now, please (after enable / disable)
	jobs     sync.WaitGroup // enable, disable and prefetch jobs
	jobCtx   context.Context
}

// New checks opts, creates the data dir and opens the HTTP listener (so HealthAddr is
// known at once); Run does the rest.
func New(opts *Options) (*Runner, error) {
	if opts == nil {
		opts = NewOptions()
	}
	o := *opts
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	key, err := o.busKey()
	if err != nil {
		return nil, options.Invalid(err)
	}
	if err := checkIsolation(&o, o.Logger.With("component", "runner")); err != nil {
		return nil, options.Invalid(err)
	}
	st, err := newStore(o.DataDir, o.MaxBundleBytes)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", o.Listen, err)
	}
	id := uuid.NewString()
	r := &Runner{
		opts: o, id: id, inbox: protocol.RunnerInboxPrefix + id, ln: ln, store: st,
		metrics: newMetrics(), key: key, verify: newVerifier(key, o.MaxClockSkew), routes: make(map[string]*route), shaQueue: make(map[string]string),
		beat: make(chan struct{}, 1),
	}
	r.replies = newReplyBatches(r)
	r.metrics.reg.MustRegister(healthCollector{r})
	if o.Logs != nil {
		r.metrics.reg.MustRegister(o.Logs.Shipper.Metrics()...)
	}
	r.log = o.Logger.With("component", "runner", "inbox", r.inbox)
	return r, nil
}

// HealthAddr is the address /healthz and /metrics are served on.
func (r *Runner) HealthAddr() net.Addr { return r.ln.Addr() }

// Inbox is the runner's inbox queue, RU-<uuid>.
func (r *Runner) Inbox() string { return r.inbox }

// Run connects to RabbitMQ (waiting for it as long as ctx allows), announces the runner to
// the Tron and serves until ctx ends; then it shuts down gracefully
// (see shutdown) and returns nil. It returns an error when it cannot start.
func (r *Runner) Run(ctx context.Context) error {
	t, err := r.connect(ctx)
	if err != nil {
		r.ln.Close()
		if ctx.Err() != nil {
			r.log.Info("stopped before the broker was reached")
			return nil
		}
		return err
	}
	defer t.close()
	return r.run(ctx, t)
}

// run serves with a connected transport.
func (r *Runner) run(ctx context.Context, t *transport) error {
	r.broker, r.bus = t.broker, t.bus
	if l := r.opts.Logs; l != nil {
		defer l.Shipper.Start(r.inbox, t.bus.Publish)()
	}
	defer r.statsd.set("") // closes its socket
	if t.conn != nil {
		cfgCtx, stopCfg := context.WithCancel(ctx)
		cfgDone := make(chan struct{})
		go func() { defer close(cfgDone); r.serveConfig(cfgCtx, t.conn) }()
		defer func() { stopCfg(); <-cfgDone }()
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	jobCtx, cancelJobs := context.WithCancel(context.Background())
	defer cancelJobs()
	r.jobCtx = jobCtx
	r.handleControl()
	srv := r.healthServer()
	g, gctx := errgroup.WithContext(ctx)
	busCtx, stopBus := context.WithCancel(context.Background())
	defer stopBus()
	busDone := make(chan error, 1)
	go func() { busDone <- t.runBus(busCtx) }()
	if err := r.sendAwake(ctx); err != nil {
		// The heartbeats that follow get a resend-awake from the Tron.
		r.log.Warn("sending awake", "err", err)
	}
	g.Go(func() error { r.heartbeats(gctx); return nil })
	g.Go(func() error {
		select {
		case err := <-busDone:
			if err != nil {
				return fmt.Errorf("consuming the runner inbox: %w", err)
			}
		case <-gctx.Done():
		}
		return nil
	})
	g.Go(func() error {
		if err := srv.Serve(r.ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serving /healthz and /metrics: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	err := g.Wait()
	r.shutdown(cancelJobs)
	stopBus()
	<-busDone
	return err
}

// shutdown stops the runner gracefully: no new control jobs, running ones aborted; every
// route stops consuming, its requests in flight finish and are acked, its processes stop;
// then `died` goes to the Tron and the bus closes.
func (r *Runner) shutdown(cancelJobs context.CancelFunc) {
	r.mu.Lock()
	r.closing = true
	r.mu.Unlock()
	cancelJobs()
	r.jobs.Wait()
	r.mu.Lock()
	routes := make([]*route, 0, len(r.routes))
	for _, rt := range r.routes {
		routes = append(routes, rt)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, rt := range routes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.stopRoute(context.Background(), rt)
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.sendToTron(ctx, &protocol.Died{Type: protocol.TypeRunner}); err != nil {
		r.log.Warn("sending died", "err", err)
	}
	r.log.Info("runner stopped")
}

// stopRoute stops consuming rt and drains and stops its bundle.
func (r *Runner) stopRoute(ctx context.Context, rt *route) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.consumer != nil {
		rt.consumer.stop()
		rt.consumer = nil
	}
	if s := rt.cur.Swap(nil); s != nil {
		if err := s.drainAndStop(ctx); err != nil {
			r.log.Warn("stopping bundle", "queue", rt.queue, "sha", s.sha, "err", err)
		}
	}
}

// startJob runs fn in a goroutine that shutdown waits for; false once shutdown began.
func (r *Runner) startJob(fn func(ctx context.Context)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return false
	}
	r.jobs.Add(1)
	go func() {
		defer r.jobs.Done()
		fn(r.jobCtx)
	}()
	return true
}
