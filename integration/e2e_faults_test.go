package integration

// Fault tests: something breaks while clients keep sending requests, and every request still
// gets an answer — a 2xx, or an explicit 5xx within the frontend's timeout plus a second —
// and none hangs. Each test logs its counts (total, 2xx, by status, max latency).

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/stack"
	"github.com/funcatron/funcatron/internal/testenv"
)

// e2eGreetLoad is a load of clients asking path/greet/<name> of a sample enabled with
// e2eProps, checking every body.
func e2eGreetLoad(t *testing.T, s *e2eStack, name string, clients int, path string) *e2eLoad {
	want := e2eGreeting("Howdy", "load")
	return e2eStartLoad(t, name, e2eLoadSpec{
		clients: clients, url: s.FrontURL() + path + "/greet/load",
		check: func(b []byte) error {
			if string(b) != want {
				return fmt.Errorf("body %q, want %q", b, want)
			}
			return nil
		},
	})
}

// e2eTestBundleCrashHang: a bundle process that crashes gets its request a 502, one that
// hangs past the bundle's timeout a 504 (from the runner, at that timeout, not the
// frontend's), in http and CGI mode; meanwhile the runners keep serving another bundle
// without a single failure, stay healthy, and the crashed bundle serves again.
func e2eTestBundleCrashHang(t *testing.T, s *e2eStack, env *e2eEnv) {
	// variants with a 1 s timeout: hello-go on its own host, hello-sh on its own path
	goFaulty := s.deploy(t, e2eVariant(t, env.sample("hello-go"),
		e2eReplace("basePath: /hello\n", "host: faulty.example\nbasePath: /hello\n", "timeout: 30s", "timeout: 1s"), nil),
		map[string]any{"greeting": "Faulty"})
	s.deploy(t, e2eVariant(t, env.sample("hello-sh"),
		e2eReplace("  - url: /sh\n", "  - url: /shfaulty\n", "timeout: 30s", "timeout: 1s"), nil),
		map[string]any{"greeting": "Faulty"})
	restarts := func() float64 {
		q := s.queueOf(t, goFaulty)
		sum := 0.0
		for _, r := range s.Runners {
			sum += e2eMetric(t, e2eRunnerURL(t, r)+"/metrics", "funcatron_runner_process_restarts_total", map[string]string{"queue": q})
		}
		return sum
	}
	restartsBefore := restarts()

	load := e2eGreetLoad(t, s, "crash-and-hang", 3, "/hello")
	load.waitOK(t, 30, 20*time.Second)

	type fault struct{ what, host, path string }
	var mu sync.Mutex
	var results []string
	check := func(f fault, r e2eResp, err error, status int, minTook, maxTook time.Duration) {
		mu.Lock()
		results = append(results, fmt.Sprintf("%s: %d in %s", f.what, r.status, r.took.Round(time.Millisecond)))
		mu.Unlock()
		if err != nil {
			t.Errorf("%s: %v", f.what, err)
			return
		}
		e2eWantError(t, f.what, r, status, "")
		if r.took < minTook || r.took > maxTook {
			t.Errorf("%s: answered %d after %s, want between %s and %s", f.what, r.status, r.took, minTook, maxTook)
		}
	}
	// crashes, one after the other: the process exits without answering
	for i := range 4 {
		for _, f := range []fault{
			{fmt.Sprintf("crash %d (http)", i), "faulty.example", "/hello/crash"},
			{fmt.Sprintf("crash %d (cgi)", i), "", "/shfaulty/crash"},
		} {
			r, err := e2eDo(s.http, "GET", s.FrontURL()+f.path, f.host, nil, nil)
			check(f, r, err, 502, 0, 2*time.Second)
		}
	}
	// hangs, all at once: past the bundle's 1 s timeout, well before the frontend's 5 s
	var wg sync.WaitGroup
	for i := range 3 {
		for _, f := range []fault{
			{fmt.Sprintf("hang %d (http)", i), "faulty.example", "/hello/sleep?ms=20000"},
			{fmt.Sprintf("hang %d (cgi)", i), "", "/shfaulty/sleep?ms=20000"},
		} {
			wg.Go(func() {
				r, err := e2eDo(s.fresh, "GET", s.FrontURL()+f.path, f.host, nil, nil)
				check(f, r, err, 504, 900*time.Millisecond, 3*time.Second)
			})
		}
	}
	wg.Wait()
	t.Logf("faults: %s", strings.Join(results, "; "))

	// the crashed bundle serves again (its workers restarted), the runners are healthy
	testenv.WaitFor(t, 15*time.Second, "the crashed bundle answering again", func() bool {
		r, err := e2eDo(s.http, "GET", s.FrontURL()+"/hello/greet/x", "faulty.example", nil, nil)
		return err == nil && string(r.body) == e2eGreeting("Faulty", "x")
	})
	e2eWant(t, "cgi after its crashes", s.get(t, "/shfaulty/greet/x"), 200, e2eGreeting("Faulty", "x"))
	if d := restarts() - restartsBefore; d < 1 {
		t.Errorf("bundle process restarts counted by the runners: %.0f, want at least 1", d)
	}
	load.waitOK(t, 30, 20*time.Second)
	load.stopAndCount(t).requireAllOK(t)
	e2eRequireHealthy(t, s)
}

// e2eRequireHealthy fails the test unless the Tron and every runner process still runs and
// answers /healthz with the bus connected.
func e2eRequireHealthy(t *testing.T, s *e2eStack) {
	t.Helper()
	procs := append([]*stack.Proc{s.Tron}, s.Runners...)
	for _, p := range procs {
		if !p.Running() {
			t.Errorf("%s is not running", p.Name)
			continue
		}
		url := s.TronURL
		if p != s.Tron {
			url = e2eRunnerURL(t, p)
		}
		r, err := e2eDo(s.http, "GET", url+"/healthz", "", nil, nil)
		if err != nil || r.status != 200 || !strings.Contains(string(r.body), `"connected"`) {
			t.Errorf("%s /healthz: %v %s", p.Name, err, r)
		}
	}
}

// e2eFaultStack starts a fault test's own stack (2 runners, 2 nginx workers) with hello-go
// deployed, and waits until both runners serve its route.
func e2eFaultStack(t *testing.T, env *e2eEnv) (*e2eStack, string) {
	t.Helper()
	s := e2eStart(t, env, e2eStackOptions{runners: 2, workers: 2})
	sha := s.deploy(t, env.sample("hello-go"), e2eProps)
	q := s.queueOf(t, sha)
	s.waitRunnersServing(t, q, 2)
	return s, q
}

// e2eTestRunnerKill: kill -9 of a runner while it has requests in flight; RabbitMQ gives its
// unacked requests to the other runner, so every request is answered 200; no process of the
// killed runner survives it; the Tron drops it after three silent heartbeat periods. Started
// again, it serves the route again.
func e2eTestRunnerKill(t *testing.T, env *e2eEnv) {
	s, q := e2eFaultStack(t, env)
	// slow requests, so the victim surely holds some unacked when it dies
	load := e2eStartLoad(t, "runner-kill", e2eLoadSpec{
		clients: 6, url: s.FrontURL() + "/hello/sleep?ms=300",
		check: func(b []byte) error {
			if string(b) != `{"slept_ms":300}`+"\n" {
				return fmt.Errorf("body %q", b)
			}
			return nil
		},
	})
	load.waitOK(t, 30, 20*time.Second)

	victim, survivor := s.Runners[0], s.Runners[1]
	victimURL, survivorURL := e2eRunnerURL(t, victim), e2eRunnerURL(t, survivor)
	inflight := 0.0
	testenv.WaitFor(t, 10*time.Second, "requests in flight at the victim", func() bool {
		inflight = e2eMetric(t, victimURL+"/metrics", "funcatron_runner_requests_in_flight", map[string]string{"queue": q})
		return inflight >= 1
	})
	survivorBefore := e2eMetric(t, survivorURL+"/metrics", "funcatron_runner_requests_total", map[string]string{"queue": q})
	victim.Kill()
	killed := time.Now()
	t.Logf("killed %s (kill -9) with %.0f requests in flight", victim.Name, inflight)

	load.waitOK(t, 60, 20*time.Second)
	testenv.WaitFor(t, 3*e2eHeartbeat+5*time.Second, "the Tron dropping the killed runner", func() bool {
		n, err := s.NodeCount("runner")
		return err == nil && n == 1
	})
	c := load.stopAndCount(t)
	c.requireAllOK(t)

	spanning := 0
	var slowest time.Duration
	for _, smp := range load.snapshot() {
		if smp.start.Before(killed) && smp.end.After(killed) {
			spanning++
			slowest = max(slowest, smp.end.Sub(smp.start))
		}
	}
	t.Logf("requests in flight across the kill: %d, all answered 200, the slowest in %s", spanning, slowest.Round(time.Millisecond))
	if spanning == 0 {
		t.Errorf("no request was in flight across the kill")
	}
	if d := e2eMetric(t, survivorURL+"/metrics", "funcatron_runner_requests_total", map[string]string{"queue": q}) - survivorBefore; d < 60 {
		t.Errorf("the survivor served %.0f requests after the kill, want at least 60", d)
	}
	if left := e2eProcsUnder(t, filepath.Dir(victim.LogPath)); len(left) > 0 {
		t.Errorf("processes of the killed runner still running: %v", left)
	}
	if !survivor.Running() || !s.Tron.Running() {
		t.Errorf("running after the kill: survivor %v, tron %v", survivor.Running(), s.Tron.Running())
	}

	// started again on the same data dir (its cache, its dead bundle's leftovers), the
	// runner is given the route again and gets its share of the work
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	s.waitRunnersServing(t, q, 2)
	before := e2eMetric(t, victimURL+"/metrics", "funcatron_runner_requests_total", map[string]string{"queue": q})
	for i := range 20 {
		e2eWant(t, "after the restart", s.get(t, fmt.Sprintf("/hello/greet/k%d", i)), 200, e2eGreeting("Howdy", fmt.Sprintf("k%d", i)))
	}
	if d := e2eMetric(t, victimURL+"/metrics", "funcatron_runner_requests_total", map[string]string{"queue": q}) - before; d == 0 {
		t.Errorf("the restarted runner served none of 20 requests")
	}
}

// e2eProcsUnder lists the processes whose executable lies under dir (a runner's bundle
// processes run from its data dir), polling a few seconds for them to go.
func e2eProcsUnder(t *testing.T, dir string) []string {
	t.Helper()
	var left []string
	testenv.Poll(5*time.Second, func() bool {
		left = left[:0]
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
			if err == nil && strings.HasPrefix(exe, dir+"/") {
				left = append(left, e.Name()+" "+exe)
			}
		}
		return len(left) == 0
	})
	return left
}

// e2eWorkerPIDs are the nginx worker processes by node id.
func e2eWorkerPIDs(t *testing.T, s *e2eStack) map[string]int {
	t.Helper()
	out := map[string]int{}
	for id, v := range s.workerViews(t, "health") {
		out[id] = v.PID
	}
	return out
}

// e2eTestBrokerRestart: RabbitMQ stops and starts again under load. The Tron, the runners
// and the nginx workers reconnect by themselves (same processes), service resumes within
// 10 s of the broker being up, and meanwhile every request got an answer: a 2xx, or an
// explicit 503 (broker unreachable) or 504 (lost with the broker), each within the
// frontend's timeout plus a second.
func e2eTestBrokerRestart(t *testing.T, env *e2eEnv) {
	s, _ := e2eFaultStack(t, env)
	pids := e2eWorkerPIDs(t, s)
	load := e2eGreetLoad(t, s, "broker-restart", 4, "/hello")
	load.waitOK(t, 40, 20*time.Second)

	stopped := time.Now()
	if err := s.Rabbit.Restart(); err != nil {
		t.Fatalf("restarting RabbitMQ: %v", err)
	}
	up := time.Now()
	t.Logf("RabbitMQ down and up again in %s", up.Sub(stopped).Round(time.Millisecond))

	resumed := load.waitResumed(t, 20*time.Second, "a 2xx answer after the broker came back",
		func(smp e2eSample) bool { return smp.start.After(stopped) && smp.end.After(up) })
	t.Logf("service resumed %s after the broker was up", resumed.Sub(up).Round(time.Millisecond))
	if d := resumed.Sub(up); d > 10*time.Second {
		t.Errorf("service resumed %s after the broker was up, want within 10 s", d)
	}
	// then steady again: wait until every component is back, then count a clean stretch
	e2eWaitReconnected(t, s)
	steady := len(load.snapshot())
	load.waitOK(t, 100, 20*time.Second)
	c := load.stopAndCount(t)
	c.requireAnswered(t)
	for code := range c.byStatus {
		if code/100 != 2 && code != http.StatusServiceUnavailable && code != http.StatusGatewayTimeout {
			t.Errorf("%d answers %d; during a broker restart only 503 and 504 are expected", c.byStatus[code], code)
		}
	}
	after := e2eCount(load.snapshot()[steady:])
	t.Logf("after everything reconnected: %s", after)
	after.requireAllOK(t)

	e2eRequireHealthy(t, s)
	if now := e2eWorkerPIDs(t, s); !maps.Equal(now, pids) {
		t.Errorf("nginx workers %v after the restart, %v before: a worker was restarted", now, pids)
	}
	testenv.WaitFor(t, 3*e2eHeartbeat+5*time.Second, "the Tron knowing 2 runners and 2 frontends again", func() bool {
		r, err1 := s.NodeCount("runner")
		f, err2 := s.NodeCount("frontend")
		return err1 == nil && err2 == nil && r == 2 && f == 2
	})
}

// e2eTestTronKill: kill -9 of the Tron under load. Traffic goes on without a single failure
// while it is down (the data path does not need it); started again on its data, it has every
// bundle and enabled route, the runners and frontends are back in its membership, and a
// bundle enabled after the restart is served through every nginx worker.
func e2eTestTronKill(t *testing.T, env *e2eEnv) {
	s, _ := e2eFaultStack(t, env)
	s.deploy(t, env.sample("hello-sh"), e2eProps)
	knownBefore := s.known(t)
	var routesBefore []e2eRoute
	s.api(t, "GET", "/api/v1/routes", nil, &routesBefore)

	goLoad := e2eGreetLoad(t, s, "tron-kill /hello", 3, "/hello")
	shLoad := e2eGreetLoad(t, s, "tron-kill /sh", 1, "/sh")
	goLoad.waitOK(t, 30, 20*time.Second)

	s.Tron.Kill()
	killed := time.Now()
	outage := 3*e2eHeartbeat + time.Second // longer than the Tron's own drop period
	testenv.WaitFor(t, outage+10*time.Second, "requests sent over the whole outage", func() bool {
		snap := goLoad.snapshot()
		return len(snap) > 0 && snap[len(snap)-1].start.Sub(killed) > outage
	})
	if err := s.StartTron(); err != nil {
		t.Fatalf("starting the Tron again: %v", err)
	}
	restarted := time.Now()
	t.Logf("the Tron was down for %s", restarted.Sub(killed).Round(time.Millisecond))

	for _, l := range []*e2eLoad{goLoad, shLoad} {
		var during []e2eSample
		for _, smp := range l.snapshot() {
			if smp.end.After(killed) && smp.start.Before(restarted) {
				during = append(during, smp)
			}
		}
		c := e2eCount(during)
		t.Logf("load %s while the Tron was down: %s", l.name, c)
		c.requireAllOK(t)
	}

	knownAfter := s.known(t)
	if len(knownAfter) != len(knownBefore) {
		t.Errorf("known_funcs: %d bundles after the restart, %d before", len(knownAfter), len(knownBefore))
	}
	for sha, b := range knownBefore {
		if knownAfter[sha] != b {
			t.Errorf("known_funcs %s: %+v after the restart, %+v before", sha[:12], knownAfter[sha], b)
		}
	}
	var routesAfter []e2eRoute
	s.api(t, "GET", "/api/v1/routes", nil, &routesAfter)
	if !slices.Equal(persisted(routesAfter), persisted(routesBefore)) {
		t.Errorf("routes after the restart %+v, before %+v", routesAfter, routesBefore)
	}
	testenv.WaitFor(t, 3*e2eHeartbeat+5*time.Second, "the Tron knowing 2 runners and 2 frontends again", func() bool {
		r, err1 := s.NodeCount("runner")
		f, err2 := s.NodeCount("frontend")
		return err1 == nil && err2 == nil && r == 2 && f == 2
	})
	// the new Tron drives the nodes: a bundle enabled now reaches every worker and serves
	s.deploy(t, env.sample("hello-py"), e2eProps)
	e2eWant(t, "a bundle enabled after the restart", s.get(t, "/py/greet/x"), 200, e2eGreeting("Howdy", "x"))

	goLoad.waitOK(t, 30, 20*time.Second)
	for _, l := range []*e2eLoad{goLoad, shLoad} {
		l.stopAndCount(t).requireAllOK(t)
	}
	e2eRequireHealthy(t, s)
}

// e2eTestNoRunner: with the route's only runner killed (kill -9), requests get 503 "no
// runner serves /hello right now" with Retry-After at once, not a 504 after the whole
// timeout that blames the function (frontend.md "No runner, no wait"): the Tron sees the
// route queue's consumer count drop to 0 and says so in the route entry. Started again,
// the runner serves the route again.
func e2eTestNoRunner(t *testing.T, env *e2eEnv) {
	s := e2eStart(t, env, e2eStackOptions{runners: 1, workers: 2})
	sha := s.deploy(t, env.sample("hello-go"), e2eProps)
	s.waitRunnersServing(t, s.queueOf(t, sha), 1)
	e2eWant(t, "before the kill", s.get(t, "/hello/greet/a"), 200, e2eGreeting("Howdy", "a"))

	s.Runners[0].Kill()
	killed := time.Now()
	s.waitFrontends(t, 5*time.Second, "the route entry to say no runner serves it", func(rs []e2eRoute) bool {
		return len(rs) == 1 && rs[0].Runners != nil && *rs[0].Runners == 0
	})
	t.Logf("every frontend knew %s after the kill", time.Since(killed).Round(time.Millisecond))
	for i := range 10 {
		r := s.get(t, fmt.Sprintf("/hello/greet/n%d", i))
		e2eWantError(t, "no runner", r, 503, "no runner serves /hello right now")
		if r.header.Get("Retry-After") == "" || r.took > time.Second {
			t.Errorf("503 without Retry-After or slow: %v, took %s", r.header, r.took)
		}
	}

	if err := s.Runners[0].Start(); err != nil {
		t.Fatal(err)
	}
	s.waitFrontends(t, 30*time.Second, "the route to be served again", func(rs []e2eRoute) bool {
		return len(rs) == 1 && (rs[0].Runners == nil || *rs[0].Runners > 0)
	})
	e2eWant(t, "after the restart", s.get(t, "/hello/greet/b"), 200, e2eGreeting("Howdy", "b"))
}

// e2eTestFailedEnable: a new version whose process exits at start does not deploy: enable
// with replace answers 422 naming each runner's error with the bundle's stderr, the new
// version is not enabled, and the version that was serving keeps serving (spec/tron-api.md
// "A failed enable fails").
func e2eTestFailedEnable(t *testing.T, s *e2eStack, env *e2eEnv) {
	onHost := e2eReplace("basePath: /hello\n", "host: failing.example\nbasePath: /hello\n")
	good := s.deploy(t, e2eVariant(t, env.sample("hello-go"), onHost, nil), map[string]any{"greeting": "Good"})
	crash := e2eVariant(t, env.sample("hello-go"), func(m string) string {
		return e2eReplace(`command: ["bin/hello"]`, `command: [sh, -c, "echo cannot bind port 80 >&2; exit 3"]`,
			"start-timeout: 10s", "start-timeout: 3s")(onHost(m))
	}, nil)
	sha, err := s.Upload(crash)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Success *bool             `json:"success"`
		Error   string            `json:"error"`
		Runners map[string]string `json:"runners"`
	}
	body, _ := json.Marshal(map[string]any{"sha": sha, "replace": true})
	status := s.api(t, "POST", "/api/v1/enable", body, &res)
	if status != 422 || res.Success == nil || *res.Success || len(res.Runners) != len(s.Runners) {
		t.Fatalf("enable of a bundle that exits at start = %d %+v, want 422 with every runner's error", status, res)
	}
	for id, e := range res.Runners {
		if !strings.Contains(e, "cannot bind port 80") {
			t.Errorf("runner %s's error %q lacks the bundle's stderr", id, e)
		}
	}
	var known struct {
		Bundles []struct {
			SHA     string `json:"sha"`
			Enabled bool   `json:"enabled"`
		} `json:"func-bundles"`
	}
	s.api(t, "GET", "/api/v1/known_funcs", nil, &known)
	for _, b := range known.Bundles {
		if b.SHA == sha && b.Enabled || b.SHA == good && !b.Enabled {
			t.Errorf("after the failed replace: %s enabled %v", b.SHA[:12], b.Enabled)
		}
	}
	for i := range 5 {
		name := fmt.Sprintf("f%d", i)
		r := s.front(t, "GET", "/hello/greet/"+name, "failing.example", nil, nil)
		e2eWant(t, "the serving version after the failed replace", r, 200, e2eGreeting("Good", name))
	}
	if err := s.Disable(good); err != nil {
		t.Fatal(err)
	}
}

// persisted is routes without what the Tron learns live (runner counts and health, from
// counting and heartbeats): the part a restart must keep. Runners is a pointer, so routes
// with counts never compare equal as they are (the TronKill test failed whenever the count
// of one route had come before the snapshot).
func persisted(routes []e2eRoute) []e2eRoute {
	out := make([]e2eRoute, len(routes))
	for i, r := range routes {
		r.Runners, r.Status = nil, ""
		out[i] = r
	}
	return out
}
