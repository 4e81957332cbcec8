// The runner's own HTTP server: /healthz and /metrics.

package runner

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// healthServer serves GET /healthz ({"ok":true,"bus":"connected"}, or 503 with
// "bus":"down" while the broker is unreachable) and GET /metrics (Prometheus text).
func (r *Runner) healthServer() *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !r.bus.Connected() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"ok":false,"bus":"down"}`))
			return
		}
		w.Write([]byte(`{"ok":true,"bus":"connected"}`))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.metrics.reg, promhttp.HandlerOpts{}))
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
}
