// The test harness: one RabbitMQ for the package, the test function built once, a test
// Tron and a test frontend that speak the protocol over a real broker.

package runner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/funcatron/funcatron/runner/kind"
	"github.com/funcatron/funcatron/runner/kinds"
)

var (
	rabbit *servers.RabbitMQ
	// fnProg is what test bundles hold as bin/fn: a script that runs the test function
	// (testdata/fn, built once). Bundles stay a few hundred bytes, which keeps zip work
	// out of the test time (it is slow under -race).
	fnProg []byte
)

// testUIDs are the bundle uids of the test runners (the tests run as root; the leases are
// host-wide, so other packages' tests may use the same range at the same time).
var testUIDs = kind.UIDRange{First: 61000, Last: 61999}

// leakVar is set in the test process: a bundle process must never see it.
const leakVar = "FUNCATRON_RUNNER_TEST_SECRET"

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	os.Setenv(leakVar, "must-not-leak")
	dir, err := os.MkdirTemp("", "runner-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	var wg sync.WaitGroup
	var buildErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		os.Chmod(dir, 0o755) // bundle processes run as a uid of testUIDs: they must reach fn
		out := filepath.Join(dir, "fn")
		cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", out, "./testdata/fn")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building testdata/fn: %v\n%s", err, b)
			return
		}
		fnProg = []byte("#!/bin/sh\nexec " + out + "\n")
	}()
	rdir := filepath.Join(dir, "rabbit")
	os.Mkdir(rdir, 0o755)
	rabbit, err = servers.NewRabbitMQ(rdir)
	wg.Wait()
	if err != nil || buildErr != nil {
		fmt.Fprintln(os.Stderr, "runner tests:", err, buildErr)
		if rabbit != nil {
			rabbit.Close()
		}
		return 1
	}
	defer rabbit.Close()
	return m.Run()
}

// uniq gives a name unique to the test, usable as a host name.
func uniq(t testing.TB) string {
	s := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
	return strings.Trim(s, "-") + "-" + uuid.NewString()[:8]
}

// ---- bundles ----

// file is one file of a test bundle.
type file struct {
	name string
	data []byte
	mode os.FileMode
}

// makeBundle packs a manifest and files into a bundle.
func makeBundle(t testing.TB, manifest string, files ...file) []byte {
	t.Helper()
	dir := t.TempDir()
	files = append(files, file{"funcatron.yaml", []byte(manifest), 0o644})
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := bundles.Pack(&buf, dir); err != nil {
		t.Fatalf("packing bundle: %v", err)
	}
	return buf.Bytes()
}

// fnPaths are the operations of the test function.
const fnPaths = `paths:
  /hello/{name}: {get: {operationId: hello}}
  /echo: {get: {operationId: echo}, post: {operationId: echoPost}}
  /crash: {get: {operationId: crash}}
  /hang: {get: {operationId: hang}}
  /slow: {get: {operationId: slow}}
  /pid: {get: {operationId: pid}}
  /empty: {get: {operationId: empty}}
  /probe: {get: {operationId: probe}}
`

// fnBundle is a bundle of the test function on (host, basePath); exec holds extra lines
// of the x-funcatron.exec section, indented by four spaces.
func fnBundle(t testing.TB, host, basePath string, exec ...string) []byte {
	manifest := fmt.Sprintf(`swagger: "2.0"
info: {title: fn, version: "1"}
host: %s
basePath: %s
x-funcatron:
  kind: exec
  exec:
    command: [bin/fn]
%s
%s`, host, basePath, indent(exec), fnPaths)
	return makeBundle(t, manifest, file{"bin/fn", fnProg, 0o755})
}

func indent(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

func shaOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// ---- the test Tron ----

// tron is a Tron stand-in: it consumes its queue, serves bundle downloads and sends
// control messages to runner inboxes.
type tron struct {
	t     testing.TB
	queue string
	ch    *amqp.Channel
	srv   *httptest.Server

	mu        sync.Mutex
	msgs      []protocol.Message
	bundles   map[string][]byte
	downloads atomic.Int64
}

func newTron(t testing.TB) *tron {
	t.Helper()
	tr := &tron{t: t, queue: "tron-" + uniq(t), bundles: map[string][]byte{}}
	tr.reconnect()
	t.Cleanup(func() { tr.ch.QueueDelete(tr.queue, false, false, false) })
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sha := strings.TrimPrefix(r.URL.Path, "/bundle/")
		tr.mu.Lock()
		b, ok := tr.bundles[sha]
		tr.mu.Unlock()
		if !ok || r.URL.Query().Get("sig") != "ok" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		tr.downloads.Add(1)
		w.Write(b)
	}))
	t.Cleanup(tr.srv.Close)
	return tr
}

// reconnect connects to the broker, declares the Tron queue and consumes it (again, after
// a broker restart).
func (tr *tron) reconnect() {
	t := tr.t
	t.Helper()
	_, ch := testenv.AMQPChannel(t, rabbit.URL())
	// The Tron's part of the topology, which the runner leaves to it: the dead-letter
	// exchange and the Tron queue (with the arguments of amqpbus.TronQueue).
	if err := ch.ExchangeDeclare(protocol.DeadLetterExchange, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	args := amqp.Table{"x-dead-letter-exchange": protocol.DeadLetterExchange}
	if _, err := ch.QueueDeclare(tr.queue, true, false, false, false, args); err != nil {
		t.Fatal(err)
	}
	ds, err := ch.Consume(tr.queue, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	tr.ch = ch
	tr.mu.Unlock()
	go func() {
		for d := range ds {
			m, err := protocol.Decode(d.ContentType, d.Body)
			if err != nil {
				t.Errorf("the runner sent an undecodable message: %v: %s", err, d.Body)
				continue
			}
			if d.DeliveryMode != amqp.Persistent {
				t.Errorf("%s to the Tron queue is not persistent", m.Head().Action)
			}
			if err := testenv.VerifySigned(protocol.RoleRunner, harnessKey, tr.queue, d); err != nil {
				t.Errorf("%s from the runner: %v", m.Head().Action, err)
			}
			tr.mu.Lock()
			tr.msgs = append(tr.msgs, m)
			tr.mu.Unlock()
		}
	}()
}

// upload makes a bundle downloadable under its sha (or under sha, when given).
func (tr *tron) upload(b []byte, sha ...string) string {
	s := shaOf(b)
	if len(sha) > 0 && sha[0] != "" {
		s = sha[0]
	}
	tr.mu.Lock()
	tr.bundles[s] = b
	tr.mu.Unlock()
	return s
}

// all returns every message received so far.
func (tr *tron) all() []protocol.Message {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]protocol.Message(nil), tr.msgs...)
}

// wait returns the first message received that satisfies pred, waiting up to within.
func (tr *tron) wait(within time.Duration, what string, pred func(protocol.Message) bool) protocol.Message {
	tr.t.Helper()
	var found protocol.Message
	testenv.WaitFor(tr.t, within, what, func() bool {
		for _, m := range tr.all() {
			if pred(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// awake waits for the awake of the runner with inbox.
func (tr *tron) awake(inbox string) *protocol.Awake {
	tr.t.Helper()
	return tr.wait(10*time.Second, "awake from "+inbox, func(m protocol.Message) bool {
		a, ok := m.(*protocol.Awake)
		return ok && a.From == inbox
	}).(*protocol.Awake)
}

// send publishes m, EDN-encoded and signed with the runner key as the Tron sends it, to a
// runner inbox.
func (tr *tron) send(inbox string, m protocol.Message) string {
	tr.t.Helper()
	return tr.sendSigned(inbox, inbox, harnessKey, m)
}

// sendSigned publishes m to inbox, signed with key for the queue signedFor (nil key: unsigned).
func (tr *tron) sendSigned(inbox, signedFor string, key []byte, m protocol.Message) string {
	tr.t.Helper()
	protocol.Stamp(m, tr.queue, "test")
	body, err := protocol.Encode(protocol.EDN, m)
	if err != nil {
		tr.t.Fatal(err)
	}
	tr.publishRaw(inbox, signedHeaders(key, signedFor, m.Head(), body), body)
	return m.Head().MsgID
}

// publishRaw publishes body with headers to inbox, as anyone on the broker can.
func (tr *tron) publishRaw(inbox string, headers amqp.Table, body []byte) {
	tr.t.Helper()
	err := tr.ch.PublishWithContext(context.Background(), "", inbox, true, false,
		amqp.Publishing{ContentType: protocol.ContentTypeEDN, Body: body, Headers: headers})
	if err != nil {
		tr.t.Fatal(err)
	}
}

// harnessKey is the runner key of the runners these tests start.
var harnessKey = []byte("runner-key-for-runner-tests-0123456789")

// signedHeaders are the transport headers that sign body for queue (none for a nil key).
func signedHeaders(key []byte, queue string, h *protocol.Header, body []byte) amqp.Table {
	if key == nil {
		return nil
	}
	t := amqp.Table{}
	for k, v := range protocol.SignHeaders(key, queue, h, body) {
		t[k] = v
	}
	return t
}

// enable sends an enable with a signed URL and returns its msg-id.
func (tr *tron) enable(inbox, sha, host, path string, props protocol.Props) string {
	return tr.send(inbox, &protocol.Enable{
		TronHost: protocol.HostPort{Host: "127.0.0.1", Port: 1}, SHA: sha, Props: props, Host: host, Path: path,
		URL: tr.srv.URL + "/bundle/" + sha + "?sig=ok",
	})
}

// ack waits for the ack of msgID.
func (tr *tron) ack(msgID string, within time.Duration) *protocol.Ack {
	tr.t.Helper()
	return tr.wait(within, "ack of "+msgID, func(m protocol.Message) bool {
		a, ok := m.(*protocol.Ack)
		return ok && a.AckID == msgID
	}).(*protocol.Ack)
}

// enableOK enables a bundle and fails the test unless the runner acks ok.
func (tr *tron) enableOK(inbox, sha, host, path string, props protocol.Props) {
	tr.t.Helper()
	ack := tr.ack(tr.enable(inbox, sha, host, path, props), 20*time.Second)
	if ack.Status != protocol.AckOK {
		tr.t.Fatalf("enable acked %s: %s", ack.Status, ack.Error)
	}
}

// serveFn uploads fnBundle(host, path, exec...) and enables it on the runner at inbox with
// props, acked ok: the route most tests send requests to. It returns the bundle's sha and
// the route queue.
func (tr *tron) serveFn(inbox, host, path string, props protocol.Props, exec ...string) (sha, queue string) {
	tr.t.Helper()
	sha = tr.upload(fnBundle(tr.t, host, path, exec...))
	tr.enableOK(inbox, sha, host, path, props)
	return sha, protocol.RouteQueue(host, path)
}

// ---- the runner under test ----

// startRunner starts a runner reporting to tr and returns it once the Tron got its awake.
func startRunner(t testing.TB, tr *tron, mod ...func(*Options)) *Runner {
	t.Helper()
	lw := testenv.NewLogWriter(t)
	o := NewOptions()
	o.RabbitURL, o.TronQueue, o.Listen, o.DataDir, o.BusKey = rabbit.URL(), tr.queue, "127.0.0.1:0", t.TempDir(), harnessKey
	o.Logger = slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.StopGrace, o.Kinds, o.BundleUIDs = time.Second, kinds.All(), testUIDs
	for _, f := range mod {
		f(o)
	}
	r, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			lw.Close()
		})
	}
	t.Cleanup(stop)
	stops.Store(r, stop)
	tr.awake(r.Inbox())
	return r
}

// stops holds each started runner's stop function.
var stops sync.Map

// stopRunner stops a runner started by startRunner and waits until Run returned.
func stopRunner(r *Runner) {
	if f, ok := stops.Load(r); ok {
		f.(func())()
	}
}

// ---- the test frontend ----

// frontend publishes service requests to route queues and collects the answers from its
// own reply queue, as the Lua frontend does.
type frontend struct {
	t     testing.TB
	ch    *amqp.Channel
	queue string

	mu       sync.Mutex
	answers  map[string][]*protocol.Answer
	raw      map[string][]byte // the first answer's body as it came, per request id
	framing  map[string]string // how the first answer came, per request id: "records" or "catalogue"
	messages int               // answer messages received
}

// receive takes one answer message: a catalogue answer, or a records message of answers.
func (f *frontend) receive(d amqp.Delivery) {
	t := f.t
	if d.ContentType != protocol.ContentTypeJSON {
		t.Errorf("answer content type %q, want JSON", d.ContentType)
	}
	framing, answers := "catalogue", []*protocol.Answer{new(protocol.Answer)}
	if d.Headers[protocol.HeaderFraming] != nil {
		framing = protocol.FramingRecords
		var err error
		if answers, err = decodeAnswerRecords(d); err != nil {
			t.Errorf("undecodable answer records: %v: %q", err, d.Body)
			return
		}
	} else if err := protocol.DecodeAs(d.ContentType, d.Body, answers[0]); err != nil {
		t.Errorf("undecodable answer: %v: %s", err, d.Body)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.messages++
	for _, a := range answers {
		f.answers[a.RequestID] = append(f.answers[a.RequestID], a)
		if f.raw[a.RequestID] == nil {
			f.raw[a.RequestID] = d.Body
			f.framing[a.RequestID] = framing
		}
	}
}

// decodeAnswerRecords reads a records message of answers, as our frontend does.
func decodeAnswerRecords(d amqp.Delivery) ([]*protocol.Answer, error) {
	if d.Headers[protocol.HeaderFraming] != protocol.FramingRecords {
		return nil, fmt.Errorf("%s %v", protocol.HeaderFraming, d.Headers[protocol.HeaderFraming])
	}
	n, err := protocol.ParseRecordCount(d.Headers[protocol.HeaderRecords])
	if err != nil {
		return nil, err
	}
	recs, err := protocol.SplitRecords(d.Body, n)
	if err != nil {
		return nil, err
	}
	out := make([]*protocol.Answer, len(recs))
	for i, rec := range recs {
		out[i] = new(protocol.Answer)
		if err := rec.DecodeAnswer(out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// publishRecords puts svcs on queue in one records message, bodies raw, as our frontend
// batches them, and returns their request ids.
func (f *frontend) publishRecords(queue string, svcs ...*protocol.Service) []string {
	f.t.Helper()
	ids := make([]string, len(svcs))
	var body []byte
	for i, svc := range svcs {
		ids[i] = uuid.NewString()
		svc.RequestID, svc.ReplyTo, svc.ReplyQueue = ids[i], ids[i], f.queue
		svc.AnswerHeaders = protocol.AnswerHeadersPairs
		var err error
		if body, err = protocol.AppendServiceRecord(body, protocol.Stamp(svc, "", "")); err != nil {
			f.t.Fatal(err)
		}
	}
	f.publishFramed(queue, recordsHeaders(len(svcs)), body)
	return ids
}

// recordsHeaders are the headers of a records message of n records, as STOMP gives them.
func recordsHeaders(n int) amqp.Table {
	return amqp.Table{protocol.HeaderFraming: protocol.FramingRecords, protocol.HeaderRecords: protocol.RecordsHeaderValue(n)}
}

// publishFramed publishes body with headers to queue.
func (f *frontend) publishFramed(queue string, headers amqp.Table, body []byte) {
	f.t.Helper()
	err := f.ch.PublishWithContext(context.Background(), "", queue, false, false,
		amqp.Publishing{ContentType: protocol.ContentTypeJSON, Body: body, Expiration: "60000", Headers: headers})
	if err != nil {
		f.t.Fatal(err)
	}
}

// counts returns the answers received per request id and the answer messages received.
func (f *frontend) counts() (map[string]int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.answers))
	for id, as := range f.answers {
		out[id] = len(as)
	}
	return out, f.messages
}

func newFrontend(t testing.TB) *frontend {
	t.Helper()
	_, ch := testenv.AMQPChannel(t, rabbit.URL())
	f := &frontend{t: t, ch: ch, queue: "FRNT" + uuid.NewString(), answers: map[string][]*protocol.Answer{}, raw: map[string][]byte{}, framing: map[string]string{}}
	if _, err := ch.QueueDeclare(f.queue, false, true, true, false, nil); err != nil {
		t.Fatal(err)
	}
	ds, err := ch.Consume(f.queue, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for d := range ds {
			f.receive(d)
		}
	}()
	return f
}

// service is a GET of uri on host, as the frontend builds it.
func service(host, method, uri string, body []byte) *protocol.Service {
	path, args, _ := strings.Cut(uri, "?")
	return &protocol.Service{
		Method: method, Host: host, URI: path, Args: args, RequestURI: uri, Scheme: "http",
		RemoteAddr: "10.1.2.3", ServerProtocol: "HTTP/1.1", ServerPort: "80",
		Headers: protocol.Headers{"host": {host}, "user-agent": {"test"}}, Body: body, BodyBase64Encoded: true,
	}
}

// publish puts svc on queue and returns its request id.
func (f *frontend) publish(queue string, svc *protocol.Service) string {
	f.t.Helper()
	id := uuid.NewString()
	svc.RequestID, svc.ReplyTo, svc.ReplyQueue = id, id, f.queue
	protocol.Stamp(svc, "", "")
	body, err := protocol.Encode(protocol.JSON, svc)
	if err != nil {
		f.t.Fatal(err)
	}
	f.publishRaw(queue, protocol.ContentTypeJSON, body)
	return id
}

func (f *frontend) publishRaw(queue, contentType string, body []byte) {
	f.t.Helper()
	err := f.ch.PublishWithContext(context.Background(), "", queue, false, false,
		amqp.Publishing{ContentType: contentType, Body: body, Expiration: "60000"})
	if err != nil {
		f.t.Fatal(err)
	}
}

// answer waits for the answer to request id.
func (f *frontend) answer(id string, within time.Duration) *protocol.Answer {
	f.t.Helper()
	var a *protocol.Answer
	testenv.WaitFor(f.t, within, "answer to "+id, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if as := f.answers[id]; len(as) > 0 {
			a = as[0]
			return true
		}
		return false
	})
	return a
}

// do sends one request and waits for its answer.
func (f *frontend) do(queue string, svc *protocol.Service) *protocol.Answer {
	f.t.Helper()
	return f.answer(f.publish(queue, svc), 20*time.Second)
}

// header returns the values of answer header name (any case), in order.
func header(a *protocol.Answer, name string) []string {
	var vs []string
	for _, h := range a.Answer.Headers {
		if strings.EqualFold(h[0], name) {
			vs = append(vs, h[1])
		}
	}
	return vs
}

// metricsText fetches the runner's /metrics.
func metricsText(t testing.TB, r *Runner) string {
	t.Helper()
	resp, err := http.Get("http://" + r.HealthAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
