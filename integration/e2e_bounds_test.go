package integration

// Bounded input end to end (spec/protocol.md §7 "Decoders are bounded", spec/tron-api.md
// "Since the first version", docs/security.md "Bounded input"), on a stack of its own whose
// consumers are bounded below the broker's max_message_size, so that an oversize message
// reaches them: deeply nested and oversize messages on every consumer, header-only and
// oversize requests to the admin API, an alias bomb, and an answer too large for the
// frontends while other requests of the same nginx worker are in flight.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/buskey"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
	amqp "github.com/rabbitmq/amqp091-go"
)

// e2eBoundsMax is --max-message-bytes of the Tron and the runner and the frontend's
// FUNCATRON_MAX_MESSAGE_BYTES on the bounds stack: 14 MiB, below the broker's 16 MiB, so a
// 15 MiB message still reaches the consumers (in production the broker has their bound and
// refuses it first), and above 12 MB, so a 12 MB nested body is refused for its depth.
const e2eBoundsMax = 14 << 20

// e2eBoundsBundleMax is --max-bundle-bytes on the bounds stack.
const e2eBoundsBundleMax = 64 << 20

// e2eBoundsScript is the bounds bundle: /big answers 15 MiB (20 MiB in base64: over every
// frontend's limit), /slow answers after a second, anything else "hi".
const e2eBoundsScript = `#!/bin/sh
case "${PATH_INFO:-}" in
*/big) printf 'Content-Type: application/octet-stream\r\n\r\n'; head -c 15728640 /dev/zero ;;
*/slow) sleep 1; printf 'Content-Type: text/plain\r\n\r\nslow' ;;
*) printf 'Content-Type: text/plain\r\n\r\nhi' ;;
esac
`

const e2eBoundsManifest = `swagger: "2.0"
info: {title: bounds, version: "1.0.0"}
basePath: /bounds
x-funcatron:
  kind: exec
  exec: {command: [bin/bounds.sh], mode: cgi, concurrency: 16, timeout: 30s}
paths:
  /big: {get: {operationId: big}}
  /slow: {get: {operationId: slow}}
  /hi: {get: {operationId: hi}}
`

// e2eTestBounds brings up the bounds stack (one runner, one nginx worker) and runs the
// bounded-input tests on it.
func e2eTestBounds(t *testing.T, env *e2eEnv) {
	limit := strconv.Itoa(e2eBoundsMax)
	s := e2eStart(t, env, e2eStackOptions{runners: 1, workers: 1,
		tronArgs: []string{"--max-message-bytes", limit, "--max-bundle-bytes", strconv.Itoa(e2eBoundsBundleMax),
			"--max-uploads", "2"},
		runnerArgs: []string{"--max-message-bytes", limit},
		nginxEnv:   map[string]string{"FUNCATRON_MAX_MESSAGE_BYTES": limit},
	})
	bundle := filepath.Join(t.TempDir(), "bounds.zip")
	zipped := e2eZip(t, e2eEntry{name: "funcatron.yaml", body: e2eBoundsManifest},
		e2eEntry{name: "bin/bounds.sh", body: e2eBoundsScript, mode: 0o755})
	if err := os.WriteFile(bundle, zipped, 0o644); err != nil {
		t.Fatal(err)
	}
	s.deploy(t, bundle, nil)
	e2eWant(t, "the bounds bundle", s.get(t, "/bounds/hi"), 200, "hi")

	t.Run("Bus", func(t *testing.T) { e2eTestBoundedBus(t, s) })
	t.Run("OversizeAnswer", func(t *testing.T) { e2eTestOversizeAnswer(t, s) })
	t.Run("OversizeFrame", func(t *testing.T) { e2eTestOversizeFrame(t, s) })
	t.Run("AdminHeadersOnly", func(t *testing.T) { e2eTestAdminHeadersOnly(t, s) })
	t.Run("AdminBodies", func(t *testing.T) { e2eTestAdminBodies(t, s) })
	t.Run("UploadStreamed", func(t *testing.T) { e2eTestUploadStreamed(t, s) })
	t.Run("UploadsBounded", func(t *testing.T) { e2eTestUploadsBounded(t, s) })
	t.Run("AliasBomb", func(t *testing.T) { e2eTestAliasBomb(t, s) })
}

// e2eHostile is one hostile message: a 12 MB nested body in EDN or JSON, or one over
// e2eBoundsMax.
type e2eHostile struct {
	what, contentType string
	body              []byte
}

// e2eHostiles are the three hostile messages with the fields of action (and its sender).
func e2eHostiles(action string) []e2eHostile {
	const deep = 6 << 20 // 12 MB of brackets: the reproduction
	nested := strings.Repeat("[", deep) + strings.Repeat("]", deep)
	edn := `{:action "` + action + `" :msg-id "m0" :at 1 :from "RU-hostile" :type "runner" :method "GET" :uri "/bounds/hi" :junk `
	js := `{"action":"` + action + `","msg-id":"m0","at":1,"from":"RU-hostile","type":"runner","method":"GET","uri":"/bounds/hi","junk":`
	return []e2eHostile{
		{"EDN nested 6M deep", protocol.ContentTypeEDN, []byte(edn + nested + `}`)},
		{"JSON nested 6M deep", protocol.ContentTypeJSON, []byte(js + nested + `}`)},
		{"15 MiB message", protocol.ContentTypeJSON, []byte(js + `"` + strings.Repeat("x", 15<<20) + `"}`)},
	}
}

// e2eBroker is a test-side AMQP connection to the stack's broker.
type e2eBroker struct {
	t    *testing.T
	conn *amqp.Connection
	ch   *amqp.Channel
}

func e2eDialBroker(t *testing.T, s *e2eStack) *e2eBroker {
	t.Helper()
	conn, err := amqp.Dial(s.Rabbit.URL())
	if err != nil {
		t.Fatalf("dialing RabbitMQ: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return &e2eBroker{t: t, conn: conn, ch: ch}
}

// publish puts msgs on queue; with a key, signed for queue as the action the bodies name, so
// that they pass the signature check and reach the decoder (control queues: unsigned ones
// are refused before decoding, see TestForged*).
func (b *e2eBroker) publish(queue string, msgs []e2eHostile, key []byte, action string) {
	b.t.Helper()
	for i, m := range msgs {
		var headers amqp.Table
		if key != nil {
			h := &protocol.Header{Action: action, MsgID: fmt.Sprintf("hostile-%d-%d", time.Now().UnixNano(), i), At: time.Now().UnixMilli()}
			headers = amqp.Table{}
			for k, v := range protocol.SignHeaders(key, queue, h, m.body) {
				headers[k] = v
			}
		}
		err := b.ch.PublishWithContext(context.Background(), "", queue, true, false, amqp.Publishing{
			ContentType: m.contentType, Body: m.body, Expiration: "60000", Headers: headers,
		})
		if err != nil {
			b.t.Fatalf("publishing %s to %s: %v", m.what, queue, err)
		}
	}
}

// ready is the number of messages waiting in queue.
func (b *e2eBroker) ready(queue string) int {
	b.t.Helper()
	c, err := b.conn.Channel()
	if err != nil {
		b.t.Fatal(err)
	}
	defer c.Close()
	q, err := c.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		b.t.Fatalf("inspecting queue %s: %v", queue, err)
	}
	return q.Messages
}

// e2eTestBoundedBus: a 12 MB nested EDN body, the same in JSON and a 15 MiB message on the
// Tron queue, the runner's inbox, a route queue and the frontend worker's inbox. The Tron and
// the runner refuse each unread (the nested EDN body overflowed their stacks before, a
// crash recover cannot catch), count it and dead-letter it once; the frontend drops each
// without losing its listener; every process keeps serving.
func e2eTestBoundedBus(t *testing.T, s *e2eStack) {
	b := e2eDialBroker(t, s)
	stats := s.stats(t)
	var routeQueue, runnerInbox string
	for _, r := range stats.RouteMap {
		if r.Path == "/bounds" {
			routeQueue = r.Queue
		}
	}
	for inbox, node := range stats.Network {
		if node.Type == "runner" {
			runnerInbox = inbox
		}
	}
	workers := s.workerViews(t, "health")
	runnerURL := e2eRunnerURL(t, s.Runners[0]) + "/metrics"
	tronPID, runnerPID := s.Tron.PID(), s.Runners[0].PID()
	tronBefore := e2eMetric(t, s.TronURL+"/metrics", "funcatron_tron_undecodable_messages_total", nil)
	runnerBefore := e2eMetric(t, runnerURL, "funcatron_runner_undecodable_total", nil)
	deadBefore := b.ready("funcatron.dead")

	busKey, err := buskey.Load(s.BusKeyFile, "bus key")
	if err != nil {
		t.Fatal(err)
	}
	b.publish("for_tron", e2eHostiles("heartbeat"), busKey, "heartbeat")
	b.publish(runnerInbox, e2eHostiles("enable"), busKey, "enable")
	b.publish(routeQueue, e2eHostiles("service"), nil, "")
	for _, w := range workers {
		b.publish(w.Inbox, e2eHostiles("answer"), nil, "")
	}

	testenv.WaitFor(t, 30*time.Second, "the Tron and the runner counting 3 and 6 refused messages", func() bool {
		return e2eMetric(t, s.TronURL+"/metrics", "funcatron_tron_undecodable_messages_total", nil)-tronBefore >= 3 &&
			e2eMetric(t, runnerURL, "funcatron_runner_undecodable_total", nil)-runnerBefore >= 6
	})
	testenv.WaitFor(t, 10*time.Second, "9 dead letters and empty queues", func() bool {
		return b.ready("funcatron.dead")-deadBefore >= 9 && b.ready("for_tron") == 0 && b.ready(routeQueue) == 0
	})
	if got := b.ready("funcatron.dead") - deadBefore; got != 9 {
		t.Errorf("%d dead letters, want 9 (each refused message once)", got)
	}
	if got := e2eMetric(t, s.TronURL+"/metrics", "funcatron_tron_undecodable_messages_total", nil) - tronBefore; got != 3 {
		t.Errorf("the Tron counted %.0f refused messages, want 3", got)
	}
	if !s.Tron.Running() || s.Tron.PID() != tronPID || !s.Runners[0].Running() || s.Runners[0].PID() != runnerPID {
		t.Fatalf("a process died: tron running %v, runner running %v", s.Tron.Running(), s.Runners[0].Running())
	}
	e2eWant(t, "after the hostile messages", s.get(t, "/bounds/hi"), 200, "hi")
	e2eRequireSameListeners(t, s, workers)
}

// e2eRequireSameListeners: every nginx worker is the same process as in before, connected,
// on the same listener connection.
func e2eRequireSameListeners(t *testing.T, s *e2eStack, before map[string]e2eWorkerView) {
	t.Helper()
	for id, v := range s.workerViews(t, "health") {
		w := before[id]
		if !v.Connected || v.PID != w.PID || v.Sessions != w.Sessions {
			t.Errorf("worker %s: connected %v, pid %d (was %d), listener sessions %d (was %d)",
				id, v.Connected, v.PID, w.PID, v.Sessions, w.Sessions)
		}
	}
}

// e2eSlow starts n requests for /bounds/slow (each takes a second) on the one nginx worker
// and returns a function that waits for them and fails the test unless each got its 200.
func e2eSlow(t *testing.T, s *e2eStack, n int) func() {
	var wg sync.WaitGroup
	res := make([]e2eResp, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { res[i], errs[i] = e2eDo(s.fresh, "GET", s.FrontURL()+"/bounds/slow", "", nil, nil) })
	}
	return func() {
		t.Helper()
		wg.Wait()
		for i := range n {
			if errs[i] != nil || res[i].status != 200 || string(res[i].body) != "slow" {
				t.Errorf("in-flight request %d: %v %v, want 200 \"slow\"", i, res[i], errs[i])
			}
		}
	}
}

// e2eTestOversizeAnswer: an answer over --max-message-bytes becomes a 502 with a JSON error
// at once (before, the broker refused it, the runner requeued the request until it expired
// and its client got a 504 after the whole timeout), and the requests in flight on the same
// worker are all answered.
func e2eTestOversizeAnswer(t *testing.T, s *e2eStack) {
	before := s.workerViews(t, "health")
	runnerURL := e2eRunnerURL(t, s.Runners[0]) + "/metrics"
	oversizeBefore := e2eMetric(t, runnerURL, "funcatron_runner_answers_oversize_total", nil)
	wait := e2eSlow(t, s, 8)
	r := s.get(t, "/bounds/big")
	e2eWantError(t, "an answer of 15 MiB", r, 502, "larger than the 14680064 bytes a frontend can receive")
	if r.took > e2eQuick {
		t.Errorf("the 502 took %s", r.took)
	}
	wait()
	if got := e2eMetric(t, runnerURL, "funcatron_runner_answers_oversize_total", nil) - oversizeBefore; got != 1 {
		t.Errorf("funcatron_runner_answers_oversize_total rose by %.0f, want 1", got)
	}
	e2eRequireSameListeners(t, s, before)
}

// e2eTestOversizeFrame: a frame over the frontend's limit, sent to a worker's inbox while
// requests of that worker are in flight, is read and dropped; the listener keeps its
// connection (closing it deletes the exclusive inbox with every answer on its way).
func e2eTestOversizeFrame(t *testing.T, s *e2eStack) {
	b := e2eDialBroker(t, s)
	before := s.workerViews(t, "health")
	wait := e2eSlow(t, s, 8)
	testenv.WaitFor(t, 5*time.Second, "the slow requests in flight", func() bool {
		for _, v := range s.workerViews(t, "health") {
			if v.Waiting < 8 {
				return false
			}
		}
		return true
	})
	for _, w := range before {
		b.publish(w.Inbox, []e2eHostile{{"15 MiB frame", protocol.ContentTypeJSON, make([]byte, 15<<20)}}, nil, "")
	}
	wait()
	e2eRequireSameListeners(t, s, before)
	testenv.WaitFor(t, 5*time.Second, "the drop in nginx's error log", func() bool {
		return strings.Contains(s.Nginx.ErrorLog(), "dropped a MESSAGE frame of 15728640 bytes")
	})
}

// e2ePeakReset sets a process's peak resident memory (VmHWM) to its current one, so that a
// test measures its own peak, not an earlier test's.
func e2ePeakReset(t *testing.T, pid int) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatalf("resetting the peak memory of process %d: %v", pid, err)
	}
}

// e2eRSS is a process's resident memory and its peak (VmRSS, VmHWM), in bytes.
func e2eRSS(t *testing.T, pid int) (rss, peak int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the memory of process %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			if f[0] == "VmRSS:" {
				rss = n << 10
			} else {
				peak = n << 10
			}
		}
	}
	return rss, peak
}

// e2eHeadersOnly opens a connection to the Tron and sends head (request line and headers)
// and no body. It returns the connection and the status line read within 5 s.
func e2eHeadersOnly(t *testing.T, s *e2eStack, head string) (net.Conn, string, time.Duration) {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.TronURL, "http://"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.SetDeadline(start.Add(5 * time.Second))
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	return c, strings.TrimSpace(line), time.Since(start)
}

// e2eTestAdminHeadersOnly: 30 connections that send only headers announcing bodies of
// --max-bundle-bytes (which fasthttp would accept), without a token, get their 401 at once,
// and the Tron reads and allocates none of it (the issue measured 13 MB → 7.9 GB with the
// default 256 MiB).
func e2eTestAdminHeadersOnly(t *testing.T, s *e2eStack) {
	e2ePeakReset(t, s.Tron.PID())
	_, peakBefore := e2eRSS(t, s.Tron.PID())
	paths := []string{"/api/v1/add_func", "/api/v1/enable", "/api/v1/stats"}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			head := "POST " + paths[i%len(paths)] + " HTTP/1.1\r\nHost: tron\r\nContent-Type: application/zip\r\n" +
				"Content-Length: " + strconv.Itoa(e2eBoundsBundleMax) + "\r\n\r\n"
			c, status, took := e2eHeadersOnly(t, s, head)
			mu.Lock()
			defer mu.Unlock()
			conns = append(conns, c)
			if !strings.HasPrefix(status, "HTTP/1.1 401") || took > 2*time.Second {
				t.Errorf("headers-only request %d: %q after %s, want a 401 at once", i, status, took)
			}
		})
	}
	wg.Wait()
	_, peak := e2eRSS(t, s.Tron.PID())
	if grew := peak - peakBefore; grew > 64<<20 {
		t.Errorf("the Tron's peak memory grew by %d MiB for 30 header-only requests, want under 64", grew>>20)
	}
	t.Logf("Tron peak RSS %d MiB → %d MiB", peakBefore>>20, peak>>20)
}

// e2eTestAdminBodies: with the token, a body over 64 KiB on a route that is not add_func,
// and an add_func body announced over --max-bundle-bytes, are a 413 before any of it is sent.
func e2eTestAdminBodies(t *testing.T, s *e2eStack) {
	auth := "Authorization: Bearer " + s.Token + "\r\n"
	for _, tc := range []struct{ path, length string }{
		{"/api/v1/enable", strconv.Itoa(64<<10 + 1)},
		{"/api/v1/add_func", strconv.Itoa(e2eBoundsBundleMax + 1)},
	} {
		c, status, took := e2eHeadersOnly(t, s, "POST "+tc.path+" HTTP/1.1\r\nHost: tron\r\n"+auth+
			"Content-Length: "+tc.length+"\r\n\r\n")
		c.Close()
		if !strings.HasPrefix(status, "HTTP/1.1 413") || took > 2*time.Second {
			t.Errorf("%s with %s bytes announced: %q after %s, want a 413 at once", tc.path, tc.length, status, took)
		}
	}
	var res struct {
		Error string `json:"error"`
	}
	body := append([]byte(`{"sha":"`), append(make([]byte, 64<<10), `"}`...)...)
	if status := s.api(t, "POST", "/api/v1/disable", body, &res); status != 413 || !strings.Contains(res.Error, "larger than 65536 bytes") {
		t.Errorf("a 64 KiB + disable body: %d %q, want 413", status, res.Error)
	}
}

// e2eZeros is an endless stream of zero bytes.
type e2eZeros struct{}

func (e2eZeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// e2eTestUploadStreamed: an upload of unknown length (chunked) past --max-bundle-bytes is
// streamed to disk and cut at the limit with a 413: the Tron's peak memory does not grow by
// anything near the 64 MiB it read.
func e2eTestUploadStreamed(t *testing.T, s *e2eStack) {
	e2ePeakReset(t, s.Tron.PID())
	_, peakBefore := e2eRSS(t, s.Tron.PID())
	req, err := http.NewRequest("POST", s.TronURL+"/api/v1/add_func", io.LimitReader(e2eZeros{}, e2eBoundsBundleMax+(16<<20)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("uploading 80 MiB: %v", err)
	}
	var res struct {
		Error string `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if resp.StatusCode != 413 || !strings.Contains(res.Error, "--max-bundle-bytes") {
		t.Errorf("80 MiB chunked upload: %d %q, want 413", resp.StatusCode, res.Error)
	}
	_, peak := e2eRSS(t, s.Tron.PID())
	if grew := peak - peakBefore; grew > 32<<20 {
		t.Errorf("the Tron's peak memory grew by %d MiB for an upload cut at 64 MiB, want under 32: buffered, not streamed", grew>>20)
	}
	t.Logf("Tron peak RSS %d MiB → %d MiB", peakBefore>>20, peak>>20)
}

// e2eTestUploadsBounded: with --max-uploads 2 and two uploads being received, a third is a
// 503 at once; once they are gone, uploads go through again.
func e2eTestUploadsBounded(t *testing.T, s *e2eStack) {
	head := "POST /api/v1/add_func HTTP/1.1\r\nHost: tron\r\nAuthorization: Bearer " + s.Token +
		"\r\nContent-Length: 1048576\r\n\r\n"
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", strings.TrimPrefix(s.TronURL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		// past fasthttp's 8 KiB pre-read, so the upload is in its handler, reading
		if _, err := io.WriteString(c, head+strings.Repeat("x", 16<<10)); err != nil {
			t.Fatal(err)
		}
	}
	var res struct {
		Error string `json:"error"`
	}
	zip := e2eZip(t, e2eEntry{name: "funcatron.yaml", body: e2eBoundsManifest},
		e2eEntry{name: "bin/bounds.sh", body: e2eBoundsScript + "# another\n", mode: 0o755})
	testenv.WaitFor(t, 5*time.Second, "a 503 for a third upload", func() bool {
		return s.api(t, "POST", "/api/v1/add_func", zip, &res) == 503
	})
	if !strings.Contains(res.Error, "--max-uploads") {
		t.Errorf("the 503 says %q", res.Error)
	}
	for _, c := range held {
		c.Close()
	}
	testenv.WaitFor(t, 5*time.Second, "the upload accepted once the others are gone", func() bool {
		return s.api(t, "POST", "/api/v1/add_func", zip, nil) == 200
	})
}

// e2eTestAliasBomb: a manifest of 100 KB whose YAML aliases expand to 20 MB (a 100 KB
// string, aliased 200 times: yaml.v3's own alias check, which looks at the count of aliases,
// lets it through, as it did the 398 KB that expanded to 582 MB) is a 400 that says
// so, and the Tron's memory does not notice.
func e2eTestAliasBomb(t *testing.T, s *e2eStack) {
	var b strings.Builder
	b.WriteString(e2eBoundsManifest + "x-bomb:\n  string: &s \"" + strings.Repeat("a", 100<<10) + "\"\n")
	b.WriteString("  copies: [" + strings.TrimSuffix(strings.Repeat("*s, ", 200), ", ") + "]\n")
	zip := e2eZip(t, e2eEntry{name: "funcatron.yaml", body: b.String(), store: true}, // stored: not a zip bomb
		e2eEntry{name: "bin/bounds.sh", body: e2eBoundsScript, mode: 0o755})
	e2ePeakReset(t, s.Tron.PID())
	_, peakBefore := e2eRSS(t, s.Tron.PID())
	var res struct {
		Error string `json:"error"`
	}
	status := s.api(t, "POST", "/api/v1/add_func", zip, &res)
	if status != 400 || !strings.Contains(res.Error, "decodes to more than 1048576 bytes") {
		t.Errorf("an alias bomb: %d %q, want 400 saying it decodes to too much", status, res.Error)
	}
	if _, peak := e2eRSS(t, s.Tron.PID()); peak-peakBefore > 32<<20 {
		t.Errorf("the Tron's peak memory grew by %d MiB for an alias bomb", (peak-peakBefore)>>20)
	}
}
