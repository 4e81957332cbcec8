package integration

// Functional end-to-end tests on the shared stack (TestE2E/Shared): bundles uploaded and
// enabled at the Tron, requests through nginx, answers from the bundles run by the runners.

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"github.com/funcatron/funcatron/internal/testenv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// e2eGreeting is the body the samples answer GET B/greet/{name} with.
func e2eGreeting(greeting, name string) string {
	return fmt.Sprintf(`{"greeting":"%s, %s!","operation":"greet"}`+"\n", greeting, name)
}

// e2eWant fails the test unless r has status and, when body is not empty, exactly that body.
func e2eWant(t *testing.T, what string, r e2eResp, status int, body string) {
	t.Helper()
	if r.status != status || (body != "" && string(r.body) != body) {
		t.Errorf("%s: got %s, want %d %q", what, r, status, body)
	}
}

// e2eWantError fails the test unless r is status with a JSON {"error"} containing text.
func e2eWantError(t *testing.T, what string, r e2eResp, status int, text string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if r.status != status || json.Unmarshal(r.body, &e) != nil || !strings.Contains(e.Error, text) {
		t.Errorf("%s: got %s, want %d with a JSON error containing %q", what, r, status, text)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
}

// e2eSpooled is what nginx logs (warn) when it writes a request body to a temporary file.
const e2eSpooled = "a client request body is buffered to a temporary file"

// e2eTestSamples: each sample bundle, uploaded and enabled with props, answers through nginx
// with the right status, headers (both Set-Cookie) and body; POST bodies round-trip, also
// 1 MiB (nginx spools it to disk); the props and nothing of the runner's environment reach
// the bundle; the runner answers 404 / 405 for what the manifest does not have.
func e2eTestSamples(t *testing.T, s *e2eStack, shas map[string]string) {
	big := make([]byte, 1<<20)
	rand.Read(big)
	for _, smp := range e2eSamples {
		t.Run(smp.name, func(t *testing.T) {
			b := smp.base
			r := s.get(t, b+"/greet/bob")
			e2eWant(t, "greet", r, 200, e2eGreeting("Howdy", "bob"))
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("greet: Content-Type %q, want application/json", ct)
			}
			if c := r.header.Values("Set-Cookie"); !slices.Equal(c, []string{"a=1; Path=/", "b=2; Path=/"}) {
				t.Errorf("greet: Set-Cookie %q, want both cookies as two headers", c)
			}

			r = s.get(t, b+"/args?a=1&a=2&b=x%20y")
			want := `{"args":{"a":["1","2"],"b":["x y"]},"query":"a=1&a=2&b=x%20y"}` + "\n"
			if smp.name == "hello-sh" {
				want = `{"query":"a=1&a=2&b=x%20y"}` + "\n"
			}
			e2eWant(t, "args", r, 200, want)

			for _, body := range [][]byte{[]byte("hi there"), big} {
				ct := "text/plain; charset=utf-8"
				if len(body) > 100 {
					ct = "application/octet-stream"
				}
				spooled := strings.Count(s.Nginx.ErrorLog(), e2eSpooled)
				r = s.front(t, "POST", b+"/echo", "", body, http.Header{"Content-Type": {ct}})
				if len(body) == len(big) && strings.Count(s.Nginx.ErrorLog(), e2eSpooled) != spooled+1 {
					t.Errorf("echo of 1 MiB: nginx did not log that it spooled the body to a file (%q)", e2eSpooled)
				}
				if r.status != 200 || !bytes.Equal(r.body, body) {
					t.Errorf("echo of %d bytes: got %d with %d bytes (equal: %v)", len(body), r.status, len(r.body), bytes.Equal(r.body, body))
				}
				if got := r.header.Get("Content-Type"); got != ct {
					t.Errorf("echo of %d bytes: Content-Type %q, want %q", len(body), got, ct)
				}
				if got := r.header.Get("X-Echo-Length"); got != strconv.Itoa(len(body)) {
					t.Errorf("echo of %d bytes: X-Echo-Length %q", len(body), got)
				}
			}

			r = s.get(t, b+"/env")
			env := strings.Split(string(r.body), "\n")
			for _, line := range []string{
				"HELLO_SAMPLE=" + smp.name,
				"FUNCATRON_BUNDLE=" + shas[smp.name],
				`FUNCATRON_PROPS={"greeting":"Howdy"}`,
			} {
				if r.status != 200 || !slices.Contains(env, line) {
					t.Errorf("env: no line %q in %s", line, r)
				}
			}
			for _, line := range env {
				// the runner's own environment is PATH, HOME and LANG (internal/stack)
				if strings.HasPrefix(line, "LANG=") {
					t.Errorf("env: the runner's %q leaked into the bundle", line)
				}
			}

			e2eWantError(t, "unknown path", s.get(t, b+"/nope"), 404, "no operation for GET")
			r = s.front(t, "DELETE", b+"/greet/bob", "", nil, nil)
			e2eWantError(t, "wrong method", r, 405, "not allowed")
			if allow := r.header.Get("Allow"); allow != "GET" {
				t.Errorf("wrong method: Allow %q, want GET", allow)
			}
		})
	}
}

// e2eOpenAPIBase is a manifest edit of hello-sh (OpenAPI 3, servers[0].url /sh) giving it
// another server URL: host and base path, or a base path only.
func e2eOpenAPIBase(url string) func(string) string {
	return e2eReplace("  - url: /sh\n", "  - url: "+url+"\n")
}

// e2eTestHostsAndBasePaths: bundles with different hosts and base paths coexist, each
// reached only with its own Host; two hosts can have the same base path.
func e2eTestHostsAndBasePaths(t *testing.T, s *e2eStack, env *e2eEnv) {
	sh := env.sample("hello-sh")
	for _, b := range []struct{ url, greeting string }{
		{"https://a.example/alpha", "Alpha"},
		{"https://b.example/beta", "Beta"},
		{"https://a.example/both", "BothA"},
		{"https://b.example/both", "BothB"},
	} {
		s.deploy(t, e2eVariant(t, sh, e2eOpenAPIBase(b.url), nil), map[string]any{"greeting": b.greeting})
	}
	for _, c := range []struct{ host, path, greeting string }{
		{"a.example", "/alpha", "Alpha"},
		{"A.Example:8080", "/alpha", "Alpha"}, // host without port, any case
		{"b.example", "/beta", "Beta"},
		{"a.example", "/both", "BothA"},
		{"b.example", "/both", "BothB"},
		{"a.example", "/hello", "Howdy"}, // a sample without host serves every host
		{"c.example", "/sh", "Howdy"},
	} {
		r := s.front(t, "GET", c.path+"/greet/x", c.host, nil, nil)
		e2eWant(t, "Host "+c.host+" "+c.path, r, 200, e2eGreeting(c.greeting, "x"))
	}
	for _, c := range []struct{ host, path string }{
		{"b.example", "/alpha"}, {"c.example", "/alpha"}, {"a.example", "/beta"}, {"c.example", "/both"},
	} {
		r := s.front(t, "GET", c.path+"/greet/x", c.host, nil, nil)
		e2eWantError(t, "Host "+c.host+" "+c.path, r, 404, "no function serves "+c.host+c.path+"/greet/x")
	}
}

// e2eTestLongestBasePath: /sh/deep wins over /sh for its URIs even when /sh was enabled
// more recently; the boundary is a whole segment (/sh/deeper goes to /sh); once /sh/deep is
// disabled, /sh gets its URIs.
func e2eTestLongestBasePath(t *testing.T, s *e2eStack, env *e2eEnv, shas map[string]string) {
	deep := s.deploy(t, e2eVariant(t, env.sample("hello-sh"), e2eOpenAPIBase("/sh/deep"), nil), map[string]any{"greeting": "Deep"})
	// re-enabling /sh makes it the most recent enable: order must not matter, length does
	s.enable(t, shas["hello-sh"], e2eProps, false)
	var routes []e2eRoute
	s.api(t, "GET", "/api/v1/routes", nil, &routes)
	if i, j := e2eRouteIndex(routes, deep), e2eRouteIndex(routes, shas["hello-sh"]); i < 0 || j < 0 || i > j {
		t.Errorf("Tron route table: /sh/deep at %d, /sh at %d, want the longer first: %+v", i, j, routes)
	}

	e2eWant(t, "/sh/deep", s.get(t, "/sh/deep/greet/x"), 200, e2eGreeting("Deep", "x"))
	e2eWant(t, "/sh", s.get(t, "/sh/greet/x"), 200, e2eGreeting("Howdy", "x"))
	// /sh/deeper is not under /sh/deep: /sh's bundle gets it and has no such operation
	e2eWantError(t, "/sh/deeper", s.get(t, "/sh/deeper/greet/x"), 404, "no operation for GET")

	if err := s.Disable(deep); err != nil {
		t.Fatal(err)
	}
	s.waitFrontends(t, 5*time.Second, "/sh/deep gone from every worker", func(rs []e2eRoute) bool { return !e2eHasSHA(rs, deep) })
	e2eWantError(t, "/sh/deep after its disable", s.get(t, "/sh/deep/greet/x"), 404, "no operation for GET")
}

func e2eRouteIndex(rs []e2eRoute, sha string) int {
	return slices.IndexFunc(rs, func(r e2eRoute) bool { return r.SHA == sha })
}

// e2eKnown is one bundle of GET /api/v1/known_funcs.
type e2eKnown struct {
	SHA     string `json:"sha"`
	Host    string `json:"host"`
	Path    string `json:"path"`
	Type    string `json:"type"`
	Enabled bool   `json:"enabled"`
}

func (s *e2eStack) known(t *testing.T) map[string]e2eKnown {
	t.Helper()
	var res struct {
		Bundles []e2eKnown `json:"func-bundles"`
	}
	if st := s.api(t, "GET", "/api/v1/known_funcs", nil, &res); st != 200 {
		t.Fatalf("known_funcs: %d", st)
	}
	out := map[string]e2eKnown{}
	for _, b := range res.Bundles {
		out[b.SHA] = b
	}
	return out
}

// e2eTestDisableReenable: a disable takes the route off every nginx worker within a second
// of the call returning (after which nginx answers 404); enabling it again serves again,
// with the new props.
func e2eTestDisableReenable(t *testing.T, s *e2eStack, env *e2eEnv) {
	sha := s.deploy(t, e2eVariant(t, env.sample("hello-sh"), e2eOpenAPIBase("/gone"), nil), map[string]any{"greeting": "Here"})
	e2eWant(t, "before the disable", s.get(t, "/gone/greet/x"), 200, e2eGreeting("Here", "x"))

	if err := s.Disable(sha); err != nil {
		t.Fatal(err)
	}
	returned := time.Now()
	gone := s.frontendsWithin(t, 5*time.Second, "the route gone from every worker", func(rs []e2eRoute) bool { return !e2eHasSHA(rs, sha) })
	for id, at := range gone {
		t.Logf("worker %s: route gone %s after the disable call returned", id, at.Sub(returned).Round(time.Millisecond))
		if d := at.Sub(returned); d > time.Second {
			t.Errorf("worker %s still had the route %s after the disable call returned, want < 1 s", id, d)
		}
	}
	// and nginx says so: requests on new connections (all workers) answer 404
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			r, err := e2eDo(s.fresh, "GET", s.FrontURL()+"/gone/greet/x", "", nil, nil)
			if err != nil {
				t.Errorf("after the disable: %v", err)
				return
			}
			e2eWantError(t, "after the disable", r, 404, "no function serves")
		})
	}
	wg.Wait()
	if d := time.Since(returned); d > time.Second {
		t.Errorf("404 at every worker only %s after the disable call returned, want < 1 s", d)
	} else {
		t.Logf("404 at every worker %s after the disable call returned", d.Round(time.Millisecond))
	}
	if k := s.known(t)[sha]; k.SHA == "" || k.Enabled {
		t.Errorf("known_funcs after the disable: %+v, want it there and not enabled", k)
	}

	s.enable(t, sha, map[string]any{"greeting": "Back"}, false)
	e2eWant(t, "after re-enabling", s.get(t, "/gone/greet/x"), 200, e2eGreeting("Back", "x"))
	if k := s.known(t)[sha]; !k.Enabled {
		t.Errorf("known_funcs after re-enabling: %+v, want enabled", k)
	}
}

// e2eTestNewVersionSwap: a new version of a bundle on the same route, enabled with
// replace:true, takes over while 4 clients keep asking, and not one request fails.
func e2eTestNewVersionSwap(t *testing.T, s *e2eStack, env *e2eEnv) {
	hostAt := e2eReplace("basePath: /hello\n", "host: swap.example\nbasePath: /hello\n")
	v1 := s.deploy(t, e2eVariant(t, env.sample("hello-go"), hostAt, map[string]string{"VERSION": "1"}), map[string]any{"greeting": "One"})
	v2, err := s.Upload(e2eVariant(t, env.sample("hello-go"), hostAt, map[string]string{"VERSION": "2"}))
	if err != nil {
		t.Fatal(err)
	}
	one, two := e2eGreeting("One", "x"), e2eGreeting("Two", "x")
	load := e2eStartLoad(t, "swap", e2eLoadSpec{
		clients: 4, url: s.FrontURL() + "/hello/greet/x", host: "swap.example",
		check: func(b []byte) error {
			if string(b) != one && string(b) != two {
				return fmt.Errorf("body %q", b)
			}
			return nil
		},
	})
	load.waitOK(t, 100, 20*time.Second)
	start := time.Now()
	s.enable(t, v2, map[string]any{"greeting": "Two"}, true)
	t.Logf("swap: enable with replace returned and every worker routes to v2 after %s", time.Since(start).Round(time.Millisecond))
	s.waitFrontends(t, 5*time.Second, "v1 gone from every worker", func(rs []e2eRoute) bool { return !e2eHasSHA(rs, v1) })
	load.waitOK(t, 200, 20*time.Second)
	c := load.stopAndCount(t)
	c.requireAllOK(t)

	samples := load.snapshot()
	ones, twos := 0, 0
	for _, smp := range samples {
		switch string(smp.body) {
		case one:
			ones++
		case two:
			twos++
		}
	}
	t.Logf("swap: %d answers from v1, %d from v2", ones, twos)
	if ones == 0 || twos == 0 {
		t.Errorf("answers: %d from v1, %d from v2; want both", ones, twos)
	}
	for _, smp := range samples[len(samples)-20:] {
		if string(smp.body) != two {
			t.Errorf("an answer after the swap came from v1: %q", smp.body)
		}
	}
	k := s.known(t)
	if k[v1].Enabled || !k[v2].Enabled {
		t.Errorf("known_funcs: v1 enabled %v, v2 enabled %v; want only v2", k[v1].Enabled, k[v2].Enabled)
	}
}

// e2eStatsView is GET /api/v1/stats.
type e2eStatsView struct {
	Network map[string]struct {
		Type       string     `json:"type"`
		InstanceID string     `json:"instance-id"`
		Routes     []e2eRoute `json:"routes"`
	} `json:"network"`
	RouteMap []e2eRoute `json:"route-map"`
}

func (s *e2eStack) stats(t *testing.T) e2eStatsView {
	t.Helper()
	var v e2eStatsView
	if st := s.api(t, "GET", "/api/v1/stats", nil, &v); st != 200 {
		t.Fatalf("stats: %d", st)
	}
	return v
}

// queueOf is the route queue of an enabled sha, from the Tron's route table.
func (s *e2eStack) queueOf(t *testing.T, sha string) string {
	t.Helper()
	var routes []e2eRoute
	s.api(t, "GET", "/api/v1/routes", nil, &routes)
	if i := e2eRouteIndex(routes, sha); i >= 0 {
		return routes[i].Queue
	}
	t.Fatalf("%s is not in the Tron's route table %+v", sha, routes)
	return ""
}

// waitRunnersServing waits until n runners report route queue q in their heartbeats.
func (s *e2eStack) waitRunnersServing(t *testing.T, q string, n int) {
	t.Helper()
	start := time.Now()
	testenv.WaitFor(t, 5*e2eHeartbeat+5*time.Second, fmt.Sprintf("%d runners reporting %s in their heartbeats", n, q), func() bool {
		serving := 0
		for _, node := range s.stats(t).Network {
			if node.Type == "runner" && slices.ContainsFunc(node.Routes, func(r e2eRoute) bool { return r.Queue == q }) {
				serving++
			}
		}
		return serving == n
	})
	t.Logf("%d runners serve %s (%s after asking)", n, q, time.Since(start).Round(time.Millisecond))
}

// e2eTestTwoRunners: both runners consume /hello's route queue, and both get work.
func e2eTestTwoRunners(t *testing.T, s *e2eStack) {
	var routes []e2eRoute
	s.api(t, "GET", "/api/v1/routes", nil, &routes)
	i := slices.IndexFunc(routes, func(r e2eRoute) bool { return r.Path == "/hello" && r.Host == "" })
	if i < 0 {
		t.Fatalf("no /hello route for any host at the Tron: %+v", routes)
	}
	q := routes[i].Queue
	s.waitRunnersServing(t, q, 2)
	served := func() []float64 {
		var out []float64
		for _, r := range s.Runners {
			out = append(out, e2eMetric(t, e2eRunnerURL(t, r)+"/metrics", "funcatron_runner_requests_total", map[string]string{"queue": q}))
		}
		return out
	}
	before := served()
	const n = 40
	for i := range n {
		e2eWant(t, "greet", s.get(t, fmt.Sprintf("/hello/greet/r%d", i)), 200, e2eGreeting("Howdy", fmt.Sprintf("r%d", i)))
	}
	// A runner counts a request once its answer is out, so the last count may trail the
	// client's last answer by a moment: wait for the counts to add up.
	var after []float64
	sum := func() (total float64) {
		for i := range after {
			total += after[i] - before[i]
		}
		return total
	}
	testenv.Poll(5*time.Second, func() bool { after = served(); return sum() >= n })
	for i := range after {
		d := after[i] - before[i]
		t.Logf("runner %d served %.0f of %d requests", i, d, n)
		if d == 0 {
			t.Errorf("runner %d served none of %d requests", i, n)
		}
	}
	total := sum()
	if total != n {
		t.Errorf("the runners served %.0f requests, want %d", total, n)
	}
}

// e2eTestTwoWorkers: each nginx worker is its own frontend node at the Tron, with its own
// inbox and instance id <INSTANCEID>-<worker>.
func e2eTestTwoWorkers(t *testing.T, s *e2eStack) {
	inboxes := map[string]string{} // instance id → inbox, as the Tron knows them
	for inbox, node := range s.stats(t).Network {
		if node.Type == "frontend" {
			inboxes[node.InstanceID] = inbox
		}
	}
	id := fmt.Sprintf("test-%d", s.Nginx.Port) // internal/testenv's default INSTANCEID
	if len(inboxes) != 2 || inboxes[id+"-0"] == "" || inboxes[id+"-1"] == "" || inboxes[id+"-0"] == inboxes[id+"-1"] {
		t.Fatalf("frontends at the Tron: %v, want %s-0 and %s-1 with an inbox each", inboxes, id, id)
	}
	for nodeID, v := range s.workerViews(t, "health") {
		if !v.Connected || v.Inbox != inboxes[nodeID] || !strings.HasPrefix(v.Inbox, "FRNT") {
			t.Errorf("worker %s: connected %v, inbox %q; the Tron has %q", nodeID, v.Connected, v.Inbox, inboxes[nodeID])
		}
	}
	// and both get work and their answers: slow requests on new connections, until both
	// workers were seen with requests waiting on their inbox (the kernel spreads connections
	// over the workers, not evenly: a round may land on one only)
	waiting := map[string]int{}
	for round := 0; round < 6 && len(waiting) < 2; round++ {
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				r, err := e2eDo(s.fresh, "GET", s.FrontURL()+"/hello/sleep?ms=1500", "", nil, nil)
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					return
				}
				e2eWant(t, "sleep", r, 200, `{"slept_ms":1500}`+"\n")
			})
		}
		testenv.Poll(time.Second, func() bool {
			for nodeID, v := range s.workerViews(t, "health") {
				if v.Waiting > 0 {
					waiting[nodeID] = max(waiting[nodeID], v.Waiting)
				}
			}
			return len(waiting) == 2
		})
		wg.Wait()
	}
	if len(waiting) != 2 {
		t.Errorf("workers seen with requests waiting for answers: %v, want both", waiting)
	}
	t.Logf("requests waiting on each worker's inbox: %v", waiting)
}
