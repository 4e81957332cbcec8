package runner

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

// TestEnableFailures: every way an enable can fail is acked `error` with a reason, and
// leaves the runner serving what it served.
func TestEnableFailures(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr)
	host := uniq(t) + ".example"
	good := fnBundle(t, host, "/good")
	noManifest := makeBundleWithout(t)
	cases := []struct {
		name, path string
		bundle     []byte
		sha        string // served under this sha instead of the bundle's own
		want       string
	}{
		{"not a zip", "/a", []byte("hello, not a zip"), "", "invalid bundle"},
		{"no manifest", "/b", noManifest, "", "manifest"},
		{"sha mismatch", "/c", good, strings.Repeat("ab", 32), "sha"},
		{"not downloadable", "/d", nil, strings.Repeat("cd", 32), "HTTP 404"},
		{"exits at start", "/e", fnBundle(t, host, "/e", "env: {START: exit}"), "", "exited during start-up"},
		{"never listens", "/f", fnBundle(t, host, "/f", "env: {START: never}", "start-timeout: 1s"), "", "not ready within 1s"},
		{"unhealthy", "/g", fnBundle(t, host, "/g", "env: {START: unhealthy}", "health: /health", "start-timeout: 1s"), "", "answered 500"},
	}
	for _, c := range cases {
		sha := c.sha
		if c.bundle != nil {
			sha = tr.upload(c.bundle, c.sha)
		}
		ack := tr.ack(tr.enable(r.Inbox(), sha, host, c.path, nil), 20*time.Second)
		if ack.Status != protocol.AckError || !strings.Contains(ack.Error, c.want) {
			t.Errorf("%s: ack %s %q, want error containing %q", c.name, ack.Status, ack.Error, c.want)
		}
	}
	// The runner still works.
	tr.enableOK(r.Inbox(), tr.upload(good), host, "/good", nil)
	fe := newFrontend(t)
	if a := fe.do(protocol.RouteQueue(host, "/good"), service(host, "GET", "/good/hello/x", nil)); a.Answer.Status != 200 {
		t.Errorf("after failed enables: %d %s", a.Answer.Status, a.Answer.Body)
	}
}

// makeBundleWithout is a zip with a program and no manifest.
func makeBundleWithout(t *testing.T) []byte {
	b := makeBundle(t, "x", file{"bin/fn", []byte("#!/bin/sh\n"), 0o755})
	// Rename the manifest inside the archive: same length, so offsets stay valid.
	return []byte(strings.ReplaceAll(string(b), "funcatron.yaml", "funcatron.xxxx"))
}

// TestCrashHangMalformed: a process that crashes gives 502 and is restarted; one that
// hangs gives 504 within the bundle's timeout; a message that is not a service request is
// dead-lettered, counted, and the runner keeps serving.
func TestCrashHangMalformed(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr, func(o *Options) { o.HeartbeatPeriod = 500 * time.Millisecond })
	host, path := uniq(t)+".example", "/fail"
	_, queue := tr.serveFn(r.Inbox(), host, path, nil, "workers: 1", "timeout: 1s")
	fe := newFrontend(t)

	a := fe.do(queue, service(host, "GET", path+"/crash", nil))
	if a.Answer.Status != 502 || !strings.Contains(string(a.Answer.Body), `"error"`) {
		t.Errorf("crash: %d %s", a.Answer.Status, a.Answer.Body)
	}
	checkNoInternals(t, a)
	// The worker comes back.
	testenv.WaitFor(t, 10*time.Second, "the restarted worker to answer", func() bool {
		return fe.do(queue, service(host, "GET", path+"/pid", nil)).Answer.Status == 200
	})
	if m := metricsText(t, r); !strings.Contains(m, `funcatron_runner_process_restarts_total{host="`+host+`",path="`+path+`",queue="`+queue+`"} 1`) {
		t.Errorf("restart not counted:\n%s", grep(m, "restarts"))
	}

	start := time.Now()
	a = fe.do(queue, service(host, "GET", path+"/hang", nil))
	if took := time.Since(start); a.Answer.Status != 504 || took > 5*time.Second {
		t.Errorf("hang: %d after %s: %s", a.Answer.Status, took, a.Answer.Body)
	}
	checkNoInternals(t, a)

	// Malformed messages go to funcatron.dead; the runner goes on.
	dead := deadLetters(t, queue)
	fe.publishRaw(queue, protocol.ContentTypeJSON, []byte("{not json"))
	fe.publishRaw(queue, protocol.ContentTypeEDN, []byte(`{:action "service" :method 12`))
	fe.publishRaw(queue, protocol.ContentTypeJSON, []byte(`{"action":"service","method":"GET","uri":"/fail/pid"}`)) // no reply-queue
	testenv.WaitFor(t, 10*time.Second, "3 dead letters", func() bool { return dead() == 3 })
	if a := fe.do(queue, service(host, "GET", path+"/pid", nil)); a.Answer.Status != 200 {
		t.Errorf("after malformed messages: %d", a.Answer.Status)
	}
	if m := metricsText(t, r); !strings.Contains(m, "funcatron_runner_undecodable_total 3") {
		t.Errorf("undecodable not counted:\n%s", grep(m, "undecodable"))
	}
	// The 502 and 504 are counted as errors in the heartbeat stats.
	testenv.WaitFor(t, 15*time.Second, "heartbeat stats with 2 errors", func() bool {
		var errs int64
		for _, m := range tr.all() {
			if hb, ok := m.(*protocol.Heartbeat); ok && hb.From == r.Inbox() {
				errs += hb.Stats[queue].Errors
			}
		}
		return errs >= 5 // 502, 504 and the three dead letters
	})
}

// checkNoInternals: an error answer is JSON {"error": ...} naming no path or process detail.
func checkNoInternals(t *testing.T, a *protocol.Answer) {
	t.Helper()
	var body map[string]string
	if err := json.Unmarshal(a.Answer.Body, &body); err != nil || len(body) != 1 || body["error"] == "" {
		t.Errorf("error body %s is not {\"error\": ...}", a.Answer.Body)
	}
	for _, bad := range []string{"/tmp", "/", "exit status", "goroutine", "sock"} {
		if bad != "/" && strings.Contains(body["error"], bad) {
			t.Errorf("error body leaks %q: %s", bad, a.Answer.Body)
		}
	}
}

func grep(text, word string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// deadLetters binds a fresh queue to funcatron.dead and counts what arrives there from
// route queue queue.
func deadLetters(t *testing.T, queue string) func() int {
	t.Helper()
	ds := testenv.Subscribe(t, rabbit.URL(), protocol.DeadLetterExchange, "")
	var mu sync.Mutex
	n := 0
	go func() {
		for d := range ds {
			if d.RoutingKey == queue {
				mu.Lock()
				n++
				mu.Unlock()
			}
		}
	}()
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// TestTwoRunnersShareWork: two runners on one route queue both get requests.
func TestTwoRunnersShareWork(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r1, r2 := startRunner(t, tr), startRunner(t, tr)
	host, path := uniq(t)+".example", "/shared"
	sha := tr.upload(fnBundle(t, host, path, "workers: 1", "concurrency: 2"))
	tr.enableOK(r1.Inbox(), sha, host, path, nil)
	tr.enableOK(r2.Inbox(), sha, host, path, nil)
	if n := tr.downloads.Load(); n != 2 {
		t.Errorf("%d downloads for two runners, want 2", n)
	}
	queue := protocol.RouteQueue(host, path)
	fe := newFrontend(t)
	ids := make([]string, 12)
	for i := range ids {
		ids[i] = fe.publish(queue, service(host, "GET", path+"/slow?ms=100", nil))
	}
	pids := map[string]bool{}
	for _, id := range ids {
		a := fe.answer(id, 20*time.Second)
		if a.Answer.Status != 200 {
			t.Fatalf("status %d", a.Answer.Status)
		}
		f := strings.Fields(string(a.Answer.Body))
		pids[f[len(f)-1]] = true
	}
	if len(pids) != 2 {
		t.Errorf("answers came from %d processes, want 2 (one per runner)", len(pids))
	}
	for _, r := range []*Runner{r1, r2} {
		if m := metricsText(t, r); !strings.Contains(m, `funcatron_runner_requests_total{host="`+host+`",path="`+path+`",queue="`+queue+`",status="200"}`) {
			t.Errorf("runner %s served nothing:\n%s", r.Inbox(), grep(m, "requests_total"))
		}
	}
}

// TestAnswerBeforeAck: while the answer cannot be published (the broker refuses it), the
// request is not acked: it is requeued and tried again, and once the answer goes through
// the request is acked and leaves the queue.
func TestAnswerBeforeAck(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr)
	host, path := uniq(t)+".example", "/ack"
	_, queue := tr.serveFn(r.Inbox(), host, path, nil)

	conn, err := amqp.Dial(rabbit.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, _ := conn.Channel()
	// A reply queue that refuses every message (a policy: max-length 0, reject-publish): the
	// broker nacks the answer's publish. The queue itself stays, so that making it accept
	// again (clearing the policy) leaves no moment in which an answer would be unroutable.
	reply := "FRNT-refusing-" + uniq(t)
	if _, err := ch.QueueDeclare(reply, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.QueueDelete(reply, false, false, false) })
	policy := "refuse-" + reply
	if _, err := rabbit.Ctl("", "set_policy", "--apply-to", "queues", policy, "^"+reply+"$",
		`{"max-length":0,"overflow":"reject-publish"}`); err != nil {
		t.Fatal(err)
	}
	fe := newFrontend(t)
	svc := service(host, "GET", path+"/pid", nil)
	svc.RequestID, svc.ReplyTo, svc.ReplyQueue = "req-refused", "req-refused", reply
	body, _ := protocol.Encode(protocol.JSON, protocol.Stamp(svc, "", ""))
	fe.publishRaw(queue, protocol.ContentTypeJSON, body)
	testenv.WaitFor(t, 10*time.Second, "answers refused by the broker", func() bool {
		return metricValue(metricsText(t, r), "funcatron_runner_answers_unpublished_total") >= 2
	})
	// The broker still holds the request (ready or unacked: `messages` counts both).
	if n := queueMessages(t, queue); n != 1 {
		t.Errorf("the route queue holds %d messages, want the request (1): it left although its answer was never published", n)
	}
	// Make the reply queue accept: the next try goes through, and the request is acked.
	if _, err := rabbit.Ctl("", "clear_policy", policy); err != nil {
		t.Fatal(err)
	}
	var got amqp.Delivery
	testenv.WaitFor(t, 10*time.Second, "the answer in the reply queue", func() bool {
		d, ok, _ := ch.Get(reply, true)
		got = d
		return ok
	})
	var ans protocol.Answer
	if err := protocol.DecodeAs(got.ContentType, got.Body, &ans); err != nil || ans.RequestID != "req-refused" || ans.Answer.Status != 200 {
		t.Errorf("answer %+v (%v)", ans, err)
	}
	testenv.WaitFor(t, 10*time.Second, "the request to be acked", func() bool {
		return queueMessages(t, queue) == 0
	})
}

// queueMessages is the broker's count of queue's messages, ready and unacked.
func queueMessages(t *testing.T, queue string) int {
	t.Helper()
	out, err := rabbit.Ctl("", "list_queues", "--quiet", "--no-table-headers", "name", "messages")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == queue {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("queue %s not listed by rabbitmqctl: %s", queue, out)
	return 0
}

// consumerHeld is the number of requests the runner has in flight on all routes.
func consumerHeld(t *testing.T, r *Runner) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rt := range r.routes {
		n += int(rt.stats.inflight.Load())
	}
	return n
}

// metricValue reads one unlabelled metric from Prometheus text.
func metricValue(text, name string) float64 {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, name+" ") {
			var v float64
			fmt.Sscan(strings.TrimPrefix(l, name+" "), &v)
			return v
		}
	}
	return 0
}
