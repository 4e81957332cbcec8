// This file is the Tron's per-route metrics: the runners' counters from their heartbeats,
// summed, labelled with each route's queue, host and path (spec/tron-api.md "Stats and
// metrics name routes").

package tron

import "github.com/prometheus/client_golang/prometheus"

var (
	routeLabelNames = []string{"queue", "host", "path"}
	routeRequests   = prometheus.NewDesc("funcatron_tron_route_requests_total",
		"Requests the runners answered on the route, from their heartbeats since this Tron started.", routeLabelNames, nil)
	routeErrors = prometheus.NewDesc("funcatron_tron_route_errors_total",
		"Requests the runners answered with a 5xx (or could not use) on the route, since this Tron started.", routeLabelNames, nil)
	routeInflight = prometheus.NewDesc("funcatron_tron_route_requests_in_flight",
		"Requests in flight on the route, summed over the live runners' last heartbeats.", routeLabelNames, nil)
	routeRunners = prometheus.NewDesc("funcatron_tron_route_runners",
		"Runners consuming the route's queue, as last counted (0: nobody serves it).", routeLabelNames, nil)
)

// routeCollector reads the stats view at scrape time.
type routeCollector struct{ t *Tron }

func (c routeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{routeRequests, routeErrors, routeInflight, routeRunners} {
		ch <- d
	}
}

func (c routeCollector) Collect(ch chan<- prometheus.Metric) {
	v := c.t.stats()
	for queue, s := range v.Routes {
		labels := []string{queue, s.Host, s.Path}
		ch <- prometheus.MustNewConstMetric(routeRequests, prometheus.CounterValue, float64(s.Count), labels...)
		ch <- prometheus.MustNewConstMetric(routeErrors, prometheus.CounterValue, float64(s.Errors), labels...)
		ch <- prometheus.MustNewConstMetric(routeInflight, prometheus.GaugeValue, float64(s.Inflight), labels...)
	}
	for _, r := range v.RouteMap {
		if r.Runners != nil {
			ch <- prometheus.MustNewConstMetric(routeRunners, prometheus.GaugeValue, float64(*r.Runners), r.Queue, anyHost(r.Host), r.Path)
		}
	}
}
