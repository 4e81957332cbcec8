package integration

// Bad input end to end, on the shared stack: malformed bus messages, invalid bundles,
// unauthenticated admin calls, oversize bodies. Each gets its clear error, and the stack
// keeps serving: a load runs through each test and must see nothing but 2xx.

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/buskey"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
	amqp "github.com/rabbitmq/amqp091-go"
)

// e2eBusMsg is one malformed (or unexpected) message for a queue.
type e2eBusMsg struct {
	what        string
	contentType string
	body        []byte
	// undecodable: the receiver cannot decode it and dead-letters it (and counts it)
	undecodable bool
}

func e2eRandom(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// e2eDeep is a message whose field junk holds a list nested n deep (in EDN or JSON): a
// decoder that recurses without a limit would overflow its stack.
func e2eDeep(edn bool, n int) []byte {
	nested := strings.Repeat("[", n) + strings.Repeat("]", n)
	if edn {
		return []byte(`{:action "heartbeat" :msg-id "m0" :at 1 :from "RU-deep" :type "runner" :junk ` + nested + `}`)
	}
	return []byte(`{"action":"heartbeat","msg-id":"m0","at":1,"from":"RU-deep","type":"runner","junk":` + nested + `}`)
}

// e2eBadForTron are messages for the Tron queue.
var e2eBadForTron = []e2eBusMsg{
	{"broken JSON", "application/json", []byte(`{"action": "awake", "type": `), true},
	{"broken EDN", "application/edn", []byte(`{:action "awake" :type`), true},
	{"JSON array", "application/json", []byte(`[1, 2, 3]`), true},
	{"JSON string", "application/json", []byte(`"awake"`), true},
	{"JSON null", "application/json", []byte(`null`), true},
	{"unknown content type", "text/plain", []byte("hello tron"), true},
	{"random bytes without content type", "", e2eRandom(512), true},
	{"EDN nested 100 000 deep", "application/edn", e2eDeep(true, 100000), true},    // over protocol.MaxDepth
	{"JSON nested 100 000 deep", "application/json", e2eDeep(false, 100000), true}, // encoding/json stops at 10 000
	{"unknown action", "application/json", []byte(`{"action":"make-coffee","msg-id":"m1","at":1,"from":"RU-nobody"}`), false},
	{"awake without from", "application/json", []byte(`{"action":"awake","msg-id":"m2","at":1,"type":"runner"}`), false},
	{"awake of an unknown type", "application/json", []byte(`{"action":"awake","msg-id":"m3","at":1,"type":"toaster","from":"RU-toaster"}`), false},
	{"heartbeat with fields of the wrong type", "application/json", []byte(`{"action":"heartbeat","msg-id":"m4","at":"soon","type":7,"from":"RU-fake","routes":"all","stats":[1]}`), true},
	{"ack for nothing", "application/json", []byte(`{"action":"ack","msg-id":"m5","at":1,"ack-id":"nope","status":"ok","from":"RU-fake"}`), false},
	{"service on the Tron queue", "application/json", []byte(`{"action":"service","msg-id":"m6","at":1,"from":"FRNTx"}`), false},
}

// e2eBadForRoute are messages for a route queue.
var e2eBadForRoute = []e2eBusMsg{
	{"broken JSON", "application/json", []byte(`{"method": "GET", `), true},
	{"random bytes", "application/octet-stream", e2eRandom(256), true},
	{"EDN service nested 100 000 deep", "application/edn", []byte(`{:action "service" :method "GET" :uri "/hello/greet/x" :junk ` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`), true},
	{"service without reply-queue", "application/json", []byte(`{"action":"service","method":"GET","uri":"/hello/greet/x","request-id":"r1","reply-to":"r1"}`), true},
	// decodable and answerable, but its frontend is gone: the answer goes nowhere, and that is all
	{"service for a frontend that is gone", "application/json", []byte(`{"action":"service","method":"GET","uri":"/hello/greet/x","request-uri":"/hello/greet/x","request-id":"r2","reply-to":"r2","reply-queue":"FRNTgone"}`), false},
}

// e2eBadForFrontend are messages for a frontend worker's inbox.
var e2eBadForFrontend = []e2eBusMsg{
	{"broken JSON", "application/json", []byte(`{"action": "answer", `), true},
	{"random bytes", "application/octet-stream", e2eRandom(256), true},
	{"answer without request-id", "application/json", []byte(`{"action":"answer","answer":{"status":200}}`), false},
	{"answer for no request", "application/json", []byte(`{"action":"answer","request-id":"nobody","answer":{"status":200,"headers":[],"body":""}}`), false},
	{"unknown action", "application/json", []byte(`{"action":"make-coffee"}`), false},
	{"die for another instance", "application/json", []byte(`{"action":"die","instance-id":"someone-else-0"}`), false},
	{"route whose routes are not a list", "application/json", []byte(`{"action":"route","msg-id":"m7","routes":"all of them"}`), false},
}

// e2eTestBadBusMessages: garbage on the Tron queue, on a route queue and on the frontends'
// inboxes. Undecodable messages are dead-lettered and counted, nothing stays stuck on a
// queue, no process dies or reconnects, and requests keep being answered 200 throughout.
func e2eTestBadBusMessages(t *testing.T, s *e2eStack) {
	pids := e2eWorkerPIDs(t, s)
	load := e2eGreetLoad(t, s, "bad-bus-messages", 2, "/hello")
	load.waitOK(t, 20, 20*time.Second)

	conn, err := amqp.Dial(s.Rabbit.URL())
	if err != nil {
		t.Fatalf("dialing RabbitMQ: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	// What reaches the Tron's decoder is signed with the runner key (unsigned messages are
	// refused before decoding: TestForged* and TestFrontendRefusesForgedControl).
	busKey, err := buskey.Load(s.BusKeyFile, "bus key")
	if err != nil {
		t.Fatal(err)
	}
	publish := func(queue string, msgs []e2eBusMsg) (undecodable int) {
		t.Helper()
		for i, m := range msgs {
			var headers amqp.Table
			if queue == "for_tron" {
				h := &protocol.Header{Action: "awake", MsgID: fmt.Sprintf("bad-%d-%d", time.Now().UnixNano(), i), At: time.Now().UnixMilli()}
				headers = amqp.Table{}
				for k, v := range protocol.SignHeaders(busKey, queue, h, m.body) {
					headers[k] = v
				}
			}
			err := ch.PublishWithContext(context.Background(), "", queue, true, false, amqp.Publishing{
				ContentType: m.contentType, Body: m.body, Expiration: "60000", Headers: headers,
			})
			if err != nil {
				t.Fatalf("publishing %s to %s: %v", m.what, queue, err)
			}
			if m.undecodable {
				undecodable++
			}
		}
		return undecodable
	}
	ready := func(queue string) int {
		t.Helper()
		c, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		q, err := c.QueueDeclarePassive(queue, true, false, false, false, nil)
		if err != nil {
			t.Fatalf("inspecting queue %s: %v", queue, err)
		}
		return q.Messages
	}
	runnerUndecodable := func() float64 {
		sum := 0.0
		for _, r := range s.Runners {
			sum += e2eMetric(t, e2eRunnerURL(t, r)+"/metrics", "funcatron_runner_undecodable_total", nil)
		}
		return sum
	}
	routeQueue := ""
	for _, r := range s.stats(t).RouteMap {
		if r.Path == "/hello" && r.Host == "" {
			routeQueue = r.Queue
		}
	}
	var inboxes []string
	for inbox, node := range s.stats(t).Network {
		if node.Type == "frontend" {
			inboxes = append(inboxes, inbox)
		}
	}
	tronBefore := e2eMetric(t, s.TronURL+"/metrics", "funcatron_tron_undecodable_messages_total", nil)
	runnersBefore := runnerUndecodable()
	deadBefore := ready("funcatron.dead")

	toTron := publish("for_tron", e2eBadForTron)
	toRoute := publish(routeQueue, e2eBadForRoute)
	for _, inbox := range inboxes {
		publish(inbox, e2eBadForFrontend)
	}

	testenv.WaitFor(t, 10*time.Second, "the Tron counting its undecodable messages", func() bool {
		return e2eMetric(t, s.TronURL+"/metrics", "funcatron_tron_undecodable_messages_total", nil)-tronBefore >= float64(toTron)
	})
	testenv.WaitFor(t, 10*time.Second, "the runners counting their undecodable messages", func() bool {
		return runnerUndecodable()-runnersBefore >= float64(toRoute)
	})
	if got := e2eMetric(t, s.TronURL+"/metrics", "funcatron_tron_undecodable_messages_total", nil) - tronBefore; got != float64(toTron) {
		t.Errorf("the Tron counted %.0f undecodable messages, want %d", got, toTron)
	}
	if got := runnerUndecodable() - runnersBefore; got != float64(toRoute) {
		t.Errorf("the runners counted %.0f undecodable messages, want %d", got, toRoute)
	}
	testenv.WaitFor(t, 10*time.Second, "the dead letters", func() bool {
		return ready("funcatron.dead")-deadBefore >= toTron+toRoute
	})
	testenv.WaitFor(t, 10*time.Second, "nothing left on the Tron queue and the route queue", func() bool {
		return ready("for_tron") == 0 && ready(routeQueue) == 0
	})

	load.waitOK(t, 40, 20*time.Second)
	load.stopAndCount(t).requireAllOK(t)
	e2eRequireHealthy(t, s)
	views := s.workerViews(t, "health")
	for id, v := range views {
		if !v.Connected || v.PID != pids[id] {
			t.Errorf("worker %s after the garbage: connected %v, pid %d (was %d)", id, v.Connected, v.PID, pids[id])
		}
	}
	// the Tron still works: an enable round trip through every worker
	var routes []e2eRoute
	s.api(t, "GET", "/api/v1/routes", nil, &routes)
	for _, r := range routes {
		if r.Path == "/py" {
			s.enable(t, r.SHA, e2eProps, false)
		}
	}
	e2eWant(t, "after the garbage", s.get(t, "/py/greet/x"), 200, e2eGreeting("Howdy", "x"))
}

// e2eEntry is one entry of a hand-made bundle zip.
type e2eEntry struct {
	name, body string
	mode       fs.FileMode // 0: a regular file 0644
	store      bool        // no compression
}

// e2eZip builds a zip of entries as they are (names are not checked: that is the point).
func e2eZip(t *testing.T, entries ...e2eEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.store {
			h.Method = zip.Store
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A minimal valid bundle: a manifest and the script it runs. Invalid ones change one thing.
const e2eOps = "paths:\n  /a:\n    get: {operationId: a}\n"

var (
	e2eScript      = e2eEntry{name: "bin/run", body: "#!/bin/sh\necho\n", mode: 0o755}
	e2eGoodYAML    = "swagger: '2.0'\nbasePath: /bad\nx-funcatron:\n  exec: {command: [bin/run], mode: cgi}\n" + e2eOps
	e2eGoodEntries = []e2eEntry{{name: "funcatron.yaml", body: e2eGoodYAML}, e2eScript}
)

func e2eWithManifest(yaml string) []e2eEntry {
	return []e2eEntry{{name: "funcatron.yaml", body: yaml}, e2eScript}
}

// e2eTestInvalidBundles: an upload breaking each rule of spec/bundles.md §2 is refused with
// 400 and a message naming the problem; nothing is stored; the stack keeps serving.
func e2eTestInvalidBundles(t *testing.T, s *e2eStack, env *e2eEnv) {
	load := e2eGreetLoad(t, s, "invalid-bundles", 2, "/hello")
	load.waitOK(t, 10, 20*time.Second)
	before := s.known(t)

	manyEntries := append([]e2eEntry{}, e2eGoodEntries...)
	for i := range 10000 {
		manyEntries = append(manyEntries, e2eEntry{name: fmt.Sprintf("f/%d", i), store: true})
	}
	// 17 MiB of incompressible bytes, stored: over the Tron's --max-unpacked-bytes of 16 MiB
	big := append([]e2eEntry{}, e2eGoodEntries...)
	big = append(big, e2eEntry{name: "big", body: hex.EncodeToString(e2eRandom(17 << 19)), store: true})

	cases := []struct {
		name string
		body []byte
		want string
	}{
		{"not a zip", []byte("hello, world"), "not a zip archive"},
		{"empty body", nil, "must post a Func bundle file"},
		{"no manifest", e2eZip(t, e2eScript), "no manifest: the bundle root must hold one of funcatron.yaml, funcatron.yml, funcatron.json"},
		{"manifest does not parse", e2eZip(t, e2eWithManifest("swagger: '2.0'\ninfo:\n  title: x\nbasePath: /a: b\n")...),
			"funcatron.yaml: line 4: mapping values are not allowed in this context"},
		{"basePath without /", e2eZip(t, e2eWithManifest(strings.Replace(e2eGoodYAML, "basePath: /bad", "basePath: bad", 1))...),
			`funcatron.yaml: line 2: basePath "bad" does not start with /`},
		{"no operationId", e2eZip(t, e2eWithManifest(strings.Replace(e2eGoodYAML, "{operationId: a}", "{summary: a}", 1))...),
			"no operation has an operationId"},
		{"two operations share an operationId", e2eZip(t, e2eWithManifest(e2eGoodYAML+"  /b:\n    get: {operationId: a}\n")...),
			`operationId "a" is used by both GET /a and GET /b`},
		{"unknown kind", e2eZip(t, e2eWithManifest(strings.Replace(e2eGoodYAML, "x-funcatron:\n", "x-funcatron:\n  kind: lambda\n", 1))...),
			`unknown kind "lambda" (want exec, gilmour or zbus)`},
		{"invalid kind section", e2eZip(t, e2eWithManifest(strings.Replace(e2eGoodYAML, "mode: cgi", "mode: fcgi", 1))...),
			"x-funcatron.exec.mode must be http or cgi, not fcgi"},
		{"exec command not in the bundle", e2eZip(t, e2eWithManifest(strings.Replace(e2eGoodYAML, "[bin/run]", "[bin/nope]", 1))...),
			`exec command "bin/nope" is not a file in the bundle`},
		{"absolute entry", e2eZip(t, append(e2eGoodEntries, e2eEntry{name: "/etc/evil", body: "x"})...),
			`entry "/etc/evil" is an absolute path`},
		{"entry with ..", e2eZip(t, append(e2eGoodEntries, e2eEntry{name: "../evil", body: "x"})...),
			`entry "../evil" contains .. (it would leave the bundle)`},
		{"link leading outside", e2eZip(t, append(e2eGoodEntries, e2eEntry{name: "x", body: "../../etc/passwd", mode: fs.ModeSymlink | 0o777})...),
			`symlink "x" -> "../../etc/passwd" leads outside the bundle`},
		{"over 10 000 entries", e2eZip(t, manyEntries...), "the archive has 10002 entries, over the limit of 10000"},
		{"unpacks over --max-unpacked-bytes", e2eZip(t, big...), "the archive unpacks to more than the limit of 16777216 bytes"},
		{"compression ratio over 200:1", e2eZip(t, append(e2eGoodEntries, e2eEntry{name: "bomb", body: strings.Repeat("\x00", 1<<20)})...),
			`entry "bomb" has a compression ratio over 200:1`},
	}
	for _, c := range cases {
		var res struct {
			Accepted *bool  `json:"accepted"`
			Error    string `json:"error"`
		}
		status := s.api(t, "POST", "/api/v1/add_func", c.body, &res)
		if status != 400 || res.Accepted == nil || *res.Accepted || !strings.Contains(res.Error, c.want) {
			t.Errorf("%s: %d accepted=%v error %q, want 400, accepted false, an error containing %q",
				c.name, status, res.Accepted, res.Error, c.want)
		}
	}
	// the good bundle they all derive from is accepted: the refusals were for their one fault
	var res struct {
		SHA string `json:"sha"`
	}
	if st := s.api(t, "POST", "/api/v1/add_func", e2eZip(t, e2eGoodEntries...), &res); st != 200 {
		t.Errorf("the valid base bundle: %d, want 200", st)
	}
	after := s.known(t)
	delete(after, res.SHA)
	if len(after) != len(before) {
		t.Errorf("known_funcs: %d bundles after the invalid uploads, %d before", len(after), len(before))
	}
	load.waitOK(t, 10, 20*time.Second)
	load.stopAndCount(t).requireAllOK(t)
}

// e2eTestUnauthenticated: every admin route answers 401 with a JSON error without the right
// bearer token, and changes nothing; /healthz and /metrics are open.
func e2eTestUnauthenticated(t *testing.T, s *e2eStack) {
	var routes []e2eRoute
	s.api(t, "GET", "/api/v1/routes", nil, &routes)
	if len(routes) == 0 {
		t.Fatal("no enabled route to try to change")
	}
	sha := routes[0].SHA
	shaBody := []byte(`{"sha":"` + sha + `"}`)
	calls := []struct {
		method, path string
		body         []byte
	}{
		{"POST", "/api/v1/add_func", e2eZip(t, e2eGoodEntries...)},
		{"POST", "/api/v1/enable", shaBody},
		{"POST", "/api/v1/disable", shaBody},
		{"GET", "/api/v1/known_funcs", nil},
		{"GET", "/api/v1/routes", nil},
		{"GET", "/api/v1/stats", nil},
		{"POST", "/api/v1/stats", []byte(`{"enable":false}`)},
		{"GET", "/api/v1/config", nil},
		{"POST", "/api/v1/config", []byte(`{"key":"log-level","value":"silly"}`)},
		{"GET", "/api/v1/bundle/" + sha, nil},
		{"GET", "/api/v1/bundle/" + sha + "?exp=9999999999&sig=00", nil},
		{"DELETE", "/api/v1/bundle/" + sha, nil},
		{"GET", "/api/v1/events", nil},
		{"GET", "/api/v1/no-such-route", nil},
	}
	for _, auth := range []string{"", "Bearer wrong-" + s.Token, "Basic " + s.Token, s.Token} {
		for _, c := range calls {
			req, _ := http.NewRequest(c.method, s.TronURL+c.path, bytes.NewReader(c.body))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			r, err := e2eDoReq(s.http, req)
			if err != nil {
				t.Fatalf("%s %s: %v", c.method, c.path, err)
			}
			e2eWantError(t, fmt.Sprintf("%s %s with Authorization %.12q", c.method, c.path, auth), r, 401, "")
		}
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		r, err := e2eDo(s.http, "GET", s.TronURL+path, "", nil, nil)
		if err != nil || r.status != 200 {
			t.Errorf("%s without a token: %v %s, want 200", path, err, r)
		}
	}
	if k := s.known(t)[sha]; !k.Enabled {
		t.Errorf("after the unauthenticated calls %s is %+v, want it still there and enabled", sha[:12], k)
	}
	var after []e2eRoute
	s.api(t, "GET", "/api/v1/routes", nil, &after)
	if len(after) != len(routes) {
		t.Errorf("routes: %d after the unauthenticated calls, %d before", len(after), len(routes))
	}
}

// e2eDoReq is e2eDo for a prepared request.
func e2eDoReq(c *http.Client, req *http.Request) (e2eResp, error) {
	var body []byte
	if req.Body != nil {
		b := new(bytes.Buffer)
		b.ReadFrom(req.Body)
		body = b.Bytes()
	}
	return e2eDo(c, req.Method, req.URL.String(), "", body, req.Header)
}

// e2eTestOversize: a request body over nginx's client_max_body_size (10m) is a 413 with a
// JSON error, and an upload over the Tron's --max-bundle-bytes (32 MiB here) too; bodies
// just under the limit still go through.
func e2eTestOversize(t *testing.T, s *e2eStack) {
	r := s.front(t, "POST", "/hello/echo", "", make([]byte, 10<<20+1), http.Header{"Content-Type": {"application/octet-stream"}})
	e2eWantError(t, "10 MiB + 1 through nginx", r, 413, "request body larger than 10m")

	body := e2eRandom(10<<20 - 4096)
	r = s.front(t, "POST", "/hello/echo", "", body, http.Header{"Content-Type": {"application/octet-stream"}})
	if r.status != 200 || !bytes.Equal(r.body, body) {
		t.Errorf("just under 10 MiB through nginx: %d with %d bytes, want 200 and the body back", r.status, len(r.body))
	}

	var res struct {
		Error string `json:"error"`
	}
	status := s.api(t, "POST", "/api/v1/add_func", make([]byte, 32<<20+1), &res)
	if status != 413 || res.Error == "" {
		t.Errorf("32 MiB + 1 upload: %d %q, want 413 with an error", status, res.Error)
	}
	e2eWant(t, "after the oversize bodies", s.get(t, "/hello/greet/x"), 200, e2eGreeting("Howdy", "x"))
}

// e2eTestBadAdminRequests: enable, disable and delete calls that cannot be done are refused
// with their status and a JSON error (spec/tron-api.md), and change nothing: a bundle on a
// route another one owns does not take it without replace:true.
func e2eTestBadAdminRequests(t *testing.T, s *e2eStack, env *e2eEnv, shas map[string]string) {
	other, err := s.Upload(e2eVariant(t, env.sample("hello-sh"), e2eOpenAPIBase("/hello"), nil))
	if err != nil {
		t.Fatal(err)
	}
	unknown := strings.Repeat("ab", 32)
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/api/v1/enable", `{"sha":"` + other + `","props":{"greeting":"Thief"}}`, 409},
		{"POST", "/api/v1/enable", `{"sha":"` + unknown + `"}`, 404},
		{"POST", "/api/v1/enable", `{"sha":`, 400},
		{"POST", "/api/v1/enable", ``, 400},
		{"POST", "/api/v1/disable", `["not", "an", "object"]`, 400},
		{"POST", "/api/v1/disable", `{"sha":"` + unknown + `"}`, 404},
		{"DELETE", "/api/v1/bundle/" + shas["hello-go"], ``, 409},
		{"DELETE", "/api/v1/bundle/" + unknown, ``, 404},
		{"GET", "/api/v1/bundle/" + unknown, ``, 404},
	} {
		req, _ := http.NewRequest(c.method, s.TronURL+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+s.Token)
		r, err := e2eDoReq(s.http, req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		e2eWantError(t, fmt.Sprintf("%s %s %.40s", c.method, c.path, c.body), r, c.status, "")
	}
	e2eWant(t, "/hello after the refused enable", s.get(t, "/hello/greet/x"), 200, e2eGreeting("Howdy", "x"))
	if k := s.known(t); k[other].Enabled || !k[shas["hello-go"]].Enabled {
		t.Errorf("known_funcs: the refused bundle enabled %v, hello-go enabled %v", k[other].Enabled, k[shas["hello-go"]].Enabled)
	}
	if st := s.api(t, "DELETE", "/api/v1/bundle/"+other, nil, nil); st != 200 {
		t.Errorf("deleting the bundle that is not enabled: %d, want 200", st)
	}
	if _, ok := s.known(t)[other]; ok {
		t.Errorf("the deleted bundle is still in known_funcs")
	}
}
