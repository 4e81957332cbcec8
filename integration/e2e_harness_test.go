package integration

// The end-to-end harness: whole stacks (internal/stack: RabbitMQ, the Tron and runners as
// processes from their binaries, nginx with the repository's configuration) and what the
// e2e tests do with them: requests through nginx, the frontends' own view of their route
// tables, the runners' metrics, bundle variants, and a load generator that counts answers.
// Identifiers here start with e2e so they never collide with frontend_test.go's.

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/stack"
	"github.com/funcatron/funcatron/internal/testenv"
)

// e2eTimeout is the frontends' FUNCATRON_TIMEOUT in every e2e stack (seconds): short, so a
// lost request shows up as a 504 quickly.
const e2eTimeout = 5

// e2eQuick is how long an explicit 5xx may take to count as quick: the frontend's timeout
// plus a second.
const e2eQuick = (e2eTimeout + 1) * time.Second

// e2eClientTimeout is the clients' own limit: past the frontend's timeout plus a margin, so
// a request that hits it hung, and that is a failure.
const e2eClientTimeout = (e2eTimeout + 3) * time.Second

// e2eHeartbeat is the heartbeat period of the Tron, runners and frontends in e2e stacks: a
// lost node is dropped after three of them.
const e2eHeartbeat = time.Second

// e2eEnv holds what every stack needs, built once per TestE2E: the binaries and the
// sample bundles.
type e2eEnv struct {
	bin     string // tron, runner, funcatron
	bundles string // hello-go.zip, hello-py.zip, hello-sh.zip
}

// e2eBuild builds the binaries and the sample bundles into dir.
func e2eBuild(t *testing.T, dir string) *e2eEnv {
	t.Helper()
	env := &e2eEnv{bin: filepath.Join(dir, "bin"), bundles: filepath.Join(dir, "bundles")}
	start := time.Now()
	if err := stack.Build(env.bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(servers.RepoRoot(), "scripts", "build-samples.sh"), env.bundles)
	cmd.Dir = servers.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the sample bundles: %v\n%s", err, out)
	}
	t.Logf("binaries and sample bundles built in %s", time.Since(start).Round(time.Millisecond))
	return env
}

// sample is the path of a sample bundle zip ("hello-go", ...).
func (env *e2eEnv) sample(name string) string { return filepath.Join(env.bundles, name+".zip") }

// e2eStack is a running stack and the test-side clients to it.
type e2eStack struct {
	*stack.Stack
	workers int
	// http is for single requests; each call may reuse connections.
	http *http.Client
	// fresh never reuses a connection, so concurrent requests spread over nginx workers.
	fresh *http.Client
}

// e2eStackOptions are what e2e tests vary; the rest is fixed (short heartbeats and timeout).
type e2eStackOptions struct {
	runners, workers int
	tronArgs         []string
	redis            bool // a Redis too (s.Redis), for the zbus and gilmour kinds
	runnerArgs       []string
	nginxEnv         map[string]string
	brokerNodes      int // clustered RabbitMQ nodes (stack.Options.BrokerNodes); 0: one node
}

// e2eStart brings a stack up under a temp dir and stops it in t.Cleanup, showing the end of
// every server's log when the test failed.
func e2eStart(t *testing.T, env *e2eEnv, o e2eStackOptions) *e2eStack {
	t.Helper()
	hb := e2eHeartbeat.String()
	start := time.Now()
	s, err := stack.Start(stack.Options{
		Dir: t.TempDir(), BinDir: env.bin, Runners: o.runners, NginxWorkers: o.workers, Redis: o.redis,
		BrokerNodes: o.brokerNodes,
		TronArgs:    append([]string{"--heartbeat-period", hb}, o.tronArgs...),
		RunnerArgs:  append([]string{"--heartbeat-period", hb, "--stop-grace", "2s"}, o.runnerArgs...),
		NginxEnv:    e2eNginxEnv(o.nginxEnv),
	})
	if err != nil {
		t.Fatalf("starting the stack: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			e2eDumpLogs(t, s)
		}
		s.Close()
	})
	t.Logf("stack up in %s: tron %s, %d runners, nginx %s (%d workers)", time.Since(start).Round(time.Millisecond),
		s.TronURL, len(s.Runners), s.FrontURL(), max(o.workers, 1))
	return &e2eStack{
		Stack: s, workers: max(o.workers, 1),
		http:  &http.Client{Timeout: e2eClientTimeout},
		fresh: &http.Client{Timeout: e2eClientTimeout, Transport: &http.Transport{DisableKeepAlives: true}},
	}
}

// e2eNginxEnv is the frontends' environment of every e2e stack, plus more.
func e2eNginxEnv(more map[string]string) map[string]string {
	env := map[string]string{
		"FUNCATRON_TIMEOUT":   strconv.Itoa(e2eTimeout),
		"FUNCATRON_HEARTBEAT": strconv.FormatFloat(e2eHeartbeat.Seconds(), 'f', -1, 64),
	}
	maps.Copy(env, more)
	return env
}

// e2eDumpLogs logs the end of each server's log.
func e2eDumpLogs(t *testing.T, s *stack.Stack) {
	logs := []string{s.Tron.LogPath}
	for _, r := range s.Runners {
		logs = append(logs, r.LogPath)
	}
	if s.Nginx != nil {
		logs = append(logs, s.Nginx.ErrorLogPath())
	}
	if s.Rabbit != nil {
		rl, _ := filepath.Glob(filepath.Join(s.Rabbit.Dir, "log", "*.log"))
		logs = append(logs, rl...)
	}
	for _, p := range logs {
		b, _ := os.ReadFile(p)
		if len(b) > 5000 {
			b = b[len(b)-5000:]
		}
		t.Logf("--- end of %s ---\n%s", p, b)
	}
}

// e2eResp is an answer read in full.
type e2eResp struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
}

func (r e2eResp) String() string {
	b := r.body
	if len(b) > 300 {
		b = b[:300]
	}
	return fmt.Sprintf("%d %q", r.status, b)
}

// e2eDo sends a request with client c; host, when set, is the Host header. A transport
// error is returned, not fatal, so load loops can count it.
func e2eDo(c *http.Client, method, url, host string, body []byte, header http.Header) (e2eResp, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return e2eResp{}, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if host != "" {
		req.Host = host
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return e2eResp{took: time.Since(start)}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return e2eResp{status: resp.StatusCode, header: resp.Header, body: b, took: time.Since(start)}, err
}

// front sends one request through nginx; a transport error fails the test.
func (s *e2eStack) front(t *testing.T, method, path, host string, body []byte, header http.Header) e2eResp {
	t.Helper()
	r, err := e2eDo(s.http, method, s.FrontURL()+path, host, body, header)
	if err != nil {
		t.Fatalf("%s %s (Host %q) through nginx: %v", method, path, host, err)
	}
	return r
}

// get is front for a GET with any host.
func (s *e2eStack) get(t *testing.T, path string) e2eResp {
	t.Helper()
	return s.front(t, "GET", path, "", nil, nil)
}

// api calls the Tron's admin API; a transport error fails the test.
func (s *e2eStack) api(t *testing.T, method, path string, body []byte, out any) int {
	t.Helper()
	status, err := s.API(method, path, body, out)
	if err != nil {
		t.Fatalf("%s %s at the Tron: %v", method, path, err)
	}
	return status
}

// deploy uploads and enables a bundle file and waits until every nginx worker routes to it.
// It returns the sha.
func (s *e2eStack) deploy(t *testing.T, path string, props map[string]any) string {
	t.Helper()
	sha, err := s.Upload(path)
	if err != nil {
		t.Fatal(err)
	}
	s.enable(t, sha, props, false)
	return sha
}

// enable enables an uploaded bundle and waits until every nginx worker routes to it.
func (s *e2eStack) enable(t *testing.T, sha string, props map[string]any, replace bool) {
	t.Helper()
	if err := s.Enable(sha, props, replace); err != nil {
		t.Fatal(err)
	}
	s.waitFrontends(t, 5*time.Second, "route of "+sha[:12]+" at every nginx worker", func(rs []e2eRoute) bool {
		return e2eHasSHA(rs, sha)
	})
}

// e2eRoute is one entry of a frontend worker's /__funcatron/routes.
type e2eRoute struct {
	Host  string `json:"host"`
	Path  string `json:"path"`
	Queue string `json:"queue"`
	SHA   string `json:"sha"`
	// Status is a runner's health of the bundle serving the route (heartbeats only).
	Status string `json:"status,omitempty"`
	// Runners is how many runners consume the route's queue, when the Tron knows.
	Runners *int `json:"runners,omitempty"`
}

func e2eHasSHA(rs []e2eRoute, sha string) bool {
	return slices.ContainsFunc(rs, func(r e2eRoute) bool { return r.SHA == sha })
}

// e2eWorkerView is what one nginx worker says about itself.
type e2eWorkerView struct {
	NodeID string          `json:"node-id"`
	Table  bool            `json:"route-table"`
	Raw    json.RawMessage `json:"routes"` // /routes: the table; /health: its length
	Routes []e2eRoute      `json:"-"`
	// from /__funcatron/health
	Inbox     string `json:"inbox"`
	PID       int    `json:"pid"`
	Connected bool   `json:"connected"`
	Waiting   int    `json:"waiting"`
	Sessions  int    `json:"sessions"` // listener connections so far: a reconnect adds one
	// messages published to route queues and the records in them (records framing)
	Published struct{ Messages, Records int } `json:"published"`
}

// workerViews asks /__funcatron/<what> ("routes" or "health") on new connections, eight at a
// time, until every nginx worker answered once; it returns the answers by node id. A worker
// answers /health with 503 while its listener is not connected: that answer counts too.
func (s *e2eStack) workerViews(t *testing.T, what string) map[string]e2eWorkerView {
	t.Helper()
	views := map[string]e2eWorkerView{}
	deadline := time.Now().Add(10 * time.Second)
	for len(views) < s.workers {
		if time.Now().After(deadline) {
			t.Fatalf("/__funcatron/%s: heard from %d of %d nginx workers in 10 s", what, len(views), s.workers)
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				r, err := e2eDo(s.fresh, "GET", s.FrontURL()+"/__funcatron/"+what, "", nil, nil)
				var v e2eWorkerView
				if err != nil || json.Unmarshal(r.body, &v) != nil || v.NodeID == "" {
					return
				}
				if what == "routes" && json.Unmarshal(v.Raw, &v.Routes) != nil {
					return
				}
				mu.Lock()
				views[v.NodeID] = v
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	return views
}

// waitFrontends polls every nginx worker's route table until cond holds for each.
func (s *e2eStack) waitFrontends(t *testing.T, within time.Duration, what string, cond func([]e2eRoute) bool) {
	t.Helper()
	s.frontendsWithin(t, within, what, cond)
}

// frontendsWithin is waitFrontends returning when each worker was first seen to satisfy
// cond (a worker's later answers must keep satisfying it).
func (s *e2eStack) frontendsWithin(t *testing.T, within time.Duration, what string, cond func([]e2eRoute) bool) map[string]time.Time {
	t.Helper()
	since := map[string]time.Time{}
	var views map[string]e2eWorkerView
	ok := testenv.Poll(within, func() bool {
		views = s.workerViews(t, "routes")
		now := time.Now()
		for id, v := range views {
			if !v.Table || !cond(v.Routes) {
				delete(since, id)
			} else if _, ok := since[id]; !ok {
				since[id] = now
			}
		}
		return len(since) == s.workers
	})
	if !ok {
		t.Fatalf("timed out after %s waiting for %s; worker tables: %+v", within, what, views)
	}
	return since
}

// runnerURL is the base URL of a runner's /healthz and /metrics.
func e2eRunnerURL(t *testing.T, p *stack.Proc) string {
	t.Helper()
	if i := slices.Index(p.Args, "--listen"); i >= 0 && i+1 < len(p.Args) {
		return "http://" + p.Args[i+1]
	}
	t.Fatalf("%s has no --listen argument: %v", p.Name, p.Args)
	return ""
}

// e2eMetric scrapes a Prometheus endpoint and sums the series of name whose labels include
// every one in want.
func e2eMetric(t *testing.T, url, name string, want map[string]string) float64 {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		labels := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		}
		if !strings.HasPrefix(rest, " ") {
			continue // a longer metric name
		}
		if !e2eLabelsMatch(labels, want) {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err != nil {
			t.Fatalf("%s: bad sample %q", url, line)
		}
		sum += v
	}
	return sum
}

func e2eLabelsMatch(labels string, want map[string]string) bool {
	for k, v := range want {
		if !strings.Contains(labels, k+`="`+v+`"`) {
			return false
		}
	}
	return true
}

// e2eVariant makes a new bundle from the bundle zip src: edit rewrites the manifest's text,
// extra adds files. The other entries are copied as they are, still compressed: deflating
// hello-go's binary again in this -race test binary would take seconds.
func e2eVariant(t *testing.T, src string, edit func(manifest string) string, extra map[string]string) string {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := filepath.Join(t.TempDir(), "variant.zip")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	edited := false
	for _, e := range zr.File {
		if edit != nil && strings.HasPrefix(e.Name, "funcatron.") && !strings.Contains(e.Name, "/") {
			rc, err := e.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			m := edit(string(b))
			if m == string(b) {
				t.Fatalf("the edit changed nothing in %s", e.Name)
			}
			e2eZipAdd(t, zw, e.Name, m, e.Mode())
			edited = true
			continue
		}
		w, err := zw.CreateRaw(&e.FileHeader)
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.OpenRaw()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, r); err != nil {
			t.Fatal(err)
		}
	}
	if edit != nil && !edited {
		t.Fatalf("%s has no manifest", src)
	}
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		e2eZipAdd(t, zw, name, extra[name], 0o644)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// e2eZipAdd adds a deflated file to zw.
func e2eZipAdd(t *testing.T, zw *zip.Writer, name, body string, mode os.FileMode) {
	t.Helper()
	h := &zip.FileHeader{Name: name, Method: zip.Deflate}
	h.SetMode(mode)
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = io.WriteString(w, body)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// e2eReplace returns a manifest edit replacing old by new (exactly once).
func e2eReplace(pairs ...string) func(string) string {
	return func(m string) string {
		for i := 0; i+1 < len(pairs); i += 2 {
			m = strings.Replace(m, pairs[i], pairs[i+1], 1)
		}
		return m
	}
}

// ---------------------------------------------------------------------------------------
// Load: a few clients looping requests, every answer counted.
// ---------------------------------------------------------------------------------------

// e2eSample is one request of a load run.
type e2eSample struct {
	start, end time.Time
	status     int    // 0: no answer (transport error or client timeout)
	err        string // transport error, or what check found wrong with a 2xx
	body       []byte
}

// e2eFailurePause is how long a load client pauses after a failed request.
const e2eFailurePause = 20 * time.Millisecond

// e2eLoad drives requests until stopped (or its own bound on time and count is reached).
type e2eLoad struct {
	name    string
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	samples []e2eSample
	once    sync.Once
}

// e2eLoadSpec says what a load run sends.
type e2eLoadSpec struct {
	clients int
	method  string
	url     string
	host    string
	// check judges a 2xx answer's body; nil accepts any.
	check func(body []byte) error
	// bounds, so a load never runs away: defaults 90 s and 50 000 requests
	maxTime  time.Duration
	maxCount int
}

// e2eStartLoad starts spec.clients clients, each looping one request after the other over
// its own keep-alive connection. It is stopped in t.Cleanup too, which logs its timeline if
// the test failed.
func e2eStartLoad(t *testing.T, name string, spec e2eLoadSpec) *e2eLoad {
	if spec.maxTime == 0 {
		spec.maxTime = 90 * time.Second
	}
	if spec.maxCount == 0 {
		spec.maxCount = 50000
	}
	if spec.method == "" {
		spec.method = "GET"
	}
	l := &e2eLoad{name: name, stop: make(chan struct{})}
	end := time.Now().Add(spec.maxTime)
	var count sync.Mutex
	n := 0
	for range spec.clients {
		c := &http.Client{Timeout: e2eClientTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		l.wg.Go(func() {
			defer c.CloseIdleConnections()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				count.Lock()
				n++
				over := n > spec.maxCount
				count.Unlock()
				if over || time.Now().After(end) {
					return
				}
				smp := l.one(c, spec)
				l.record(smp)
				if smp.status/100 != 2 {
					// as a real client would: no tight loop of failures while an outage lasts
					select {
					case <-l.stop:
					case <-time.After(e2eFailurePause):
					}
				}
			}
		})
	}
	t.Cleanup(func() {
		l.finish()
		if t.Failed() {
			t.Logf("load %s, timeline:\n%s", l.name, e2eTimeline(l.snapshot()))
		}
	})
	return l
}

func (l *e2eLoad) one(c *http.Client, spec e2eLoadSpec) e2eSample {
	s := e2eSample{start: time.Now()}
	r, err := e2eDo(c, spec.method, spec.url, spec.host, nil, nil)
	s.end = time.Now()
	if err != nil {
		s.err = err.Error()
		return s
	}
	s.status, s.body = r.status, r.body
	if r.status/100 == 2 && spec.check != nil {
		if err := spec.check(r.body); err != nil {
			s.err = err.Error()
		}
	}
	return s
}

func (l *e2eLoad) record(s e2eSample) {
	l.mu.Lock()
	l.samples = append(l.samples, s)
	l.mu.Unlock()
}

func (l *e2eLoad) finish() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// snapshot returns the samples so far.
func (l *e2eLoad) snapshot() []e2eSample {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.samples)
}

// waitOK waits until n more 2xx answers arrived than there were when it was called.
func (l *e2eLoad) waitOK(t *testing.T, n int, within time.Duration) {
	t.Helper()
	base := e2eCount(l.snapshot())
	testenv.WaitFor(t, within, fmt.Sprintf("%d more 2xx answers of %s", n, l.name), func() bool {
		return e2eCount(l.snapshot()).ok >= base.ok+n
	})
}

// waitResumed waits for the first 2xx answer to a request counts accepts (one sent after
// a fault began, say) and returns when that answer came: when service resumed.
func (l *e2eLoad) waitResumed(t *testing.T, within time.Duration, what string, counts func(e2eSample) bool) time.Time {
	t.Helper()
	var resumed time.Time
	testenv.WaitFor(t, within, what, func() bool {
		for _, smp := range l.snapshot() {
			if smp.status/100 == 2 && counts(smp) {
				resumed = smp.end
				return true
			}
		}
		return false
	})
	return resumed
}

// stopAndCount stops the load, logs its counts and returns them. (If the test fails, the
// load's timeline is logged at its end.)
func (l *e2eLoad) stopAndCount(t *testing.T) e2eCounts {
	t.Helper()
	l.finish()
	samples := l.snapshot()
	c := e2eCount(samples)
	t.Logf("load %s: %s", l.name, c)
	return c
}

// e2eTimeline is the load per 500 ms (by end time): how many of each status, and an
// example of each failure.
func e2eTimeline(samples []e2eSample) string {
	if len(samples) == 0 {
		return "(no requests)"
	}
	sorted := slices.Clone(samples)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].end.Before(sorted[j].end) })
	t0 := sorted[0].end
	var b strings.Builder
	for i := 0; i < len(sorted); {
		slot := sorted[i].end.Sub(t0).Truncate(500 * time.Millisecond)
		counts := map[int]int{}
		examples := map[int]string{}
		for ; i < len(sorted) && sorted[i].end.Sub(t0).Truncate(500*time.Millisecond) == slot; i++ {
			smp := sorted[i]
			counts[smp.status]++
			if smp.status/100 != 2 || smp.err != "" {
				examples[smp.status] = fmt.Sprintf("%.120s (in %s)", smp.err+string(smp.body), smp.end.Sub(smp.start).Round(time.Millisecond))
			}
		}
		fmt.Fprintf(&b, "  +%5.1fs %s:", slot.Seconds(), sorted[i-1].end.Format("15:04:05.0"))
		codes := slices.Sorted(maps.Keys(counts))
		for _, code := range codes {
			fmt.Fprintf(&b, " %d×%d", counts[code], code)
			if ex, ok := examples[code]; ok {
				fmt.Fprintf(&b, " [%s]", strings.TrimSpace(ex))
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// e2eCounts sums up load samples.
type e2eCounts struct {
	total, ok  int
	byStatus   map[int]int
	noAnswer   []string // transport errors and client timeouts
	badBody    []string // 2xx whose body check failed
	slow5xx    []string // 5xx slower than e2eQuick
	other      []string // neither 2xx nor 5xx
	maxLatency time.Duration
	maxOK      time.Duration
}

func e2eCount(samples []e2eSample) e2eCounts {
	c := e2eCounts{byStatus: map[int]int{}}
	for _, s := range samples {
		c.total++
		d := s.end.Sub(s.start)
		c.maxLatency = max(c.maxLatency, d)
		switch {
		case s.status == 0:
			c.noAnswer = append(c.noAnswer, fmt.Sprintf("after %s: %s", d.Round(time.Millisecond), s.err))
			continue
		case s.status/100 == 2 && s.err != "":
			c.badBody = append(c.badBody, s.err)
		case s.status/100 == 2:
			c.ok++
			c.maxOK = max(c.maxOK, d)
		case s.status/100 == 5 && d > e2eQuick:
			c.slow5xx = append(c.slow5xx, fmt.Sprintf("%d after %s: %.200s", s.status, d.Round(time.Millisecond), s.body))
		case s.status/100 != 5:
			c.other = append(c.other, fmt.Sprintf("%d: %.200s", s.status, s.body))
		}
		c.byStatus[s.status]++
	}
	return c
}

func (c e2eCounts) String() string {
	codes := make([]int, 0, len(c.byStatus))
	for code := range c.byStatus {
		codes = append(codes, code)
	}
	sort.Ints(codes)
	var parts []string
	for _, code := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", c.byStatus[code], code))
	}
	return fmt.Sprintf("total %d, 2xx %d, by status [%s], no answer %d, bad 2xx body %d, max latency %s (2xx %s)",
		c.total, c.ok, strings.Join(parts, " "), len(c.noAnswer), len(c.badBody),
		c.maxLatency.Round(time.Millisecond), c.maxOK.Round(time.Millisecond))
}

// requireAnswered fails the test unless every request got an answer, every 5xx was quick
// and nothing but 2xx and 5xx came back.
func (c e2eCounts) requireAnswered(t *testing.T) {
	t.Helper()
	if c.total == 0 {
		t.Fatalf("the load sent no request")
	}
	for what, list := range map[string][]string{
		"requests without an answer (transport error or hung past the client's timeout)": c.noAnswer,
		"2xx answers with a wrong body":                             c.badBody,
		"5xx answers slower than quick (" + e2eQuick.String() + ")": c.slow5xx,
		"answers neither 2xx nor 5xx":                               c.other,
	} {
		if len(list) > 0 {
			t.Errorf("%d %s, e.g. %v", len(list), what, list[:min(len(list), 5)])
		}
	}
}

// requireAllOK is requireAnswered with no 5xx allowed either.
func (c e2eCounts) requireAllOK(t *testing.T) {
	t.Helper()
	c.requireAnswered(t)
	if c.ok != c.total {
		t.Errorf("%d of %d requests were not 2xx: %s", c.total-c.ok, c.total, c)
	}
}
