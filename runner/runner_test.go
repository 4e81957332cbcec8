package runner

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

// TestAwakeHeartbeatResendAwake: awake and heartbeat carry what protocol.md §3 says, the
// heartbeat lists the routes and sums the stats since the last one, and resend-awake
// sends an awake without starting a second heartbeat loop.
func TestAwakeHeartbeatResendAwake(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr, func(o *Options) { o.HeartbeatPeriod = 300 * time.Millisecond })
	a := tr.awake(r.Inbox())
	if a.Type != protocol.TypeRunner || a.MsgID == "" || a.At == 0 || a.Version == "" || !strings.HasPrefix(a.From, "RU-") {
		t.Errorf("awake = %+v", a)
	}
	host, path := uniq(t)+".example", "/hb"
	b := fnBundle(t, host, path)
	sha := tr.upload(b)
	tr.enableOK(r.Inbox(), sha, host, path, nil)
	queue := protocol.RouteQueue(host, path)
	fe := newFrontend(t)
	for range 3 {
		if a := fe.do(queue, service(host, "GET", path+"/hello/x", nil)); a.Answer.Status != 200 {
			t.Fatalf("status %d", a.Answer.Status)
		}
	}
	fe.do(queue, service(host, "GET", path+"/nope", nil))
	// The stats of the four requests are summed over the heartbeats that follow.
	var count, total int64
	testenv.WaitFor(t, 5*time.Second, "heartbeats counting 4 requests", func() bool {
		count, total = 0, 0
		for _, m := range tr.all() {
			hb, ok := m.(*protocol.Heartbeat)
			if !ok || hb.From != r.Inbox() {
				continue
			}
			st := hb.Stats[queue]
			count += st.Count
			total += st.TotalMS
		}
		return count == 4
	})
	hb := tr.wait(5*time.Second, "heartbeat with the route", func(m protocol.Message) bool {
		hb, ok := m.(*protocol.Heartbeat)
		return ok && hb.From == r.Inbox() && len(hb.Routes) == 1
	}).(*protocol.Heartbeat)
	want := protocol.RouteEntry{Queue: queue, Host: host, Path: path, SHA: sha, Status: "ok"}
	if hb.Routes[0] != want || hb.Type != protocol.TypeRunner {
		t.Errorf("heartbeat routes = %+v, want [%+v]", hb.Routes, want)
	}

	// Three resend-awakes: three more awakes, still one heartbeat loop.
	before := len(tr.all())
	for range 3 {
		tr.send(r.Inbox(), &protocol.ResendAwake{})
	}
	start := time.Now()
	testenv.WaitFor(t, 5*time.Second, "3 more awakes", func() bool { return countAwakes(tr, r.Inbox()) == 4 })
	testenv.WaitFor(t, 5*time.Second, "1.5s of heartbeats", func() bool { return time.Since(start) > 1500*time.Millisecond })
	beats := 0
	for _, m := range tr.all()[before:] {
		if hb, ok := m.(*protocol.Heartbeat); ok && hb.From == r.Inbox() {
			beats++
		}
	}
	// One loop: about 5 in 1.5s plus one right after each awake; four loops would be ~20.
	if beats > 11 {
		t.Errorf("%d heartbeats in %s after 3 resend-awakes: more than one heartbeat loop", beats, time.Since(start))
	}
}

func countAwakes(tr *tron, inbox string) int {
	n := 0
	for _, m := range tr.all() {
		if a, ok := m.(*protocol.Awake); ok && a.From == inbox {
			n++
		}
	}
	return n
}

// echoed is what testdata/fn's /echo reports.
type echoed struct {
	Method  string              `json:"method"`
	URI     string              `json:"uri"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
	Env     []string            `json:"env"`
	Cwd     string              `json:"cwd"`
}

// TestServeHTTPMode: enable → ack ok; requests reach the process as real HTTP with the
// forwarding headers, props and a clean environment; answers keep repeated headers and
// drop hop-by-hop ones; 404 and 405 come from the runner; disable stops it all.
func TestServeHTTPMode(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr)
	host, path := uniq(t)+".example", "/api"
	sha, queue := tr.serveFn(r.Inbox(), host, path, protocol.Props{"greeting": "howdy", "db": map[string]any{"url": "x"}}, "workers: 2", "env: {VERSION: v1}", "health: /health")
	fe := newFrontend(t)

	a := fe.do(queue, service(host, "GET", path+"/hello/bob?x=1", nil))
	if a.Answer.Status != 200 || string(a.Answer.Body) != "howdy bob from v1" {
		t.Errorf("hello: %d %q", a.Answer.Status, a.Answer.Body)
	}
	if got := header(a, "Set-Cookie"); !slices.Equal(got, []string{"a=1", "b=2"}) {
		t.Errorf("Set-Cookie pairs = %q, want [a=1 b=2]", got)
	}
	for _, h := range []string{"Connection", "Keep-Alive", "X-Private", "Content-Length", "Transfer-Encoding"} {
		if v := header(a, h); v != nil {
			t.Errorf("hop-by-hop header %s passed on: %q", h, v)
		}
	}
	if ct := header(a, "Content-Type"); !slices.Equal(ct, []string{"text/plain"}) {
		t.Errorf("Content-Type = %q", ct)
	}

	svc := service(host, "POST", path+"/echo?q=a%20b", []byte("the body"))
	svc.Headers["content-type"] = protocol.Values{"text/plain"}
	svc.Headers["x-multi"] = protocol.Values{"1", "2"}
	svc.Headers["x-forwarded-for"] = protocol.Values{"1.1.1.1"}
	svc.Headers["connection"] = protocol.Values{"close"}
	a = fe.do(queue, svc)
	var e echoed
	if err := json.Unmarshal(a.Answer.Body, &e); err != nil || a.Answer.Status != 200 {
		t.Fatalf("echo: %d %s", a.Answer.Status, a.Answer.Body)
	}
	if e.Method != "POST" || e.URI != path+"/echo?q=a%20b" || e.Host != host || e.Body != "the body" {
		t.Errorf("echo saw %s %s host %s body %q", e.Method, e.URI, e.Host, e.Body)
	}
	wantHeaders := map[string]string{
		"X-Funcatron-Operation": "echoPost", "X-Forwarded-Proto": "http", "X-Forwarded-Host": host,
		"X-Forwarded-For": "1.1.1.1, 10.1.2.3", "Content-Type": "text/plain",
	}
	for k, v := range wantHeaders {
		if got := strings.Join(e.Headers[k], ","); got != v {
			t.Errorf("process saw %s = %q, want %q", k, got, v)
		}
	}
	if len(e.Headers["X-Request-Id"]) != 1 || e.Headers["X-Request-Id"][0] == "" {
		t.Errorf("X-Request-Id = %q", e.Headers["X-Request-Id"])
	}
	if got := e.Headers["X-Multi"]; !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("repeated request header = %q", got)
	}
	if e.Headers["Connection"] != nil && slices.Contains(e.Headers["Connection"], "close") {
		t.Errorf("the client's Connection header reached the process")
	}
	checkEnv(t, e.Env, sha)
	// The bundle's files, in its sandbox (readable by its uid only).
	if _, err := os.Stat(filepath.Join(e.Cwd, "bin", "fn")); err != nil || !strings.Contains(e.Cwd, "/fnr-") {
		t.Errorf("process runs in %s, want the bundle's files in its sandbox: %v", e.Cwd, err)
	}

	a = fe.do(queue, service(host, "GET", path+"/nothing/here", nil))
	if a.Answer.Status != 404 || string(a.Answer.Body) != `{"error":"no operation for GET `+path+`/nothing/here"}` {
		t.Errorf("404: %d %s", a.Answer.Status, a.Answer.Body)
	}
	a = fe.do(queue, service(host, "DELETE", path+"/echo", nil))
	if a.Answer.Status != 405 || !slices.Equal(header(a, "Allow"), []string{"GET, POST"}) {
		t.Errorf("405: %d %v %s", a.Answer.Status, a.Answer.Headers, a.Answer.Body)
	}

	a = fe.do(queue, service(host, "GET", path+"/empty", nil))
	if a.Answer.Status != 204 || len(a.Answer.Body) != 0 || header(a, "Content-Type") != nil {
		t.Errorf("204: %d %v %q", a.Answer.Status, a.Answer.Headers, a.Answer.Body)
	}

	pids := processPIDs(t, fe, queue, host, path, 2)
	before := len(tr.all())
	ack := tr.ack(tr.send(r.Inbox(), &protocol.Disable{SHA: sha}), 10*time.Second)
	if ack.Status != protocol.AckOK {
		t.Fatalf("disable acked %+v", ack)
	}
	for _, pid := range pids {
		testenv.WaitFor(t, 5*time.Second, "the process to be gone", func() bool { return syscall.Kill(pid, 0) != nil })
	}
	testenv.WaitFor(t, 5*time.Second, "a heartbeat without the route", func() bool {
		for _, m := range tr.all()[before:] {
			if hb, ok := m.(*protocol.Heartbeat); ok && hb.From == r.Inbox() && len(hb.Routes) == 0 {
				return true
			}
		}
		return false
	})
}

// checkEnv: the process sees PATH, HOME, the FUNCATRON_ variables and the manifest's env,
// nothing of the runner's.
func checkEnv(t *testing.T, env []string, sha string) {
	t.Helper()
	names := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if k != "PWD" { // set by the /bin/sh wrapper of the test bundles, not by the runner
			names[k] = v
		}
	}
	for _, k := range []string{"PATH", "HOME", "FUNCATRON_LISTEN", "FUNCATRON_PROPS", "FUNCATRON_BUNDLE", "VERSION"} {
		if _, ok := names[k]; !ok {
			t.Errorf("process env lacks %s: %q", k, env)
		}
	}
	if len(names) != 6 {
		t.Errorf("process env has more than it should: %q", env)
	}
	if names["FUNCATRON_BUNDLE"] != sha {
		t.Errorf("FUNCATRON_BUNDLE = %q", names["FUNCATRON_BUNDLE"])
	}
	var props map[string]any
	if err := json.Unmarshal([]byte(names["FUNCATRON_PROPS"]), &props); err != nil || props["greeting"] != "howdy" {
		t.Errorf("FUNCATRON_PROPS = %q", names["FUNCATRON_PROPS"])
	}
}

// processPIDs asks /pid until it has seen n distinct processes.
func processPIDs(t *testing.T, fe *frontend, queue, host, path string, n int) []int {
	t.Helper()
	seen := map[int]bool{}
	testenv.WaitFor(t, 10*time.Second, "requests reaching every worker", func() bool {
		ids := make([]string, 4)
		for i := range ids {
			ids[i] = fe.publish(queue, service(host, "GET", path+"/pid", nil))
		}
		for _, id := range ids {
			var pid int
			json.Unmarshal(fe.answer(id, 10*time.Second).Answer.Body, &pid)
			seen[pid] = true
		}
		return len(seen) >= n
	})
	var pids []int
	for p := range seen {
		pids = append(pids, p)
	}
	return pids
}
