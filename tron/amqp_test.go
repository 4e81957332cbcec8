package tron

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

// startAMQPTron runs a Tron on the shared broker with a Tron queue of its own.
func startAMQPTron(t *testing.T, edit func(*Options)) *Tron {
	t.Helper()
	o := NewOptions()
	o.RabbitURL = broker.URL()
	o.TronQueue = "for_tron_" + uuid.NewString()[:8]
	o.DataDir = t.TempDir()
	o.Listen = "127.0.0.1:0"
	o.Token = testToken
	o.EnableWait = 5 * time.Second
	o.Logger = testLogger(t)
	o.BusKeyFile, o.FrontendKeyFile = writeKey(t, testRunnerKey), writeKey(t, testFrontendKey)
	if edit != nil {
		edit(o)
	}
	tr := runTron(t, o, nil).Tron
	testenv.WaitFor(t, 20*time.Second, "the Tron connected to RabbitMQ", func() bool {
		status, _ := tr.apiRaw(t, "GET", "/healthz", nil, "")
		return status == 200
	})
	return tr
}

// dialBroker opens a connection to the shared broker, closed when the test ends.
func dialBroker(t testing.TB) *amqpbus.Conn { return dialURL(t, broker.URL()) }

// dialURL opens a connection to the broker at url, closed when the test ends.
func dialURL(t testing.TB, url string) *amqpbus.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := amqpbus.Dial(ctx, url, amqpbus.Options{Logger: testLogger(t), Name: "tron-test-node"})
	if err != nil {
		t.Fatalf("dialing RabbitMQ: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// The keys of the Tron started by startAMQPTron, which the fake nodes sign with.
var (
	testRunnerKey   = []byte("runner-key-for-tron-tests-0123456789")
	testFrontendKey = []byte("frontend-key-for-tron-tests-0123456789")
)

// writeKey writes a key file (mode 0600) and returns its path.
func writeKey(t testing.TB, key []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, key, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// signedTable returns the headers that sign body for queue, as a sender would set them.
func signedTable(key []byte, queue, action, msgID string, at time.Time, body []byte) amqp.Table {
	h := &protocol.Header{Action: action, MsgID: msgID, At: at.UnixMilli()}
	t := amqp.Table{}
	for k, v := range protocol.SignHeaders(key, queue, h, body) {
		t[k] = v
	}
	return t
}

// amqpNode starts a fake runner or frontend speaking the protocol over AMQP to the Tron
// queue tronQueue: its own connection, an exclusive inbox, handlers recording what it gets.
// It signs with the key of its type and checks what it receives with it.
func amqpNode(t testing.TB, tronQueue, typ, instance string, codec protocol.Codec) *fakeNode {
	key := testRunnerKey
	if typ == protocol.TypeFrontend {
		key = testFrontendKey
	}
	return amqpNodeWithKey(t, tronQueue, typ, instance, codec, key, key)
}

// amqpPeers are a fake runner and a fake frontend (instance frontend) that said awake to
// the Tron on tronQueue and got its answers (all-bundles, the route table): where most
// AMQP tests start.
func amqpPeers(t testing.TB, tronQueue, frontend string) (runner, front *fakeNode) {
	t.Helper()
	runner = amqpNode(t, tronQueue, protocol.TypeRunner, "", protocol.EDN)
	front = amqpNode(t, tronQueue, protocol.TypeFrontend, frontend, protocol.JSON)
	runner.awake(t)
	front.awake(t)
	runner.expect(t, protocol.ActionAllBundles)
	front.expect(t, protocol.ActionRoute)
	return runner, front
}

// amqpNodeWithKey is amqpNode signing with key (nil: unsigned) and verifying what it
// receives with verifyKey (nil: it records everything, as a forger would).
func amqpNodeWithKey(t testing.TB, tronQueue, typ, instance string, codec protocol.Codec, key, verifyKey []byte) *fakeNode {
	t.Helper()
	return amqpNodeOn(t, dialBroker(t), tronQueue, typ, instance, codec, key, verifyKey)
}

// amqpNodeOn is amqpNodeWithKey on conn.
func amqpNodeOn(t testing.TB, conn *amqpbus.Conn, tronQueue, typ, instance string, codec protocol.Codec, key, verifyKey []byte) *fakeNode {
	t.Helper()
	spec := amqpbus.RunnerInbox(uuid.NewString())
	if typ == protocol.TypeFrontend {
		spec = amqpbus.QueueSpec{Name: protocol.FrontendInboxPrefix + uuid.NewString(), Exclusive: true, AutoDelete: true}
	}
	ctx, cancel := context.WithCancel(context.Background())
	bo := amqpbus.BusOptions{Inbox: spec, Version: "fake-1.0", Logger: testLogger(t)}
	if key != nil {
		bo.Signer = amqpbus.KeySigner(key)
	}
	if verifyKey != nil {
		bo.Verifier = &protocol.Verifier{Keys: []protocol.RoleKey{{Role: "tron", Key: verifyKey}}}
	}
	b, err := amqpbus.NewBus(ctx, conn, bo)
	if err != nil {
		t.Fatalf("creating the fake %s's bus: %v", typ, err)
	}
	n := newFakeNode(t, b, typ, instance, codec, tronQueue)
	done := make(chan struct{})
	go func() { defer close(done); b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

// eventQueue binds a fresh queue to funcatron.events with key and returns its deliveries.
func eventQueue(t testing.TB, key string) <-chan amqp.Delivery {
	t.Helper()
	return testenv.Subscribe(t, broker.URL(), protocol.EventsExchange, key)
}

func TestAMQPMembership(t *testing.T) {
	tr := startAMQPTron(t, nil)
	q := tr.opts.TronQueue
	sha := tr.upload(t, makeBundle(t, "", "/m", "membership"))
	if status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha, "props": map[string]any{"db": "x"}}); status != 202 {
		t.Fatalf("enable without runners = %d %v", status, res)
	}

	t.Run("runner awake gets tron-info, all-bundles and enable", func(t *testing.T) {
		r := amqpNode(t, q, protocol.TypeRunner, "", protocol.EDN)
		r.awake(t)
		if m := r.expect(t, protocol.ActionTronInfo); m.Codec != protocol.EDN || m.Data.(*protocol.TronInfo).TronHost != tr.TronHost() {
			t.Errorf("tron-info = %+v in %s", m.Data, m.Codec)
		}
		checkRunnerAnnouncement(t, r, protocol.EDN, sha)
	})
	t.Run("runner downloads with the signed URL, without the token", func(t *testing.T) {
		r := amqpNode(t, q, protocol.TypeRunner, "", protocol.JSON)
		r.awake(t)
		e := r.expect(t, protocol.ActionEnable).Data.(*protocol.Enable)
		if e.Props["db"] != "x" {
			t.Errorf("props = %v", e.Props)
		}
		resp, err := http.Get(e.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || shaOf(body) != sha || resp.Header.Get("Content-Type") != "application/zip" {
			t.Errorf("GET %s = %d %s, %d bytes", e.URL, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	})
	t.Run("frontend awake gets tron-info and route in JSON", func(t *testing.T) {
		f := amqpNode(t, q, protocol.TypeFrontend, "nginx-a:1", protocol.JSON)
		f.awake(t)
		if m := f.expect(t, protocol.ActionTronInfo); m.Codec != protocol.JSON {
			t.Errorf("tron-info codec %s", m.Codec)
		}
		m := f.expect(t, protocol.ActionRoute)
		routes := m.Data.(*protocol.Route).Routes
		if m.Codec != protocol.JSON || len(routes) != 1 || routes[0].Queue != protocol.RouteQueue("", "/m") {
			t.Errorf("route = %s in %s", fmtRoutes(routes), m.Codec)
		}
	})
	t.Run("heartbeat from an unknown node gets resend-awake", func(t *testing.T) {
		r := amqpNode(t, q, protocol.TypeRunner, "", protocol.EDN)
		r.heartbeat(t)
		r.expect(t, protocol.ActionResendAwake)
	})
	t.Run("duplicate instance-id: die to the older", func(t *testing.T) {
		older := amqpNode(t, q, protocol.TypeFrontend, "nginx-dup:0", protocol.JSON)
		newer := amqpNode(t, q, protocol.TypeFrontend, "nginx-dup:0", protocol.JSON)
		older.awake(t)
		older.expect(t, protocol.ActionRoute)
		newer.awake(t)
		newer.expect(t, protocol.ActionRoute)
		if d := older.expect(t, protocol.ActionDie).Data.(*protocol.Die); d.InstanceID != "nginx-dup:0" {
			t.Errorf("die = %+v", d)
		}
		if newer.pending(protocol.ActionDie) != 0 {
			t.Error("the newer frontend got die")
		}
	})
}

func TestAMQPSilentNodeIsLost(t *testing.T) {
	tr := startAMQPTron(t, func(o *Options) { o.HeartbeatPeriod = 200 * time.Millisecond })
	r := amqpNode(t, tr.opts.TronQueue, protocol.TypeRunner, "", protocol.EDN)
	events := eventQueue(t, "runner.lost."+r.Inbox())
	r.awake(t)
	r.expect(t, protocol.ActionTronInfo)
	select {
	case d := <-events:
		if !bytes.Contains(d.Body, []byte(`"node":"`+r.Inbox()+`"`)) || d.ContentType != "application/json" {
			t.Errorf("lost event = %s (%s)", d.Body, d.ContentType)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no runner.lost event within 10s")
	}
	if _, ok := tr.stats().Network[r.Inbox()]; ok {
		t.Error("the silent runner is still in the network")
	}
}

func TestAMQPEnableReplaceDisable(t *testing.T) {
	tr := startAMQPTron(t, func(o *Options) { o.EnableWait = 2 * time.Second })
	q := tr.opts.TronQueue
	r, f := amqpPeers(t, q, "nginx-e:0")
	v1 := tr.upload(t, makeBundle(t, "shop.example", "/cart", "v1"))
	v2 := tr.upload(t, makeBundle(t, "shop.example", "/cart", "v2"))
	queue := protocol.RouteQueue("shop.example", "/cart")

	// enable waits for the runner's ack.
	r.ackNext(t, protocol.ActionEnable, protocol.AckOK, "")
	status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": v1})
	if status != 200 || !slices.Contains(anyStrings(res["runners"]), r.Inbox()) || res["queue"] != queue {
		t.Fatalf("enable = %d %v, want 200 listing %s", status, res, r.Inbox())
	}
	if routes := f.expect(t, protocol.ActionRoute).Data.(*protocol.Route).Routes; len(routes) != 1 || routes[0].SHA != v1 {
		t.Errorf("route = %s", fmtRoutes(routes))
	}
	// The route queue exists (declared before enable returned): a passive declare succeeds.
	assertQueueExists(t, queue)
	// The runner consumes it, as a real one does, so the Tron counts the route served and
	// sends no table for its being unserved (served.go) among those this test expects.
	consumeQueue(t, queue)

	// A runner that does not ack: 202 after --enable-wait, still enabled.
	start := time.Now()
	r.ackNext(t, protocol.ActionEnable, "-", "")
	status, res = tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": v1, "props": map[string]any{"v": 2}})
	if status != 202 || res["warning"] == nil || time.Since(start) < 2*time.Second {
		t.Errorf("enable without ack = %d %v after %s, want 202 with a warning after 2s", status, res, time.Since(start))
	}
	f.expect(t, protocol.ActionRoute)

	// Same route, another bundle: 409, then replace.
	if status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": v2}); status != 409 {
		t.Errorf("enable on a taken route = %d %v, want 409", status, res)
	}
	r.ackNext(t, protocol.ActionEnable, protocol.AckOK, "")
	status, res = tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": v2, "replace": true})
	if status != 200 || res["replaced"] != v1 {
		t.Fatalf("replace = %d %v", status, res)
	}
	if routes := f.expect(t, protocol.ActionRoute).Data.(*protocol.Route).Routes; len(routes) != 1 || routes[0].SHA != v2 {
		t.Errorf("route after replace = %s, want only %s", fmtRoutes(routes), v2)
	}
	if d := r.expect(t, protocol.ActionDisable).Data.(*protocol.Disable); d.SHA != v1 {
		t.Errorf("disable after replace names %s, want %s", d.SHA, v1)
	}

	// Disable: frontends and runners are told.
	if status, res := tr.api(t, "POST", "/api/v1/disable", map[string]any{"sha": v2}); status != 200 {
		t.Fatalf("disable = %d %v", status, res)
	}
	if routes := f.expect(t, protocol.ActionRoute).Data.(*protocol.Route).Routes; len(routes) != 0 {
		t.Errorf("route after disable = %s, want empty", fmtRoutes(routes))
	}
	if d := r.expect(t, protocol.ActionDisable).Data.(*protocol.Disable); d.SHA != v2 {
		t.Errorf("disable names %s, want %s", d.SHA, v2)
	}
}

func TestAMQPAdminAPI(t *testing.T) {
	tr := startAMQPTron(t, nil)
	r, f := amqpPeers(t, tr.opts.TronQueue, "nginx-api:0")

	data := makeBundle(t, "", "/api-test", "api")
	sha := tr.upload(t, data)
	status, known := tr.api(t, "GET", "/api/v1/known_funcs", nil)
	if list, _ := known["func-bundles"].([]any); status != 200 || len(list) != 1 {
		t.Fatalf("known_funcs = %d %v", status, known)
	}
	r.ackNext(t, protocol.ActionEnable, protocol.AckOK, "")
	if status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha}); status != 200 {
		t.Fatalf("enable = %d %v", status, res)
	}
	status, raw := tr.apiRaw(t, "GET", "/api/v1/routes", nil)
	if status != 200 || !strings.Contains(string(raw), sha) {
		t.Errorf("routes = %d %s", status, raw)
	}
	status, res := tr.api(t, "GET", "/api/v1/stats", nil)
	network, _ := res["network"].(map[string]any)
	if status != 200 || network[r.Inbox()] == nil || network[f.Inbox()] == nil || res["route-map"] == nil {
		t.Errorf("stats = %d %v, want both nodes", status, res)
	}
	if status, got := tr.apiRaw(t, "GET", "/api/v1/bundle/"+sha, nil); status != 200 || !bytes.Equal(got, data) {
		t.Errorf("download with token = %d", status)
	}
	if status, got := tr.apiRaw(t, "GET", "/api/v1/bundle/"+sha+"?"+tr.signer.query(sha), nil, ""); status != 200 || !bytes.Equal(got, data) {
		t.Errorf("download with signed URL = %d", status)
	}
	if status, _ := tr.apiRaw(t, "GET", "/api/v1/bundle/"+sha, nil, ""); status != 401 {
		t.Errorf("download without token or signature = %d, want 401", status)
	}
	if status, _ := tr.api(t, "DELETE", "/api/v1/bundle/"+sha, nil); status != 409 {
		t.Errorf("delete while enabled = %d, want 409", status)
	}
	if status, _ := tr.api(t, "POST", "/api/v1/disable", map[string]any{"sha": sha}); status != 200 {
		t.Errorf("disable = %d", status)
	}
	if status, _ := tr.api(t, "DELETE", "/api/v1/bundle/"+sha, nil); status != 200 {
		t.Errorf("delete = %d, want 200", status)
	}
	for _, m := range []string{"funcatron_tron_messages_in_total", "funcatron_tron_messages_out_total"} {
		if metricValue(t, tr, m) == 0 {
			t.Errorf("%s is 0", m)
		}
	}
}

func TestAMQPMalformedMessages(t *testing.T) {
	tr := startAMQPTron(t, nil)
	conn := dialBroker(t)
	marker := "malformed-" + uuid.NewString()
	bodies := []struct{ ct, body string }{
		{protocol.ContentTypeJSON, `{"action": "awake", "type": ` + marker},
		{protocol.ContentTypeEDN, `{:action "heartbeat" :from ` + marker},
		{"text/plain", marker},
		{protocol.ContentTypeJSON, `{"no-action":"` + marker + `"}`},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, b := range bodies {
		// Signed, so they get as far as the decoder.
		if err := conn.Publish(ctx, amqpbus.Publishing{Key: tr.opts.TronQueue, ContentType: b.ct, Body: []byte(b.body), Persistent: true,
			Headers: signedTable(testRunnerKey, tr.opts.TronQueue, "awake", uuid.NewString(), time.Now(), []byte(b.body))}); err != nil {
			t.Fatal(err)
		}
	}
	// An unknown action is forward compatibility: dropped (logged once), not counted.
	future := []byte(`{"action":"from-the-future","from":"RU-x"}`)
	conn.Publish(ctx, amqpbus.Publishing{Key: tr.opts.TronQueue, ContentType: protocol.ContentTypeJSON, Body: future,
		Headers: signedTable(testRunnerKey, tr.opts.TronQueue, "from-the-future", uuid.NewString(), time.Now(), future)})
	testenv.WaitFor(t, 10*time.Second, "4 undecodable messages counted", func() bool {
		return metricValue(t, tr, "funcatron_tron_undecodable_messages_total") == float64(len(bodies))
	})
	// They were dead-lettered.
	found := deadLettered(t, marker)
	if found != len(bodies) {
		t.Errorf("%d of %d malformed messages in %s", found, len(bodies), protocol.DeadLetterQueue)
	}
	// The Tron keeps serving.
	r := amqpNode(t, tr.opts.TronQueue, protocol.TypeRunner, "", protocol.EDN)
	r.awake(t)
	r.expect(t, protocol.ActionTronInfo)
}

// deadLettered counts the messages holding marker in funcatron.dead (taking them off it).
func deadLettered(t *testing.T, marker string) int {
	t.Helper()
	_, ch := testenv.AMQPChannel(t, broker.URL())
	found := 0
	testenv.Poll(10*time.Second, func() bool {
		for found < 4 {
			d, ok, err := ch.Get(protocol.DeadLetterQueue, false)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return false // empty for now: look again
			}
			if bytes.Contains(d.Body, []byte(marker)) {
				found++
			}
			d.Ack(false) // only this test reads dead letters
		}
		return true
	})
	return found
}

func assertQueueExists(t *testing.T, name string) {
	t.Helper()
	_, ch := testenv.AMQPChannel(t, broker.URL())
	if _, err := ch.QueueDeclarePassive(name, true, false, false, false, nil); err != nil {
		t.Errorf("route queue %s does not exist: %v", name, err)
	}
}

// consumeQueue consumes queue name on a connection of its own, closed with the returned
// func (and at the test's end).
func consumeQueue(t *testing.T, name string) (stop func()) {
	t.Helper()
	conn, ch := testenv.AMQPChannel(t, broker.URL())
	if _, err := ch.Consume(name, "", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	return func() { conn.Close() }
}

// TestAMQPRouteSaysWhetherServed: the route entry counts the runners consuming its queue;
// when the last one's connection closes (a runner process dying), frontends get a table
// saying runners 0 within about a second (spec/frontend.md "No runner, no wait").
func TestAMQPRouteSaysWhetherServed(t *testing.T) {
	tr := startAMQPTron(t, func(o *Options) { o.EnableWait = 2 * time.Second })
	r, f := amqpPeers(t, tr.opts.TronQueue, "nginx-s:0")
	sha := tr.upload(t, makeBundle(t, "", "/served", "v1"))
	r.ackNext(t, protocol.ActionEnable, protocol.AckOK, "")
	if status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha}); status != 200 {
		t.Fatalf("enable = %d %v", status, res)
	}
	enabled := f.expect(t, protocol.ActionRoute).Data.(*protocol.Route)
	stop := consumeQueue(t, protocol.RouteQueue("", "/served"))
	testenv.WaitFor(t, 5*time.Second, "the route counted with its runner", func() bool {
		rs := tr.currentRoutes()
		return len(rs) == 1 && rs[0].Runners != nil && *rs[0].Runners == 1
	})
	stop()
	died := time.Now()
	unserved := f.expect(t, protocol.ActionRoute).Data.(*protocol.Route)
	routes := unserved.Routes
	if len(routes) != 1 || routes[0].Runners == nil || *routes[0].Runners != 0 {
		t.Fatalf("route after the runner's connection closed = %s, want runners 0", fmtRoutes(routes))
	}
	// A table that changed has a new version: a frontend that acked the one before (and
	// missed this broadcast) gets it again with the reply to its heartbeat.
	if unserved.TableVersion <= enabled.TableVersion {
		t.Errorf("table-version %d after the route lost its runner, want above %d", unserved.TableVersion, enabled.TableVersion)
	}
	if took := time.Since(died); took > 3*time.Second {
		t.Errorf("the frontends heard after %s, want about a second", took)
	}
}

func anyStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
