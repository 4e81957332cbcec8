// Driving load with wrk: a Lua script per body sets the method and body and prints the
// run's figures as one JSON line, which is read back here.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// load is one wrk run.
type load struct {
	URL      string
	BodySize int // -1: GET without a body; else a POST of that many bytes
	Duration time.Duration
	Conns    int
	Threads  int
}

// wrkResult is what wrk measured (latencies in microseconds).
type wrkResult struct {
	Requests   int64   `json:"requests"`
	DurationUS int64   `json:"duration_us"`
	Bytes      int64   `json:"bytes"`
	Connect    int64   `json:"connect_errors"`
	Read       int64   `json:"read_errors"`
	Write      int64   `json:"write_errors"`
	Status     int64   `json:"non_2xx_3xx"`
	Timeout    int64   `json:"timeouts"`
	P50US      float64 `json:"p50_us"`
	P90US      float64 `json:"p90_us"`
	P99US      float64 `json:"p99_us"`
	MaxUS      float64 `json:"max_us"`
	MeanUS     float64 `json:"mean_us"`
	// CPUS is wrk's own CPU time (user + system, s). wrk has exited when the row's second
	// CPU snapshot is taken, so /proc no longer shows it: this is where its share comes from.
	CPUS float64 `json:"cpu_s"`
}

// RPS is requests per second over the run.
func (w *wrkResult) RPS() float64 {
	if w.DurationUS == 0 {
		return 0
	}
	return float64(w.Requests) / (float64(w.DurationUS) / 1e6)
}

// Errors is every failed request: socket errors, timeouts, and answers of 400 and above.
func (w *wrkResult) Errors() int64 { return w.Connect + w.Read + w.Write + w.Status + w.Timeout }

// wrkScript is the Lua script for a body size. The body is "x" repeated, what the echo
// operation sends back byte for byte.
func wrkScript(bodySize int) string {
	var b strings.Builder
	if bodySize >= 0 {
		fmt.Fprintf(&b, "wrk.method = \"POST\"\nwrk.body = string.rep(\"x\", %d)\n", bodySize)
		b.WriteString("wrk.headers[\"Content-Type\"] = \"application/octet-stream\"\n")
	}
	b.WriteString(`
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format('BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
        '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"non_2xx_3xx":%d,"timeouts":%d,' ..
        '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
        summary.requests, summary.duration, summary.bytes,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
`)
	return b.String()
}

// runWrk runs wrk for l and returns its figures. wrk itself stops after l.Duration; the
// context bounds the whole call in case it does not.
func runWrk(dir string, l load) (*wrkResult, error) {
	script := filepath.Join(dir, fmt.Sprintf("wrk-%d.lua", l.BodySize))
	if err := os.WriteFile(script, []byte(wrkScript(l.BodySize)), 0o644); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.Duration+30*time.Second)
	defer cancel()
	secs := strconv.Itoa(max(int(l.Duration.Round(time.Second)/time.Second), 1)) + "s"
	cmd := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(l.Threads), "-c", strconv.Itoa(l.Conns),
		"-d", secs, "--timeout", "5s", "-s", script, l.URL)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("wrk %s: %v: %s%s", l.URL, err, out.Bytes(), errOut.Bytes())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "BENCHJSON "); ok {
			var res wrkResult
			if err := json.Unmarshal([]byte(rest), &res); err != nil {
				return nil, fmt.Errorf("reading wrk's figures %q: %w", rest, err)
			}
			res.CPUS = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
			return &res, nil
		}
	}
	return nil, fmt.Errorf("wrk %s printed no figures: %s%s", l.URL, out.Bytes(), errOut.Bytes())
}
