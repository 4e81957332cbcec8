package runner

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

// TestSwapWithoutFailedRequests: a new bundle on the same route takes over while requests
// keep coming; none fails, the old processes go, later requests see the new bundle.
func TestSwapWithoutFailedRequests(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr)
	host, path := uniq(t)+".example", "/swap"
	v1 := tr.upload(fnBundle(t, host, path, "env: {VERSION: v1}", "workers: 1"))
	v2 := tr.upload(fnBundle(t, host, path, "env: {VERSION: v2}", "workers: 2", "concurrency: 8"))
	tr.enableOK(r.Inbox(), v1, host, path, nil)
	queue := protocol.RouteQueue(host, path)
	fe := newFrontend(t)
	oldPIDs := processPIDs(t, fe, queue, host, path, 1)

	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bodies []string
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				a := fe.do(queue, service(host, "GET", path+"/slow?ms=30", nil))
				mu.Lock()
				bodies = append(bodies, string(a.Answer.Body))
				if a.Answer.Status != 200 {
					t.Errorf("request during swap: %d %s", a.Answer.Status, a.Answer.Body)
				}
				mu.Unlock()
			}
		}()
	}
	testenv.WaitFor(t, 10*time.Second, "load before the swap", func() bool { mu.Lock(); defer mu.Unlock(); return len(bodies) > 10 })
	tr.enableOK(r.Inbox(), v2, host, path, nil)
	testenv.WaitFor(t, 10*time.Second, "answers from v2", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(bodies) > 0 && strings.HasPrefix(bodies[len(bodies)-1], "v2 ")
	})
	stop.Store(true)
	wg.Wait()
	for _, pid := range oldPIDs {
		testenv.WaitFor(t, 10*time.Second, "the old process to stop", func() bool { return syscall.Kill(pid, 0) != nil })
	}
	// A disable of the replaced sha leaves the route alone.
	if ack := tr.ack(tr.send(r.Inbox(), &protocol.Disable{SHA: v1}), 10*time.Second); ack.Status != protocol.AckOK {
		t.Fatalf("disable of the old sha: %+v", ack)
	}
	if a := fe.do(queue, service(host, "GET", path+"/slow?ms=1", nil)); a.Answer.Status != 200 || !strings.HasPrefix(string(a.Answer.Body), "v2 ") {
		t.Errorf("after disabling the replaced sha: %d %s", a.Answer.Status, a.Answer.Body)
	}
}

// TestReenableNewPropsAndPrefetch: all-bundles prefetches what the runner lacks; enable
// of a fetched bundle needs no second download; enable again with new props restarts it
// with those props; disable then enable works again.
func TestReenableNewPropsAndPrefetch(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr)
	host, path := uniq(t)+".example", "/props"
	b := fnBundle(t, host, path)
	sha := tr.upload(b)
	tr.send(r.Inbox(), &protocol.AllBundles{
		TronHost: protocol.HostPort{Host: "127.0.0.1", Port: 1},
		Bundles:  []protocol.BundleRef{{SHA: sha, Host: host, Path: path, URL: tr.srv.URL + "/bundle/" + sha + "?sig=ok"}},
	})
	testenv.WaitFor(t, 10*time.Second, "the prefetch", func() bool { return tr.downloads.Load() == 1 })
	queue := protocol.RouteQueue(host, path)
	fe := newFrontend(t)
	for i, greeting := range []string{"hi", "bonjour", "hallo"} {
		if i == 2 {
			if ack := tr.ack(tr.send(r.Inbox(), &protocol.Disable{SHA: sha}), 10*time.Second); ack.Status != protocol.AckOK {
				t.Fatalf("disable: %+v", ack)
			}
		}
		tr.enableOK(r.Inbox(), sha, host, path, protocol.Props{"greeting": greeting})
		a := fe.do(queue, service(host, "GET", path+"/hello/you", nil))
		if want := greeting + " you from "; string(a.Answer.Body) != want {
			t.Errorf("enable %d: %q, want %q", i, a.Answer.Body, want)
		}
	}
	if n := tr.downloads.Load(); n != 1 {
		t.Errorf("%d downloads, want 1", n)
	}
}

// TestCGIMode: a shell CGI script gets the RFC 3875 variables and the body on stdin; its
// Status and headers make the answer; one that runs too long is killed with a 504.
func TestCGIMode(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr)
	host, path := uniq(t)+".example", "/cgi"
	script := `#!/bin/sh
if [ "$PATH_INFO" = "/sleep" ]; then sleep 30; fi
if [ "$PATH_INFO" = "/junk" ]; then echo "no headers here"; exit 0; fi
echo "Status: 201 Created"
echo "Content-Type: text/plain"
echo "Set-Cookie: a=1"
echo "Set-Cookie: b=2"
echo
echo "method=$REQUEST_METHOD script=$SCRIPT_NAME path=$PATH_INFO query=$QUERY_STRING op=$HTTP_X_FUNCATRON_OPERATION len=$CONTENT_LENGTH ua=$HTTP_USER_AGENT leak=$` + leakVar + ` props=$FUNCATRON_PROPS"
cat
`
	manifest := `swagger: "2.0"
info: {title: cgi, version: "1"}
host: ` + host + `
basePath: ` + path + `
x-funcatron:
  exec: {command: [bin/script.sh], mode: cgi, timeout: 1s, concurrency: 4}
paths:
  /run/{x}: {post: {operationId: run}}
  /sleep: {get: {operationId: sleep}}
  /junk: {get: {operationId: junk}}
`
	sha := tr.upload(makeBundle(t, manifest, file{"bin/script.sh", []byte(script), 0o755}))
	tr.enableOK(r.Inbox(), sha, host, path, protocol.Props{"k": "v"})
	queue := protocol.RouteQueue(host, path)
	fe := newFrontend(t)

	a := fe.do(queue, service(host, "POST", path+"/run/1?a=b", []byte("stdin body")))
	want := `method=POST script=/cgi path=/run/1 query=a=b op=run len=10 ua=test leak= props={"k":"v"}` + "\nstdin body"
	if a.Answer.Status != 201 || string(a.Answer.Body) != want {
		t.Errorf("cgi: %d %q\nwant %q", a.Answer.Status, a.Answer.Body, want)
	}
	if got := header(a, "Set-Cookie"); len(got) != 2 {
		t.Errorf("Set-Cookie = %q", got)
	}
	start := time.Now()
	a = fe.do(queue, service(host, "GET", path+"/sleep", nil))
	if a.Answer.Status != 504 || time.Since(start) > 5*time.Second {
		t.Errorf("slow cgi: %d after %s", a.Answer.Status, time.Since(start))
	}
	a = fe.do(queue, service(host, "GET", path+"/junk", nil))
	if a.Answer.Status != 502 {
		t.Errorf("cgi without headers: %d %s", a.Answer.Status, a.Answer.Body)
	}
}

// TestGracefulShutdown: on shutdown a request in flight is still answered, `died` is sent
// and the bundle's processes stop.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr)
	host, path := uniq(t)+".example", "/bye"
	_, queue := tr.serveFn(r.Inbox(), host, path, nil, "workers: 1")
	fe := newFrontend(t)
	pids := processPIDs(t, fe, queue, host, path, 1)
	// The runner counts a request until it is acked, after its answer reached us.
	testenv.WaitFor(t, 5*time.Second, "the earlier requests done", func() bool { return consumerHeld(t, r) == 0 })
	id := fe.publish(queue, service(host, "GET", path+"/slow?ms=1500", nil))
	testenv.WaitFor(t, 5*time.Second, "the request in flight", func() bool { return consumerHeld(t, r) == 1 })
	stopRunner(r)
	if a := fe.answer(id, time.Second); a.Answer.Status != 200 {
		t.Errorf("in-flight request at shutdown: %d %s", a.Answer.Status, a.Answer.Body)
	}
	tr.wait(5*time.Second, "died", func(m protocol.Message) bool {
		d, ok := m.(*protocol.Died)
		return ok && d.From == r.Inbox()
	})
	if err := syscall.Kill(pids[0], 0); err == nil {
		t.Errorf("bundle process %d still runs after shutdown", pids[0])
	}
}

// TestDie: the Tron's `die` shuts the runner down as SIGTERM would.
// TestBrokerRestart: while RabbitMQ is down /healthz says so; when it is back the runner
// reconnects by itself, its inbox and route queues come back, and requests are served
// again. Not parallel: it restarts the package's broker before the parallel tests start.
func TestBrokerRestart(t *testing.T) {
	tr := newTron(t)
	r := startRunner(t, tr)
	host, path := uniq(t)+".example", "/restart"
	_, queue := tr.serveFn(r.Inbox(), host, path, nil)
	if a := newFrontend(t).do(queue, service(host, "GET", path+"/pid", nil)); a.Answer.Status != 200 {
		t.Fatalf("before the restart: %d", a.Answer.Status)
	}
	healthz := func() int {
		resp, err := http.Get("http://" + r.HealthAddr().String() + "/healthz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	rabbit.Stop()
	testenv.WaitFor(t, 30*time.Second, "/healthz to say 503", func() bool { return healthz() == 503 })
	if err := rabbit.Start(); err != nil {
		t.Fatalf("restarting RabbitMQ: %v", err)
	}
	testenv.WaitFor(t, 30*time.Second, "/healthz to say 200", func() bool { return healthz() == 200 })
	tr.reconnect()
	fe := newFrontend(t)
	if a := fe.do(queue, service(host, "GET", path+"/pid", nil)); a.Answer.Status != 200 {
		t.Errorf("after the restart: %d", a.Answer.Status)
	}
	// The inbox is back too: the runner hears the Tron.
	before := countAwakes(tr, r.Inbox())
	tr.send(r.Inbox(), &protocol.ResendAwake{})
	testenv.WaitFor(t, 10*time.Second, "an awake after the restart", func() bool { return countAwakes(tr, r.Inbox()) > before })
}

// TestShutdownDuringEnable: a shutdown does not wait for a bundle that is still starting:
// its enable is acked `error` and Run returns at once.
func TestShutdownDuringEnable(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr)
	host, path := uniq(t)+".example", "/slowstart"
	sha := tr.upload(fnBundle(t, host, path, "env: {START: never}", "start-timeout: 60s"))
	id := tr.enable(r.Inbox(), sha, host, path, nil)
	testenv.WaitFor(t, 10*time.Second, "the bundle to be downloaded", func() bool { return tr.downloads.Load() == 1 })
	start := time.Now()
	stopRunner(r)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("shutdown took %s with a bundle starting", took)
	}
	if ack := tr.ack(id, 5*time.Second); ack.Status != protocol.AckError {
		t.Errorf("enable interrupted by shutdown acked %+v", ack)
	}
}

// TestDisableServesQueuedRequests: requests queued just before a disable took effect (a
// frontend published them a moment before it dropped the route) are still answered during
// the linger, not left to expire into 504s at their frontend.
func TestDisableServesQueuedRequests(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr, func(o *Options) { o.DisableLinger = 2 * time.Second })
	host, path := uniq(t)+".example", "/api"
	sha, queue := tr.serveFn(r.Inbox(), host, path, nil)
	fe := newFrontend(t)
	fe.do(queue, service(host, "GET", path+"/hello/warm", nil)) // the bundle is serving

	disable := tr.send(r.Inbox(), &protocol.Disable{SHA: sha})
	var ids []string
	for range 5 {
		ids = append(ids, fe.publish(queue, service(host, "GET", path+"/hello/late", nil)))
	}
	for _, id := range ids {
		if a := fe.answer(id, 10*time.Second); a.Answer.Status != 200 {
			t.Errorf("request queued at the disable: %d %s", a.Answer.Status, a.Answer.Body)
		}
	}
	if ack := tr.ack(disable, 10*time.Second); ack.Status != protocol.AckOK {
		t.Fatalf("disable acked %+v", ack)
	}
}
