package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/funcatron/funcatron/internal/testenv"
)

// TestFrontendMetricsSumOverWorkers: /__funcatron/metrics counts the control messages refused
// on every worker's inbox, whichever worker answers the scrape (the counters live in a
// lua_shared_dict), while each worker's /__funcatron/health counts only its own. Forgeries
// go to both workers of a real nginx, with different reasons on each; every scrape is on a
// new connection (so nginx may hand it to either worker) and shows all of them. The text is
// read by the Prometheus client's own parser (format 0.0.4). The listeners gauge drops from 2
// to 1 when a genuine `die` stops one worker's listener, and forgets a worker killed with
// SIGKILL once its key's TTL ends.
func TestFrontendMetricsSumOverWorkers(t *testing.T) {
	t.Parallel()
	f := startFrontend(t, frontendOptions{workers: 2})
	w0, w1 := f.inbox(0), f.inbox(1)
	id0 := str(f.awakes[0]["instance-id"])
	die := func() msg { return msg{"action": "die", "instance-id": id0} }
	other := []byte("a-key-the-attacker-made-up-0123456789")
	for range 4 {
		f.tron.sendSigned(t, w0, w0, nil, die()) // unsigned
	}
	for range 3 {
		f.tron.sendSigned(t, w0, w0, other, die()) // bad-signature
	}
	f.tron.sendSigned(t, w1, w1, nil, die())        // unsigned
	f.tron.sendSigned(t, w1, w0, f.tron.key, die()) // bad-signature: signed for the other inbox
	stale := die()
	stale["at"] = time.Now().Add(-10 * time.Minute).UnixMilli()
	f.tron.send(t, w1, stale)
	ti := msg{"action": "tron-info", "msg-id": "ti-" + uniqueName("r"), "at": time.Now().UnixMilli(), "tron-host": msg{"host": "tron.example", "port": 3000}}
	f.tron.send(t, w1, ti)
	f.tron.send(t, w1, ti) // replayed
	want := map[string]float64{"unsigned": 5, "bad-signature": 4, "stale": 1, "replayed": 1, "mismatch": 0, "misdirected": 0, "role": 0}
	const n = 11

	testenv.WaitFor(t, 10*time.Second, fmt.Sprintf("%d refusals in /__funcatron/metrics", n), func() bool {
		return refusedSum(frontendMetrics(t, f)) == n
	})
	pids := map[any]bool{}
	for range 8 {
		fams := frontendMetrics(t, f)
		got := refusedByReason(t, fams)
		for reason, w := range want {
			if got[reason] != w {
				t.Fatalf("refused %v, want %v", got, want)
			}
		}
		if c, w := gaugeValue(t, fams, "funcatron_frontend_listeners_connected"), gaugeValue(t, fams, "funcatron_frontend_workers"); c != 2 || w != 2 {
			t.Fatalf("listeners connected %v, workers %v; want 2 and 2", c, w)
		}
		h := freshHealth(t, f)
		pids[h["pid"]] = true
		if own, _ := h["refused"].(map[string]any); sumAny(own) >= n {
			t.Errorf("worker %v's health counts %v, only its own share of the %d", h["pid"], own, n)
		}
	}
	t.Logf("health answered by %d worker(s) of 2 over 8 new connections", len(pids))

	f.tron.send(t, w0, die())
	connected := func() float64 {
		return gaugeValue(t, frontendMetrics(t, f), "funcatron_frontend_listeners_connected")
	}
	testenv.WaitFor(t, 10*time.Second, "listeners gauge at 1 after a genuine die", func() bool { return connected() == 1 })

	// A worker killed outright cannot delete its key: it counts until its TTL (10 s) ends.
	// The master starts a new worker, whose listener counts too: 2, then 1 again.
	var pid float64
	testenv.WaitFor(t, 10*time.Second, "the health of the worker of "+w1, func() bool {
		h := freshHealth(t, f)
		pid, _ = h["pid"].(float64)
		return h["inbox"] == w1
	})
	if err := syscall.Kill(int(pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "the new worker's listener counted next to the killed one's", func() bool { return connected() == 2 })
	testenv.WaitFor(t, 15*time.Second, "the killed worker's listener no longer counted", func() bool { return connected() == 1 })
}

// freshClient opens a connection per request: nginx may hand each to any worker.
var freshClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// frontendMetrics scrapes /__funcatron/metrics on a new connection and parses it as
// Prometheus text 0.0.4.
func frontendMetrics(t testing.TB, f *frontend) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := freshClient.Get(f.nginx.URL() + "/__funcatron/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/__funcatron/metrics: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/__funcatron/metrics is not Prometheus text: %v", err)
	}
	return fams
}

// refusedByReason reads funcatron_frontend_refused_messages_total, which must be a counter
// with help.
func refusedByReason(t testing.TB, fams map[string]*dto.MetricFamily) map[string]float64 {
	t.Helper()
	fam := fams["funcatron_frontend_refused_messages_total"]
	if fam == nil || fam.GetType() != dto.MetricType_COUNTER || fam.GetHelp() == "" {
		t.Fatalf("no counter funcatron_frontend_refused_messages_total with help in %v", fams)
	}
	out := map[string]float64{}
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "reason" {
				out[l.GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

func refusedSum(fams map[string]*dto.MetricFamily) float64 {
	sum := 0.0
	for _, m := range fams["funcatron_frontend_refused_messages_total"].GetMetric() {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

func gaugeValue(t testing.TB, fams map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	fam := fams[name]
	if fam == nil || fam.GetType() != dto.MetricType_GAUGE || len(fam.GetMetric()) != 1 {
		t.Fatalf("no single gauge %s in %v", name, fams)
	}
	return fam.GetMetric()[0].GetGauge().GetValue()
}

// freshHealth reads /__funcatron/health on a new connection.
func freshHealth(t testing.TB, f *frontend) msg {
	t.Helper()
	resp, err := freshClient.Get(f.nginx.URL() + "/__funcatron/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m msg
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("health: %v", err)
	}
	return m
}

func sumAny(m map[string]any) float64 {
	sum := 0.0
	for _, v := range m {
		f, _ := v.(float64)
		sum += f
	}
	return sum
}
