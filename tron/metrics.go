// This file holds the Tron's Prometheus metrics, in a registry of its own (so several Trons
// in one test process do not collide).

package tron

import (
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type metrics struct {
	reg         *prometheus.Registry
	nodes       *prometheus.GaugeVec
	lost        *prometheus.CounterVec
	msgIn       *prometheus.CounterVec
	msgOut      *prometheus.CounterVec
	enable      prometheus.Histogram
	undecodable prometheus.Counter
	refused     *prometheus.CounterVec
}

// newMetrics registers the metrics; bundles and routes are read from t at scrape time.
func newMetrics(t *Tron) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		nodes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "funcatron_tron_nodes", Help: "Live nodes known to the Tron, by type (runner, frontend).",
		}, []string{"type"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "funcatron_tron_nodes_lost_total", Help: "Nodes dropped after 3 silent heartbeat periods, by type.",
		}, []string{"type"}),
		msgIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "funcatron_tron_messages_in_total", Help: "Messages received on the Tron queue, by action.",
		}, []string{"action"}),
		msgOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "funcatron_tron_messages_out_total", Help: "Messages sent by the Tron, by action (one per destination).",
		}, []string{"action"}),
		enable: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "funcatron_tron_enable_seconds",
			Help:    "Time from an enable call to the first runner's ok ack (or to giving up).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		undecodable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "funcatron_tron_undecodable_messages_total", Help: "Bodies on the Tron queue refused (dead-lettered): undecodable, over --max-message-bytes, or nested too deep.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "funcatron_tron_refused_messages_total",
			Help: "Control messages refused and dropped (docs/protocol.md \"Signing\"), by reason: unsigned, bad-signature, misdirected, stale, replayed, mismatch, role.",
		}, []string{"reason"}),
	}
	bundles := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "funcatron_tron_bundles", Help: "Bundles in the store.",
	}, func() float64 { return float64(t.countBundles()) })
	routes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "funcatron_tron_enabled_routes", Help: "Enabled bundles, each one route.",
	}, func() float64 { return float64(t.countEnabled()) })
	for _, typ := range []string{"runner", "frontend"} {
		m.nodes.WithLabelValues(typ).Set(0)
		m.lost.WithLabelValues(typ)
	}
	for _, r := range protocol.RefusedReasons {
		m.refused.WithLabelValues(r)
	}
	m.reg.MustRegister(m.nodes, m.lost, m.msgIn, m.msgOut, m.enable, m.undecodable, m.refused, bundles, routes, routeCollector{t},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
