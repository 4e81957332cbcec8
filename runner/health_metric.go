// The bundle-health metric: read from the routes at scrape time, so it is never stale.

package runner

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/funcatron/funcatron/runner/kind"
)

var healthDesc = prometheus.NewDesc("funcatron_runner_bundle_health",
	"1 for the health each served bundle is in (ok, unavailable, dirty), 0 for the others.",
	[]string{"queue", "sha", "status"}, nil)

// healthCollector reports the health of every bundle the runner serves.
type healthCollector struct{ r *Runner }

func (c healthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- healthDesc }

func (c healthCollector) Collect(ch chan<- prometheus.Metric) {
	c.r.mu.Lock()
	routes := make([]*route, 0, len(c.r.routes))
	for _, rt := range c.r.routes {
		routes = append(routes, rt)
	}
	c.r.mu.Unlock()
	for _, rt := range routes {
		s := rt.cur.Load()
		if s == nil {
			continue
		}
		h := s.inst.Health()
		for _, each := range kind.Healths {
			v := 0.0
			if each == h {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(healthDesc, prometheus.GaugeValue, v, rt.queue, s.sha, string(each))
		}
	}
}
