// Prometheus metrics of one runner, and the per-route counters its heartbeats report.

package runner

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the runner's Prometheus metrics, in a registry of its own (several runners
// may live in one test process).
type metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.CounterVec   // queue, host, path, status
	latency       *prometheus.HistogramVec // queue, host, path
	inflight      *prometheus.GaugeVec     // queue, host, path
	queued        *prometheus.GaugeVec     // queue, host, path
	answerBatches prometheus.Histogram
	undecodable   prometheus.Counter
	restarts      *prometheus.CounterVec // queue, host, path
	outDropped    *prometheus.CounterVec // queue, host, path
	unsettled     prometheus.Counter
	refused       *prometheus.CounterVec // reason
	oversize      prometheus.Counter
}

// routeLabels name a route in the per-route metrics: its queue, and the host ("*" for any)
// and base path it serves, so a person can tell which route a queue id is.
var routeLabels = []string{"queue", "host", "path"}

// routeLabelValues are the routeLabels' values of a route.
func routeLabelValues(queue, host, path string) []string {
	if host == "" {
		host = "*"
	}
	return []string{queue, host, path}
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "funcatron_runner_requests_total",
			Help: "Requests answered, by route (queue, host, path) and HTTP status.",
		}, append(routeLabels, "status")),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "funcatron_runner_request_duration_seconds",
			Help:    "Time from taking a request off its route queue to the answer's confirm.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, routeLabels),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "funcatron_runner_requests_in_flight",
			Help: "Requests being served, by route queue.",
		}, routeLabels),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "funcatron_runner_queued_requests",
			Help: "Requests taken off a route queue (in records messages) waiting for the bundle's concurrency, by route queue.",
		}, routeLabels),
		answerBatches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "funcatron_runner_answer_batch_records",
			Help:    "Answers per records message published to a frontend (raw answers, batched per reply queue).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
		}),
		undecodable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "funcatron_runner_undecodable_total",
			Help: "Route queue and inbox messages refused (dead-lettered): undecodable, over --max-message-bytes, or nested too deep.",
		}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "funcatron_runner_process_restarts_total",
			Help: "Bundle processes restarted after they exited, by route queue.",
		}, routeLabels),
		outDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "funcatron_runner_bundle_output_dropped_lines_total",
			Help: "Lines of bundle stdout/stderr dropped over the rate limit, by route queue.",
		}, routeLabels),
		unsettled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "funcatron_runner_answers_unpublished_total",
			Help: "Answers the broker did not confirm; their requests were requeued.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "funcatron_runner_refused_messages_total",
			Help: "Control messages on the runner inbox refused and dropped (docs/protocol.md, Signing), by reason.",
		}, []string{"reason"}),
		oversize: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "funcatron_runner_answers_oversize_total",
			Help: "Answers over --max-message-bytes, replaced by a 502.",
		}),
	}
	for _, r := range protocol.RefusedReasons {
		m.refused.WithLabelValues(r)
	}
	m.reg.MustRegister(m.requests, m.latency, m.inflight, m.queued, m.answerBatches, m.undecodable, m.restarts, m.outDropped, m.unsettled, m.refused, m.oversize,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// routeStats counts one route queue's work since the last heartbeat (spec/protocol.md §3).
type routeStats struct {
	count, errors, inflight atomic.Int64
	totalNS                 atomic.Int64 // the sub-millisecond remainder is carried over
}

func (s *routeStats) begin() { s.inflight.Add(1) }

// unusable records a message or record that could not be served (it counts as an error).
func (s *routeStats) unusable() {
	s.count.Add(1)
	s.errors.Add(1)
}

// end records one finished request; failed is a 5xx answer or an unusable message.
func (s *routeStats) end(d time.Duration, failed bool) {
	s.inflight.Add(-1)
	s.count.Add(1)
	if failed {
		s.errors.Add(1)
	}
	s.totalNS.Add(int64(d))
}

// take returns the counters since the last take and starts new ones; inflight is the
// number in flight now.
func (s *routeStats) take() protocol.RouteStats {
	ns := s.totalNS.Swap(0)
	ms := ns / int64(time.Millisecond)
	s.totalNS.Add(ns - ms*int64(time.Millisecond))
	return protocol.RouteStats{
		Count:    s.count.Swap(0),
		Errors:   s.errors.Swap(0),
		Inflight: s.inflight.Load(),
		TotalMS:  ms,
	}
}

// statusLabel avoids an allocation per request for the common statuses.
func statusLabel(code int) string {
	switch code {
	case 200:
		return "200"
	case 404:
		return "404"
	case 502:
		return "502"
	case 504:
		return "504"
	}
	return strconv.Itoa(code)
}
