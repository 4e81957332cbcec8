package integration

// End-to-end tests of the nginx + Lua frontend (spec/frontend.md): a real nginx with the
// repository's configuration, the shared RabbitMQ node, and this file playing the Tron (it
// consumes the Tron queue and sends `route`, `die`, `resend-awake`) and the runner (it consumes
// route queues and sends `answer`), both over AMQP.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
)

// msg is a decoded bus message.
type msg = map[string]any

var nameSeq atomic.Int64

// uniqueName returns a queue name no other test uses.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), nameSeq.Add(1))
}

// dialAMQP opens a connection to the shared broker, closed in t.Cleanup.
func dialAMQP(t testing.TB) *amqp.Connection {
	t.Helper()
	c, err := amqp.Dial(sharedRabbit.URL())
	if err != nil {
		t.Fatalf("dialing RabbitMQ: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func channel(t testing.TB, c *amqp.Connection) *amqp.Channel {
	t.Helper()
	ch, err := c.Channel()
	if err != nil {
		t.Fatalf("opening channel: %v", err)
	}
	return ch
}

func publishJSON(ch *amqp.Channel, queue string, m any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return ch.PublishWithContext(ctx, "", queue, false, false, amqp.Publishing{
		ContentType: "application/json", Body: b,
	})
}

// consume declares queue (durable) and delivers every decoded message to fn until the
// connection closes.
func consume(t testing.TB, c *amqp.Connection, queue string, fn func(m msg, raw amqp.Delivery)) {
	t.Helper()
	consumeDeliveries(t, c, queue, func(d amqp.Delivery) {
		var m msg
		if err := json.Unmarshal(d.Body, &m); err != nil {
			m = msg{"undecodable": string(d.Body)}
		}
		fn(m, d)
	})
}

// consumeDeliveries declares queue (durable) and hands every delivery to fn until the
// connection closes.
func consumeDeliveries(t testing.TB, c *amqp.Connection, queue string, fn func(d amqp.Delivery)) {
	t.Helper()
	ch := channel(t, c)
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatalf("declaring %s: %v", queue, err)
	}
	ds, err := ch.Consume(queue, "", true, false, false, false, nil)
	if err != nil {
		t.Fatalf("consuming %s: %v", queue, err)
	}
	go func() {
		for d := range ds {
			fn(d)
		}
	}()
}

// ---------------------------------------------------------------------------------------------
// The fake Tron

type fakeTron struct {
	queue string
	key   []byte // the frontend key: signs what it sends, checks what it gets
	conn  *amqp.Connection
	pub   *amqp.Channel
	in    chan msg
	mu    sync.Mutex
	all   []msg
}

func newTron(t testing.TB, queue string) *fakeTron {
	t.Helper()
	tr := &fakeTron{queue: queue, key: frontendTestKey, in: make(chan msg, 10000)}
	tr.connect(t)
	return tr
}

// connect (again, after a broker restart) declares and consumes the Tron queue.
func (tr *fakeTron) connect(t testing.TB) {
	t.Helper()
	tr.conn = dialAMQP(t)
	tr.pub = channel(t, tr.conn)
	consume(t, tr.conn, tr.queue, func(m msg, d amqp.Delivery) {
		m["_content_type"] = d.ContentType
		m["_persistent"] = d.DeliveryMode == amqp.Persistent
		m["_signed"] = testenv.VerifySigned(protocol.RoleFrontend, tr.key, tr.queue, d) == nil
		tr.mu.Lock()
		tr.all = append(tr.all, m)
		tr.mu.Unlock()
		tr.in <- m
	})
}

// next returns the next message for which match holds, skipping others.
func (tr *fakeTron) next(t testing.TB, within time.Duration, what string, match func(msg) bool) msg {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case m := <-tr.in:
			if match(m) {
				return m
			}
		case <-timeout:
			t.Fatalf("tron: no %s within %s", what, within)
			return nil
		}
	}
}

// send signs m with the frontend key, as the Tron does, and sends it to inbox. A message
// without msg-id or at gets them (both are signed).
func (tr *fakeTron) send(t testing.TB, inbox string, m msg) {
	t.Helper()
	tr.sendSigned(t, inbox, inbox, tr.key, m)
}

// sendSigned sends m to inbox signed with key for the queue signedFor (nil key: unsigned).
func (tr *fakeTron) sendSigned(t testing.TB, inbox, signedFor string, key []byte, m msg) {
	t.Helper()
	tr.sendSignedAs(t, inbox, signedFor, key, "", m)
}

// sendSignedAs is sendSigned with the fc-msg-id header set to headerID ("": the body's).
func (tr *fakeTron) sendSignedAs(t testing.TB, inbox, signedFor string, key []byte, headerID string, m msg) {
	t.Helper()
	if m["msg-id"] == nil {
		m["msg-id"] = fmt.Sprintf("m-%d", nameSeq.Add(1))
	}
	if m["at"] == nil {
		m["at"] = time.Now().UnixMilli()
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var headers amqp.Table
	if key != nil {
		at, _ := m["at"].(int64)
		headers = amqp.Table{}
		h := &protocol.Header{Action: str(m["action"]), MsgID: str(m["msg-id"]), At: at}
		if headerID != "" {
			h.MsgID = headerID
		}
		for k, v := range protocol.SignHeaders(key, signedFor, h, body) {
			headers[k] = v
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = tr.pub.PublishWithContext(ctx, "", inbox, false, false, amqp.Publishing{
		ContentType: "application/json", Body: body, Headers: headers,
	})
	if err != nil {
		t.Fatalf("tron: sending %v to %s: %v", m["action"], inbox, err)
	}
}

// frontendTestKey is the frontend key of the nginx these tests start.
var frontendTestKey = []byte("frontend-key-for-frontend-tests-0123456789")

// frontendKeyFile writes frontendTestKey to a file (mode 0600) for FUNCATRON_FRONTEND_KEY_FILE.
func frontendKeyFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "frontend-key")
	if err := os.WriteFile(path, frontendTestKey, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func isAction(action string) func(msg) bool {
	return func(m msg) bool { return m["action"] == action }
}

func from(action, inbox string) func(msg) bool {
	return func(m msg) bool { return m["action"] == action && m["from"] == inbox }
}

// sendRoutes sends a `route` to inbox and waits for its `ack`.
func (tr *fakeTron) sendRoutes(t testing.TB, inbox string, routes []msg) {
	t.Helper()
	id := fmt.Sprintf("route-%d", nameSeq.Add(1))
	tr.send(t, inbox, msg{"action": "route", "msg-id": id, "at": time.Now().UnixMilli(), "routes": routes})
	ack := tr.next(t, 10*time.Second, "ack of "+id, func(m msg) bool {
		return m["action"] == "ack" && m["ack-id"] == id
	})
	if ack["from"] != inbox {
		t.Fatalf("ack from %v, want %s", ack["from"], inbox)
	}
}

// ---------------------------------------------------------------------------------------------
// The fake runner

// answerFunc decides what the runner sends for a `service` message: full messages to the
// service's reply-queue (none: no answer).
type answerFunc func(svc msg) []msg

type fakeRunner struct {
	queue    string
	pub      *amqp.Channel
	mu       sync.Mutex
	got      []msg
	messages int // route-queue messages taken (a records message holds several requests)
	pubMu    sync.Mutex
}

func newRunner(t testing.TB, queue string, answer answerFunc) *fakeRunner {
	t.Helper()
	r := &fakeRunner{queue: queue}
	r.connect(t, answer)
	return r
}

// connect consumes the route queue. Like our runner (protocol.md §8), it answers the requests
// of a records message in records framing, one message per reply-queue for the message's
// answers, and a catalogue request in the catalogue's form; an answer that does not convert
// to a record (a deliberately malformed one) goes in the catalogue's form.
func (r *fakeRunner) connect(t testing.TB, answer answerFunc) {
	t.Helper()
	conn := dialAMQP(t)
	r.pubMu.Lock()
	r.pub = channel(t, conn)
	r.pubMu.Unlock()
	consumeDeliveries(t, conn, r.queue, func(d amqp.Delivery) {
		svcs := decodeService(d)
		r.mu.Lock()
		r.got = append(r.got, svcs...)
		r.messages++
		r.mu.Unlock()
		batches := map[string][][]byte{}
		for _, svc := range svcs {
			for _, a := range answer(svc) {
				if rec, ok := answerRecord(a); ok && svc["_framing"] == "records" {
					q := str(svc["reply-queue"])
					batches[q] = append(batches[q], rec)
				} else {
					r.reply(svc, a)
				}
			}
		}
		for q, recs := range batches {
			r.publish(q, recordsMessage(recs))
		}
	})
}

// decodeService decodes the service messages of a delivery: the records of a records
// message, else the one JSON message; each with the delivery's properties in _ keys.
func decodeService(d amqp.Delivery) []msg {
	var svcs []msg
	framing := "catalogue"
	if isRecords(d) {
		framing = "records"
		recs, err := splitRecords(d)
		if err != nil {
			recs = []msg{{"undecodable": err.Error()}}
		}
		svcs = recs
	} else {
		var m msg
		if err := json.Unmarshal(d.Body, &m); err != nil {
			m = msg{"undecodable": string(d.Body)}
		}
		svcs = []msg{m}
	}
	for _, svc := range svcs {
		svc["_expiration"] = d.Expiration
		svc["_persistent"] = d.DeliveryMode == amqp.Persistent
		svc["_content_type"] = d.ContentType
		svc["_framing"] = framing
		svc["_records"] = len(svcs)
	}
	return svcs
}

func (r *fakeRunner) publish(queue string, p amqp.Publishing) error {
	r.pubMu.Lock()
	defer r.pubMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.pub.PublishWithContext(ctx, "", queue, false, false, p)
}

func (r *fakeRunner) reply(svc, a msg) error {
	q, _ := svc["reply-queue"].(string)
	r.pubMu.Lock()
	defer r.pubMu.Unlock()
	return publishJSON(r.pub, q, a)
}

func (r *fakeRunner) received() []msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]msg(nil), r.got...)
}

// taken returns the number of route-queue messages the runner took.
func (r *fakeRunner) taken() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.messages
}

// answer builds an `answer` to svc.
func answer(svc msg, status int, headers [][2]string, body []byte) msg {
	return msg{
		"action":     "answer",
		"msg-id":     fmt.Sprintf("a-%d", nameSeq.Add(1)),
		"at":         time.Now().UnixMilli(),
		"request-id": svc["reply-to"],
		"answer": msg{
			"status":  status,
			"headers": headers,
			"body":    base64.StdEncoding.EncodeToString(body),
		},
	}
}

// echo answers 200 with the request's body and its request id in X-Request-Id.
func echo(svc msg) []msg {
	body := reqBody(svc)
	return []msg{answer(svc, 200, [][2]string{
		{"Content-Type", "application/octet-stream"},
		{"X-Request-Id", str(svc["request-id"])},
	}, body)}
}

// fixed answers 200 with body text.
func fixed(text string) answerFunc {
	return func(svc msg) []msg {
		return []msg{answer(svc, 200, [][2]string{{"Content-Type", "text/plain"}}, []byte(text))}
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// ---------------------------------------------------------------------------------------------
// A frontend under test

type frontend struct {
	nginx     *servers.Nginx
	tron      *fakeTron
	tronQueue string
	awakes    []msg // one per worker, in arrival order
}

type frontendOptions struct {
	workers   int
	timeout   string // FUNCATRON_TIMEOUT
	heartbeat string // FUNCATRON_HEARTBEAT
	noTronYet bool   // start nginx before the Tron queue exists
	env       map[string]string
}

// startFrontend starts a fake Tron on a fresh Tron queue and an nginx frontend using it, and
// waits for every worker's awake.
func startFrontend(t testing.TB, o frontendOptions) *frontend {
	t.Helper()
	queue := uniqueName("tron")
	f := &frontend{tronQueue: queue}
	if !o.noTronYet {
		f.tron = newTron(t, queue)
	}
	env := map[string]string{"TRON_QUEUE": queue, "HOST": "fe.example", "PORT_80": "8080",
		"FUNCATRON_FRONTEND_KEY_FILE": frontendKeyFile(t)}
	if o.timeout != "" {
		env["FUNCATRON_TIMEOUT"] = o.timeout
	}
	if o.heartbeat != "" {
		env["FUNCATRON_HEARTBEAT"] = o.heartbeat
	}
	for k, v := range o.env {
		env[k] = v
	}
	f.nginx = testenv.StartNginx(t, servers.NginxOptions{
		RabbitPort: sharedRabbit.STOMPPort,
		Workers:    max(o.workers, 1),
		InstanceID: "it-" + strconv.Itoa(int(nameSeq.Add(1))),
		Env:        env,
	})
	if !o.noTronYet {
		f.waitAwakes(t, max(o.workers, 1))
	}
	return f
}

func (f *frontend) waitAwakes(t testing.TB, n int) {
	t.Helper()
	seen := map[string]bool{}
	for len(f.awakes) < n {
		m := f.tron.next(t, 15*time.Second, "awake", isAction("awake"))
		if !seen[str(m["from"])] {
			seen[str(m["from"])] = true
			f.awakes = append(f.awakes, m)
		}
	}
}

func (f *frontend) inbox(i int) string { return str(f.awakes[i]["from"]) }

// routeAll sends routes to every worker.
func (f *frontend) routeAll(t testing.TB, routes ...msg) {
	t.Helper()
	for i := range f.awakes {
		f.tron.sendRoutes(t, f.inbox(i), routes)
	}
}

var client = &http.Client{Timeout: 20 * time.Second}

type response struct {
	status  int
	header  http.Header
	body    []byte
	elapsed time.Duration
}

func (f *frontend) do(t testing.TB, method, path string, body []byte, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, f.nginx.URL()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body = nil
	}
	for k, vs := range header {
		for _, v := range vs {
			if strings.EqualFold(k, "Host") {
				req.Host = v
			} else {
				req.Header.Add(k, v)
			}
		}
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{resp.StatusCode, resp.Header, b, time.Since(start)}
}

func (f *frontend) get(t testing.TB, path string) response {
	t.Helper()
	return f.do(t, "GET", path, nil, nil)
}

// wantError checks a JSON error response.
func wantError(t testing.TB, r response, status int, contains string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e struct{ Error string }
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.body, err)
	}
	if !strings.Contains(e.Error, contains) {
		t.Errorf("error %q does not contain %q", e.Error, contains)
	}
}

func (f *frontend) health(t testing.TB) msg {
	t.Helper()
	r := f.get(t, "/__funcatron/health")
	var m msg
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("health %q: %v", r.body, err)
	}
	return m
}

// ---------------------------------------------------------------------------------------------
// Tests

// TestFrontendAwakeAndServiceGET checks the awake, the route ack, the full `service` message of
// a GET (repeated query args and headers) and the answer written back (status, every header
// pair with two Set-Cookie, body), in both framings: records (the default, protocol.md §8)
// and the catalogue's (FUNCATRON_FRAMING=catalogue: one JSON message per request, as before).
func TestFrontendAwakeAndServiceGET(t *testing.T) {
	t.Parallel()
	for _, framing := range []string{"records", "catalogue"} {
		t.Run(framing, func(t *testing.T) {
			t.Parallel()
			testAwakeAndServiceGET(t, framing)
		})
	}
}

func testAwakeAndServiceGET(t *testing.T, framing string) {
	env := map[string]string{}
	if framing == "catalogue" {
		env["FUNCATRON_FRAMING"] = "catalogue"
	}
	f := startFrontend(t, frontendOptions{env: env})
	aw := f.awakes[0]
	inbox := f.inbox(0)
	if !regexp.MustCompile(`^FRNT[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(inbox) {
		t.Errorf("awake from %q, want FRNT<uuid>", inbox)
	}
	if aw["type"] != "frontend" || !strings.HasSuffix(str(aw["instance-id"]), "-0") ||
		str(aw["msg-id"]) == "" || str(aw["version"]) == "" || aw["_content_type"] != "application/json" {
		t.Errorf("awake %v", aw)
	}
	if at, _ := aw["at"].(float64); at < float64(time.Now().Add(-time.Minute).UnixMilli()) {
		t.Errorf("awake at %v is not epoch milliseconds", aw["at"])
	}
	if hi, _ := aw["host-info"].(msg); hi["host"] != "fe.example" || hi["port"] != float64(8080) {
		t.Errorf("awake host-info %v, want {fe.example 8080}", aw["host-info"])
	}
	if aw["_persistent"] != true {
		t.Errorf("awake is not persistent")
	}

	q := uniqueName("q")
	r := newRunner(t, q, func(svc msg) []msg {
		return []msg{answer(svc, 201, [][2]string{
			{"Content-Type", "text/plain; charset=utf-8"},
			{"Set-Cookie", "a=1; Path=/"},
			{"Set-Cookie", "b=2; Path=/"},
			{"X-Custom", "yes"},
		}, []byte("hello from the function\x00\xff"))}
	})
	f.routeAll(t, msg{"host": "*", "path": "/", "queue": q, "sha": "abc"})

	h := http.Header{}
	h.Add("X-Multi", "a")
	h.Add("X-Multi", "b")
	h.Add("Cookie", "session=abc123")
	h.Add("Referer", "http://ref.example/")
	h.Add("User-Agent", "funcatron-test/1")
	resp := f.do(t, "GET", "/hello/world?x=1&x=2&y=z&flag", nil, h)

	if resp.status != 201 {
		t.Fatalf("status %d, want 201 (body %q)", resp.status, resp.body)
	}
	if got := resp.header.Values("Set-Cookie"); len(got) != 2 || got[0] != "a=1; Path=/" || got[1] != "b=2; Path=/" {
		t.Errorf("Set-Cookie %q, want both cookies", got)
	}
	if resp.header.Get("X-Custom") != "yes" || resp.header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("headers %v", resp.header)
	}
	if string(resp.body) != "hello from the function\x00\xff" {
		t.Errorf("body %q", resp.body)
	}

	svcs := r.received()
	if len(svcs) != 1 {
		t.Fatalf("runner got %d service messages, want 1", len(svcs))
	}
	svc := svcs[0]
	want := msg{
		"action":              "service",
		"method":              "GET",
		"host":                "127.0.0.1",
		"uri":                 "/hello/world",
		"request-uri":         "/hello/world?x=1&x=2&y=z&flag",
		"args":                "x=1&x=2&y=z&flag",
		"scheme":              "http",
		"server-protocol":     "HTTP/1.1",
		"server-port":         strconv.Itoa(f.nginx.Port),
		"remote-addr":         "127.0.0.1",
		"reply-queue":         inbox,
		"body-base64-encoded": framing == "catalogue",
		"_framing":            framing,
		"_records":            1,
	}
	// the fields no runner reads (protocol.ServingSkips) are in the catalogue's form only
	unread := msg{
		"request":         "GET /hello/world?x=1&x=2&y=z&flag HTTP/1.1",
		"server-addr":     "127.0.0.1",
		"http-referer":    "http://ref.example/",
		"http-user-agent": "funcatron-test/1",
		"from":            inbox,
	}
	for k, v := range unread {
		if framing == "catalogue" {
			want[k] = v
		} else if got, ok := svc[k]; ok {
			t.Errorf("records request has %q = %v, which no runner reads", k, got)
		}
	}
	for k, v := range want {
		if svc[k] != v {
			t.Errorf("service[%q] = %#v, want %#v", k, svc[k], v)
		}
	}
	if id := str(svc["request-id"]); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) || svc["reply-to"] != id {
		t.Errorf("request-id %v, reply-to %v: want one $request_id in both", svc["request-id"], svc["reply-to"])
	}
	if p, err := strconv.Atoi(str(svc["remote-port"])); err != nil || p <= 0 {
		t.Errorf("remote-port %v", svc["remote-port"])
	}
	for _, k := range []string{"body", "body-length", "content-type", "remote-user"} {
		if v, ok := svc[k]; ok {
			t.Errorf("service has %q = %v, want it absent", k, v)
		}
	}
	if framing == "catalogue" && (str(svc["msg-id"]) == "" || svc["at"] == nil || svc["version"] == nil) {
		t.Errorf("service lacks msg-id/at/version: %v", svc)
	}
	if framing == "records" && (svc["msg-id"] != nil || svc["at"] != nil || svc["version"] != nil || svc["uri-args"] != nil) {
		t.Errorf("records request has msg-id/at/version/uri-args, which no runner reads: %v", svc)
	}
	// the catalogue's expiration is FUNCATRON_TIMEOUT; a batch's is its earliest request's
	// remaining time, a few ms less for a lone request
	exp, _ := strconv.Atoi(str(svc["_expiration"]))
	if (framing == "catalogue" && exp != 30000) || exp > 30000 || exp < 29000 ||
		svc["_persistent"] != false || svc["_content_type"] != "application/json" {
		t.Errorf("service published with expiration %v, persistent %v, content type %v; want 30000 (FUNCATRON_TIMEOUT), false, application/json",
			svc["_expiration"], svc["_persistent"], svc["_content_type"])
	}
	args, _ := svc["uri-args"].(msg)
	if framing == "catalogue" && (fmt.Sprint(args["x"]) != "[1 2]" || args["y"] != "z" || args["flag"] != true) {
		t.Errorf("uri-args %v, want x:[1 2] y:z flag:true", svc["uri-args"])
	}
	hdrs, _ := svc["headers"].(msg)
	if fmt.Sprint(hdrs["x-multi"]) != "[a b]" || hdrs["cookie"] != "session=abc123" ||
		hdrs["host"] != fmt.Sprintf("127.0.0.1:%d", f.nginx.Port) || hdrs["user-agent"] != "funcatron-test/1" {
		t.Errorf("headers %v", svc["headers"])
	}

	// the routes dump shows the table without anything else
	var dump struct {
		Routes []msg `json:"routes"`
	}
	if err := json.Unmarshal(f.get(t, "/__funcatron/routes").body, &dump); err != nil || len(dump.Routes) != 1 ||
		dump.Routes[0]["queue"] != q || dump.Routes[0]["path"] != "/" || dump.Routes[0]["sha"] != "abc" {
		t.Errorf("routes dump %v (%v)", dump, err)
	}
	if hl := f.health(t); hl["connected"] != true || hl["routes"] != float64(1) || hl["waiting"] != float64(0) {
		t.Errorf("health %v", hl)
	}

	// tron-info is kept (health shows it)
	f.tron.send(t, inbox, msg{"action": "tron-info", "msg-id": "ti", "tron-host": msg{"host": "tron.example", "port": 3000}})
	testenv.WaitFor(t, 5*time.Second, "tron-host in health", func() bool {
		th, _ := f.health(t)["tron-host"].(msg)
		return th["host"] == "tron.example"
	})
}

// TestFrontendPOSTLargeBody sends 1 MiB of random bytes (NULs included): nginx spools it to a
// temp file, the frontend still reads it, and it round-trips through the runner raw (records
// framing both ways); 9 MiB, over FUNCATRON_MAX_BATCH_BYTES, travel alone.
func TestFrontendPOSTLargeBody(t *testing.T) {
	t.Parallel()
	f := startFrontend(t, frontendOptions{})
	q := uniqueName("q")
	r := newRunner(t, q, echo)
	f.routeAll(t, msg{"path": "/upload", "queue": q})

	body := make([]byte, 1<<20)
	rand.Read(body)
	body[0], body[len(body)-1] = 0, 0
	resp := f.do(t, "POST", "/upload/file?name=x", body, http.Header{"Content-Type": {"application/octet-stream"}})
	if resp.status != 200 || !bytes.Equal(resp.body, body) {
		t.Fatalf("status %d, body %d bytes equal=%v", resp.status, len(resp.body), bytes.Equal(resp.body, body))
	}
	svc := r.received()[0]
	if sent := reqBody(svc); !bytes.Equal(sent, body) || svc["body-length"] != float64(len(body)) || svc["body"] != nil ||
		svc["body-base64-encoded"] != false || svc["_framing"] != "records" {
		t.Errorf("service body: %d raw bytes (equal=%v), body-length %v, body field %v, body-base64-encoded %v, framing %v; want the body raw in a record",
			len(sent), bytes.Equal(sent, body), svc["body-length"], svc["body"] != nil, svc["body-base64-encoded"], svc["_framing"])
	}
	if svc["content-type"] != "application/octet-stream" || svc["method"] != "POST" {
		t.Errorf("service content-type %v method %v", svc["content-type"], svc["method"])
	}
	if !strings.Contains(f.nginx.ErrorLog(), "buffered to a temporary file") {
		t.Errorf("nginx did not spool the 1 MiB body to a temp file; the test does not show what it should")
	}

	// a small POST stays in memory, and an empty one has no body key
	resp = f.do(t, "POST", "/upload", []byte(`{"n":42}`), http.Header{"Content-Type": {"application/json"}})
	if resp.status != 200 || string(resp.body) != `{"n":42}` {
		t.Errorf("small POST: %d %q", resp.status, resp.body)
	}
	resp = f.do(t, "POST", "/upload", []byte{}, nil)
	if resp.status != 200 || len(resp.body) != 0 {
		t.Errorf("empty POST: %d %q", resp.status, resp.body)
	}
	if last := r.received()[2]; last["body"] != nil || last["body-length"] != nil || len(reqBody(last)) != 0 {
		t.Errorf("empty POST sent body %v, body-length %v, want both keys absent and no raw bytes", last["body"], last["body-length"])
	}

	// near client_max_body_size (10m) a body still makes the round trip
	big := make([]byte, 9<<20)
	rand.Read(big)
	resp = f.do(t, "PUT", "/upload/big", big, http.Header{"Content-Type": {"application/octet-stream"}})
	if resp.status != 200 || !bytes.Equal(resp.body, big) {
		t.Errorf("9 MiB PUT: %d, %d bytes back, equal=%v", resp.status, len(resp.body), bytes.Equal(resp.body, big))
	}
}

// TestFrontendRouting checks host rules, segment boundaries and longest-path-first through
// nginx (the table logic itself is in frontend-lua/spec/routes_spec.lua).
func TestFrontendRouting(t *testing.T) {
	t.Parallel()
	f := startFrontend(t, frontendOptions{})
	qs := map[string]string{}
	for _, name := range []string{"any-api", "host-api-v2", "host-root", "any-root"} {
		qs[name] = uniqueName("q")
		newRunner(t, qs[name], fixed(name))
	}
	f.routeAll(t,
		msg{"host": "Example.COM:8080", "path": "/api/v2", "queue": qs["host-api-v2"]},
		msg{"host": "*", "path": "/api", "queue": qs["any-api"]},
		msg{"host": "example.com", "path": "/", "queue": qs["host-root"]},
		msg{"host": nil, "path": "/", "queue": qs["any-root"]},
	)
	cases := []struct{ host, path, want string }{
		{"example.com", "/api/v2/x", "host-api-v2"},
		{"EXAMPLE.com:1234", "/api/v2", "host-api-v2"},
		{"other.org", "/api/v2/x", "any-api"},
		{"example.com", "/api/v2x", "any-api"},
		{"example.com", "/api", "any-api"},
		{"example.com", "/apix", "host-root"},
		{"other.org", "/apix", "any-root"},
		{"other.org", "/", "any-root"},
	}
	for _, c := range cases {
		resp := f.do(t, "GET", c.path, nil, http.Header{"Host": {c.host}})
		if resp.status != 200 || string(resp.body) != c.want {
			t.Errorf("Host %s %s: %d %q, want %q", c.host, c.path, resp.status, resp.body, c.want)
		}
	}
}

// TestFrontendErrors checks each error status and its JSON body: 404, 503 (the Tron says no
// runner serves the route), 413, 504 (late answers dropped), 502, and that a second answer loses.
func TestFrontendErrors(t *testing.T) {
	t.Parallel()
	f := startFrontend(t, frontendOptions{timeout: "1"})
	okQ, slowQ, badQ, dupQ := uniqueName("q"), uniqueName("q"), uniqueName("q"), uniqueName("q")
	newRunner(t, okQ, echo)
	slow := newRunner(t, slowQ, func(msg) []msg { return nil })
	var badN atomic.Int64
	newRunner(t, badQ, func(svc msg) []msg {
		switch badN.Add(1) {
		case 1:
			return []msg{{"action": "answer", "request-id": svc["reply-to"], "answer": msg{"status": 200, "body": "*not base64*"}}}
		case 2:
			return []msg{{"action": "answer", "request-id": svc["reply-to"], "answer": msg{"status": "OK"}}}
		case 3:
			return []msg{{"action": "answer", "request-id": svc["reply-to"]}}
		default:
			return []msg{{"action": "answer", "request-id": svc["reply-to"], "answer": msg{"status": 200, "headers": msg{"a": "b"}}}}
		}
	})
	newRunner(t, dupQ, func(svc msg) []msg {
		return []msg{
			answer(svc, 200, nil, []byte("first")),
			answer(svc, 500, nil, []byte("second")),
		}
	})
	f.routeAll(t,
		msg{"path": "/api", "queue": okQ},
		msg{"path": "/slow", "queue": slowQ},
		msg{"path": "/bad", "queue": badQ},
		msg{"path": "/dup", "queue": dupQ},
		msg{"path": "/unserved", "queue": uniqueName("q"), "runners": 0},
	)

	t.Run("404 no route", func(t *testing.T) {
		wantError(t, f.get(t, "/apix/y"), 404, "no function serves 127.0.0.1/apix/y")
		if r := f.get(t, "/api/y"); r.status != 200 {
			t.Errorf("/api/y: %d", r.status)
		}
	})
	t.Run("503 no runner serves the route", func(t *testing.T) {
		r := f.get(t, "/unserved/x")
		wantError(t, r, 503, "no runner serves /unserved right now")
		if r.header.Get("Retry-After") == "" {
			t.Errorf("no Retry-After on the 503: %v", r.header)
		}
		if r.elapsed > 500*time.Millisecond {
			t.Errorf("503 took %s: a route nobody serves is answered at once", r.elapsed)
		}
	})
	t.Run("413 body too large", func(t *testing.T) {
		status, body := rawRequest(t, f.nginx.Port, "POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 11534336\r\nContent-Type: text/plain\r\n\r\n")
		if status != 413 || !strings.Contains(body, `"error"`) {
			t.Errorf("status %d body %q, want 413 JSON", status, body)
		}
	})
	t.Run("504 timeout and late answer dropped", func(t *testing.T) {
		r := f.get(t, "/slow")
		wantError(t, r, 504, "no answer")
		if r.elapsed < 900*time.Millisecond || r.elapsed > 5*time.Second {
			t.Errorf("504 after %s, want about FUNCATRON_TIMEOUT=1s", r.elapsed)
		}
		svc := slow.received()[0]
		if err := slow.reply(svc, answer(svc, 200, nil, []byte("too late"))); err != nil {
			t.Fatal(err)
		}
		id := str(svc["request-id"])
		testenv.WaitFor(t, 5*time.Second, "the late answer to be dropped", func() bool {
			return strings.Contains(f.nginx.ErrorLog(), "answer for "+id+" dropped")
		})
		if r := f.get(t, "/api/after"); r.status != 200 || r.header.Get("X-Request-Id") == id {
			t.Errorf("after a late answer: %d %v", r.status, r.header)
		}
		if h := f.health(t); h["waiting"] != float64(0) {
			t.Errorf("waiting %v after the timeout, want 0", h["waiting"])
		}
	})
	t.Run("502 malformed answers", func(t *testing.T) {
		for i, want := range []string{"base64", "status", "not an object", "pairs"} {
			r := f.get(t, "/bad")
			wantError(t, r, 502, want)
			if r.elapsed > 900*time.Millisecond {
				t.Errorf("malformed answer %d took %s", i, r.elapsed)
			}
		}
	})
	t.Run("first answer wins", func(t *testing.T) {
		r := f.get(t, "/dup")
		if r.status != 200 || string(r.body) != "first" {
			t.Errorf("%d %q, want the first answer", r.status, r.body)
		}
	})
}

// rawRequest writes a raw HTTP request and returns the response status and body.
func rawRequest(t testing.TB, port int, req string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestFrontendNoRouteTable: before any `route` arrived a request waits up to 1 s, then 503.
func TestFrontendNoRouteTable(t *testing.T) {
	t.Parallel()
	f := startFrontend(t, frontendOptions{})
	r := f.get(t, "/anything")
	wantError(t, r, 503, "no route table")
	if r.elapsed < 900*time.Millisecond || r.elapsed > 3*time.Second {
		t.Errorf("503 after %s, want after waiting about 1 s", r.elapsed)
	}
	// a table arriving while a request waits serves that request
	q := uniqueName("q")
	newRunner(t, q, fixed("late table"))
	done := make(chan response, 1)
	go func() {
		resp, err := client.Get(f.nginx.URL() + "/x")
		if err != nil {
			done <- response{status: -1}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- response{status: resp.StatusCode, body: b}
	}()
	testenv.WaitFor(t, 5*time.Second, "the request to wait for a table", func() bool {
		return f.health(t)["table-waiters"] == float64(1)
	})
	f.routeAll(t, msg{"path": "/", "queue": q})
	if r := <-done; r.status != 200 || string(r.body) != "late table" {
		t.Errorf("waiting request: %d %q", r.status, r.body)
	}
}

// TestFrontendTronQueueMissing: the Tron queue does not exist yet, so the broker drops the
// awake without a word (the frontend no longer probes the queue: frontend.md "No probing").
// Once a Tron consumes the queue it sees the worker's heartbeats and asks for resend-awake,
// and the worker awakes.
func TestFrontendTronQueueMissing(t *testing.T) {
	t.Parallel()
	f := startFrontend(t, frontendOptions{noTronYet: true, heartbeat: "0.2"})
	testenv.WaitFor(t, 10*time.Second, "the listener to connect", func() bool { return f.health(t)["connected"] == true })
	f.tron = newTron(t, f.tronQueue)
	hb := f.tron.next(t, 5*time.Second, "a heartbeat", isAction("heartbeat"))
	f.tron.send(t, str(hb["from"]), msg{"action": "resend-awake", "msg-id": "r1", "at": time.Now().UnixMilli()})
	f.waitAwakes(t, 1)
	if strings.Contains(f.nginx.ErrorLog(), "NOT_FOUND") {
		t.Errorf("the frontend probed the missing Tron queue:\n%s", f.nginx.ErrorLog())
	}
}

// TestFrontendTwoWorkers: each worker has its own inbox and node id, and answers reach the
// worker that asked (every response carries its own request id).
func TestFrontendTwoWorkers(t *testing.T) {
	t.Parallel()
	f := startFrontend(t, frontendOptions{workers: 2})
	if f.inbox(0) == f.inbox(1) {
		t.Fatalf("both workers use inbox %s", f.inbox(0))
	}
	ids := []string{str(f.awakes[0]["instance-id"]), str(f.awakes[1]["instance-id"])}
	base := strings.TrimSuffix(ids[0], ids[0][strings.LastIndex(ids[0], "-"):])
	if !((ids[0] == base+"-0" && ids[1] == base+"-1") || (ids[0] == base+"-1" && ids[1] == base+"-0")) {
		t.Errorf("instance ids %v, want <INSTANCEID>-0 and <INSTANCEID>-1", ids)
	}
	q := uniqueName("q")
	r := newRunner(t, q, echo)
	f.routeAll(t, msg{"path": "/", "queue": q})

	// new connections land on either worker; go on until both inboxes were used
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := c.Post(f.nginx.URL()+"/echo", "text/plain", strings.NewReader("x"))
				if err != nil {
					errs <- err.Error()
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 || string(b) != "x" || resp.Header.Get("X-Request-Id") == "" {
					errs <- fmt.Sprintf("%d %q %v", resp.StatusCode, b, resp.Header)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Errorf("request failed: %s", e)
		}
		if t.Failed() {
			t.FailNow()
		}
		used := map[string]bool{}
		for _, svc := range r.received() {
			used[str(svc["reply-queue"])] = true
		}
		if used[f.inbox(0)] && used[f.inbox(1)] && len(used) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reply queues used: %v, want both %s and %s", used, f.inbox(0), f.inbox(1))
		}
	}
}

// TestFrontendControl: `resend-awake` brings a new awake; `die` stops that worker's listener
// and heartbeats (it says `died`), while the other worker, and a `die` for another instance
// id, change nothing.
func TestFrontendControl(t *testing.T) {
	t.Parallel()
	f := startFrontend(t, frontendOptions{workers: 2, heartbeat: "0.2"})
	a, b := f.inbox(0), f.inbox(1)
	for _, in := range []string{a, b} {
		hb := f.tron.next(t, 5*time.Second, "heartbeat from "+in, from("heartbeat", in))
		if hb["type"] != "frontend" || str(hb["msg-id"]) == "" || hb["_persistent"] != true || hb["_signed"] != true {
			t.Errorf("heartbeat %v (want persistent and signed with the frontend key)", hb)
		}
	}

	f.tron.send(t, a, msg{"action": "resend-awake", "msg-id": "r1", "at": time.Now().UnixMilli()})
	aw := f.tron.next(t, 5*time.Second, "awake again from "+a, from("awake", a))
	if aw["instance-id"] != f.awakes[0]["instance-id"] {
		t.Errorf("second awake %v", aw)
	}

	// an unknown action and a die for someone else are ignored
	f.tron.send(t, b, msg{"action": "no-such-action", "msg-id": "u1"})
	f.tron.send(t, b, msg{"action": "die", "msg-id": "d0", "instance-id": "someone-else"})

	f.tron.send(t, a, msg{"action": "die", "msg-id": "d1", "instance-id": f.awakes[0]["instance-id"], "at": time.Now().UnixMilli()})
	f.tron.next(t, 5*time.Second, "died from "+a, from("died", a))
	// from now on: heartbeats from b only
	n := 0
	f.tron.next(t, 10*time.Second, "5 heartbeats from "+b, func(m msg) bool {
		if m["from"] == a {
			t.Errorf("%v from %s after it died", m["action"], a)
		}
		if m["action"] == "heartbeat" && m["from"] == b {
			n++
		}
		return n == 5
	})

	// a worker that exits (nginx quits gracefully) says died
	f.nginx.Stop()
	f.tron.next(t, 5*time.Second, "died from "+b+" on exit", from("died", b))
}

// TestFrontendQueuedRequestsWait: a request to a route whose queue has no consumer yet (and
// no runner count from the Tron) waits in the queue with the messages before it, and the
// frontend takes none of them: a runner that comes in time gets all and answers.
func TestFrontendQueuedRequestsWait(t *testing.T) {
	t.Parallel()
	f := startFrontend(t, frontendOptions{})
	q := uniqueName("q")
	ch := channel(t, dialAMQP(t))
	if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := publishJSON(ch, q, msg{"marker": i}); err != nil {
			t.Fatal(err)
		}
	}
	f.routeAll(t, msg{"path": "/", "queue": q})

	done := make(chan response, 1)
	go func() {
		resp, err := client.Get(f.nginx.URL() + "/queued")
		if err != nil {
			done <- response{status: -1, body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- response{status: resp.StatusCode, body: b}
	}()
	testenv.WaitFor(t, 10*time.Second, "the 5 markers and the request in the queue", func() bool {
		qi, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
		return err == nil && qi.Messages == 6
	})
	r := newRunner(t, q, func(svc msg) []msg {
		if svc["action"] != "service" {
			return nil
		}
		return fixed("queued")(svc)
	})
	if resp := <-done; resp.status != 200 || string(resp.body) != "queued" {
		t.Fatalf("request: %d %s", resp.status, resp.body)
	}
	testenv.WaitFor(t, 5*time.Second, "the runner to get all 6 messages", func() bool { return len(r.received()) == 6 })
}

// TestFrontendPooledConnections: requests reuse pooled STOMP connections: after many
// sequential requests nginx holds a handful of broker connections, not one per request.
func TestFrontendPooledConnections(t *testing.T) {
	t.Parallel()
	f := startFrontend(t, frontendOptions{})
	q := uniqueName("q")
	newRunner(t, q, fixed("ok"))
	f.routeAll(t, msg{"path": "/", "queue": q})
	before := nginxBrokerConnections(t, f.nginx)
	if len(before) != 1 {
		t.Fatalf("before requests: %d broker connections, want 1 (the listener)", len(before))
	}
	// Every connection that is not the listener's, seen after each request: with a working
	// pool that is one connection (one local port) all along; a pool that closes its
	// connections shows a new port per request, or none.
	pooled := map[string]bool{}
	for i := range 50 {
		if r := f.get(t, "/p"); r.status != 200 {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
		for _, port := range nginxBrokerConnections(t, f.nginx) {
			if port != before[0] {
				pooled[port] = true
			}
		}
	}
	if len(pooled) != 1 {
		t.Errorf("50 sequential requests used %d pooled broker connections, want 1 reused", len(pooled))
	}
}

// nginxBrokerConnections lists the local ports of nginx's established connections to the
// broker's STOMP port (sockets of the nginx processes, matched in /proc/net/tcp).
func nginxBrokerConnections(t testing.TB, n *servers.Nginx) []string {
	t.Helper()
	inodes := map[string]bool{}
	pids := nginxPids(t, n)
	for _, pid := range pids {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if err == nil && strings.HasPrefix(l, "socket:[") {
				inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
			}
		}
	}
	var out []string
	b, _ := os.ReadFile("/proc/net/tcp")
	for _, line := range strings.Split(string(b), "\n")[1:] {
		fs := strings.Fields(line)
		if len(fs) < 10 || fs[3] != "01" || !inodes[fs[9]] {
			continue
		}
		if strings.HasSuffix(fs[2], fmt.Sprintf(":%04X", sharedRabbit.STOMPPort)) {
			out = append(out, fs[1])
		}
	}
	return out
}

// nginxPids returns the pids of nginx's master and workers (the process group of the master).
func nginxPids(t testing.TB, n *servers.Nginx) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.Prefix, "nginx.pid"))
	if err != nil {
		t.Fatalf("reading nginx.pid: %v", err)
	}
	master := strings.TrimSpace(string(b))
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		fs := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if e.Name() == master || (len(fs) > 1 && fs[1] == master) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestFrontendBrokerRestart: with RabbitMQ down requests fail fast (503); after it is back the
// listener reconnects by itself, sends awake again from the same inbox, and requests are
// served. Not parallel: it stops the shared broker.
func TestFrontendBrokerRestart(t *testing.T) {
	f := startFrontend(t, frontendOptions{})
	q := uniqueName("q")
	r := newRunner(t, q, fixed("before"))
	f.routeAll(t, msg{"path": "/", "queue": q})
	if resp := f.get(t, "/r"); resp.status != 200 {
		t.Fatalf("before restart: %d %s", resp.status, resp.body)
	}

	sharedRabbit.Stop()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			sharedRabbit.Start()
		}
	})
	testenv.WaitFor(t, 10*time.Second, "the listener to notice", func() bool { return f.health(t)["connected"] == false })
	resp := f.get(t, "/r")
	// What failed, for the client; where (the broker's address) only in the error log.
	wantError(t, resp, 503, "the message bus is unreachable")
	if port := strconv.Itoa(sharedRabbit.STOMPPort); strings.Contains(string(resp.body), port) || strings.Contains(string(resp.body), "127.0.0.1") {
		t.Errorf("the error body names the broker's address: %s", resp.body)
	}
	if resp.elapsed > time.Second {
		t.Errorf("with the broker down the 503 took %s", resp.elapsed)
	}

	if err := sharedRabbit.Start(); err != nil {
		t.Fatalf("restarting RabbitMQ: %v", err)
	}
	restarted = true
	back := time.Now()
	f.tron.connect(t) // the durable Tron queue survived; our old connections did not
	r.connect(t, fixed("after"))
	aw := f.tron.next(t, 15*time.Second, "awake after the restart", isAction("awake"))
	if aw["from"] != f.inbox(0) {
		t.Errorf("awake after restart from %v, want the same inbox %s", aw["from"], f.inbox(0))
	}
	f.tron.sendRoutes(t, f.inbox(0), []msg{{"path": "/", "queue": q}})
	testenv.WaitFor(t, 10*time.Second, "requests to be served again", func() bool {
		resp := f.get(t, "/r")
		return resp.status == 200 && string(resp.body) == "after"
	})
	t.Logf("served again %s after RabbitMQ was back", time.Since(back).Round(time.Millisecond))
}

// BenchmarkFrontendRoundTrip drives requests through nginx → RabbitMQ → a Go runner that
// answers at once (echoing the body) → back, from parallel clients, in both framings and
// with an empty and a 64 KiB body (go test -bench FrontendRoundTrip ./integration/): the
// frontend's own cost, without a bundle.
func BenchmarkFrontendRoundTrip(b *testing.B) {
	for _, framing := range []string{"records", "catalogue"} {
		for _, size := range []int{0, 64 << 10} {
			b.Run(fmt.Sprintf("%s/%dB", framing, size), func(b *testing.B) {
				benchRoundTrip(b, framing, size)
			})
		}
	}
}

func benchRoundTrip(b *testing.B, framing string, size int) {
	f := startFrontend(b, frontendOptions{workers: 2, env: map[string]string{"FUNCATRON_FRAMING": framing}})
	q := uniqueName("q")
	newRunner(b, q, echo)
	f.routeAll(b, msg{"path": "/", "queue": q})
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	body := bytes.Repeat([]byte("x"), size)
	pids := nginxPids(b, f.nginx)
	b.SetParallelism(8)
	cpu := procTicks(pids)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			status, got, err := post(c, f.nginx.URL()+"/bench", body)
			if err != nil || status != 200 || len(got) != size {
				b.Errorf("status %d, %d bytes, %v", status, len(got), err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	// nginx's CPU per request: what the frontend costs, less noisy than req/s on a shared machine
	b.ReportMetric(float64(procTicks(pids)-cpu)*1e6/100/float64(b.N), "nginx-µs/op")
}

// procTicks sums the CPU time (user + system, in clock ticks of 10 ms) of the processes.
func procTicks(pids []int) int {
	sum := 0
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		fs := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(fs) > 12 {
			u, _ := strconv.Atoi(fs[11])
			st, _ := strconv.Atoi(fs[12])
			sum += u + st
		}
	}
	return sum
}
