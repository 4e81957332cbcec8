// A route queue the runner serves, the bundle currently serving it, and the swap of one
// bundle for another without dropping a request.

package runner

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/runner/kind"
)

// route is one route queue: its consumer and the bundle that serves its requests now.
// Enable and disable of one route run one at a time, in arrival order, as jobs chained on
// tail (Runner.routeJob); the request path only reads cur.
type route struct {
	queue string
	stats routeStats
	m     routeMetrics

	// mu guards consumer and the swap of cur between an enable or disable job and the
	// shutdown's stopRoute, which runs outside the tail chain. It does not order the jobs.
	mu       sync.Mutex
	cur      atomic.Pointer[served]
	consumer *consumer // nil while not consuming

	tail chan struct{} // closed when the last queued job of this route is done (Runner.mu)
}

// routeMetrics are the route's metric children, looked up once rather than per request.
type routeMetrics struct {
	labels   []string // routeLabels' values
	inflight prometheus.Gauge
	queued   prometheus.Gauge
	latency  prometheus.Observer
	ok       prometheus.Counter // requests answered 200
	requests *prometheus.CounterVec
}

func newRoute(queue, host, path string, m *metrics) *route {
	labels := routeLabelValues(queue, host, path)
	return &route{queue: queue, m: routeMetrics{
		labels:   labels,
		inflight: m.inflight.WithLabelValues(labels...),
		queued:   m.queued.WithLabelValues(labels...),
		latency:  m.latency.WithLabelValues(labels...),
		ok:       m.requests.WithLabelValues(append(labels, "200")...),
		requests: m.requests,
	}}
}

// answered counts one answer of status.
func (m *routeMetrics) answered(status int, d time.Duration) {
	if status == 200 {
		m.ok.Inc()
	} else {
		m.requests.WithLabelValues(append(m.labels[:3:3], statusLabel(status))...).Inc()
	}
	m.latency.Observe(d.Seconds())
}

// served is one started bundle on a route. Requests hold a reference while they use it;
// drain waits for the references to go.
type served struct {
	sha, host, basePath string
	inst                kind.Instance
	match               matcher

	refs    atomic.Int64
	closing atomic.Bool
	drained chan struct{} // gets a value when refs reaches 0 while closing
}

// matcher finds the operation for a request (the bundle's router, spec/bundles.md §3). It
// returns the operationId, or a 404 / 405 status with the allowed methods.
type matcher func(method, uri string) (op string, status int, allow []string)

func newServed(sha, host, basePath string, inst kind.Instance, match matcher) *served {
	return &served{sha: sha, host: host, basePath: basePath, inst: inst, match: match, drained: make(chan struct{}, 1)}
}

// acquire returns the bundle serving the route with a reference held, or nil when none
// does (the route is being disabled). A bundle being drained is never handed out.
func (rt *route) acquire() *served {
	for {
		s := rt.cur.Load()
		if s == nil {
			return nil
		}
		s.refs.Add(1)
		if !s.closing.Load() {
			return s
		}
		s.release()
		if rt.cur.Load() == s {
			return nil
		}
	}
}

func (s *served) release() {
	if s.refs.Add(-1) == 0 && s.closing.Load() {
		select {
		case s.drained <- struct{}{}:
		default:
		}
	}
}

// drainAndStop waits until the requests using s finished (at most the bundle's timeout
// and a little), then stops its processes. s must no longer be the route's cur.
func (s *served) drainAndStop(ctx context.Context) error {
	s.closing.Store(true)
	if s.refs.Load() > 0 {
		t := time.NewTimer(s.inst.Timeout() + time.Second)
		select {
		case <-s.drained:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	return s.inst.Stop(context.WithoutCancel(ctx))
}

// entry is the route as a heartbeat reports it, or false while nothing serves it.
func (rt *route) entry() (protocol.RouteEntry, bool) {
	s := rt.cur.Load()
	if s == nil {
		return protocol.RouteEntry{}, false
	}
	return protocol.RouteEntry{
		Queue: rt.queue, Host: s.host, Path: s.basePath, SHA: s.sha, Status: string(s.inst.Health()),
	}, true
}

// consumer is one subscription to a route queue for a bundle's concurrency: a limit of
// concurrency requests running at once, and a prefetch of concurrency messages
// (prefetchFor).
type consumer struct {
	concurrency int
	prefetch    int
	lim         limit
	cancel      context.CancelFunc
	done        chan struct{}
}

// limit bounds the requests of one route that run at once: a request takes a slot to run
// and gives it back once its answer is made (its publish does not hold it).
type limit chan struct{}

// prefetchFor is the prefetch, in messages, of a route queue for a bundle's concurrency:
// the concurrency itself, while at most concurrency requests run (the consumer's limit) and
// the records of the messages held beyond that wait in memory, counted as queued.
//
// A deliberate departure from spec/protocol.md §8, which says max(1, concurrency /
// --max-batch): a frontend batches only what arrives while a publish is in flight, so most
// messages hold one request or a few (catalogue-form ones always one), and at that prefetch
// (1 at the defaults) a bundle ran one request at a time while the rest waited in the
// broker (make bench: 504 req/s where the catalogue form did 878). A prefetch that follows
// the messages' sizes needs a new subscription at each change, and the moment between the
// two is one the Tron can count as "no runner", so frontends answered 503 under load. What
// the runner holds is bounded as before: prefetch messages of at most --max-message-bytes.
func prefetchFor(concurrency int) int {
	return max(1, concurrency)
}

// wait takes a slot, counting the request as queued while none is free.
func (l limit) wait(rt *route) {
	select {
	case l <- struct{}{}:
		return
	default:
	}
	rt.m.queued.Inc()
	l <- struct{}{}
	rt.m.queued.Dec()
}

// done gives the slot back.
func (l limit) done() { <-l }

// stop ends the subscription and waits until Consume returned (its handlers finished).
func (c *consumer) stop() {
	c.cancel()
	<-c.done
}
