package tron

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/logging"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/rtconfig"
	"github.com/funcatron/funcatron/internal/testenv"
)

// routeOn waits up to within for a route message on an inbox, skipping other actions.
func routeOn(t *testing.T, got <-chan amqp.Delivery, within time.Duration) (raw []byte, ok bool) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case d := <-got:
			if bytes.Contains(d.Body, []byte(`"action":"route"`)) {
				return d.Body, true
			}
		case <-deadline:
			return nil, false
		}
	}
}

// TestLateSubscriberGetsRouteTable plays the 2017 frontend (issue 14 b): it sends its awake
// (the captured one) before it subscribes to its inbox, so the table sent in reply is lost,
// and it never acks. Each of its heartbeats then gets the current table within one
// heartbeat period, and a host-less bundle is in it with "host": null (issue 14 a), with
// the table's version.
func TestLateSubscriberGetsRouteTable(t *testing.T) {
	tr := startAMQPTron(t, func(o *Options) { o.AcceptUnsignedFrontends = true })
	sha := tr.upload(t, makeBundle(t, "", "/anyhost", "late-subscriber"))
	if status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha}); status != 202 {
		t.Fatalf("enable = %d %v", status, res)
	}
	_, _, awake := capturedAwake(t)
	inbox := protocol.FrontendInboxPrefix + uuid.NewString()
	awake = bytes.ReplaceAll(awake, []byte("FRNT41c01e80-c693-4dc5-8cdd-4dfd9b3d4d2e"), []byte(inbox))
	publishToTron(t, tr, nil, protocol.ContentTypeJSON, awake)
	testenv.WaitFor(t, 10*time.Second, "the 2017 frontend is a member", func() bool { _, ok := tr.stats().Network[inbox]; return ok })

	got := consumeInbox(t, inbox) // subscribes only now, as the 2017 frontend does
	heartbeat := []byte(`{"host_info":{"host":"localhost","port":"80"},"action":"heartbeat","from":"` + inbox + `"}`)
	for i := 0; i < 2; i++ { // it never acks: every heartbeat gets the table
		publishToTron(t, tr, nil, protocol.ContentTypeJSON, heartbeat)
		raw, ok := routeOn(t, got, tr.opts.HeartbeatPeriod)
		if !ok {
			t.Fatalf("heartbeat %d: no route table within one heartbeat period (%v)", i+1, tr.opts.HeartbeatPeriod)
		}
		var m struct {
			Routes       []map[string]any `json:"routes"`
			TableVersion uint64           `json:"table-version"`
		}
		if err := json.Unmarshal(raw, &m); err != nil || len(m.Routes) != 1 {
			t.Fatalf("route message %s: %v", raw, err)
		}
		if h, present := m.Routes[0]["host"]; !present || h != nil {
			t.Errorf("host-less route sent with host %#v (present %v), want null: %s", h, present, raw)
		}
		if m.TableVersion == 0 || m.TableVersion != tr.state.TableVersion {
			t.Errorf("table-version %d, want the Tron's %d", m.TableVersion, tr.state.TableVersion)
		}
	}
}

// TestAckedTableIsNotResent: a frontend that acked the current table gets only tron-info
// with its heartbeats; after a change it acks nothing, and its next heartbeat gets the new
// table again.
func TestAckedTableIsNotResent(t *testing.T) {
	tr := startAMQPTron(t, nil)
	f := amqpNode(t, tr.opts.TronQueue, protocol.TypeFrontend, "acker-0", protocol.JSON)
	f.awake(t)
	f.expect(t, protocol.ActionTronInfo)
	f.ack(t, f.expect(t, protocol.ActionRoute), protocol.AckOK, "")
	for i := 0; i < 2; i++ { // the second tron-info comes after any route the first heartbeat caused
		f.heartbeat(t)
		f.expect(t, protocol.ActionTronInfo)
	}
	if n := f.pending(protocol.ActionRoute); n != 0 {
		t.Fatalf("an acked table was sent again %d times", n)
	}
	sha := tr.upload(t, makeBundle(t, "h.example", "/x", "acked"))
	if status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha}); status != 202 {
		t.Fatalf("enable = %d %v", status, res)
	}
	first := f.expect(t, protocol.ActionRoute) // the broadcast, not acked
	f.heartbeat(t)
	again := f.expect(t, protocol.ActionRoute)
	if r := again.Data.(*protocol.Route); r.TableVersion != first.Data.(*protocol.Route).TableVersion || len(r.Routes) != 1 || r.Routes[0].Host != "h.example" {
		t.Errorf("re-sent table %+v, want the broadcast one", r)
	}
}

// fakeConfigNode is a runner's configuration endpoint on the shared broker, named id.
func fakeConfigNode(t *testing.T, id string) (values func() map[string]string) {
	t.Helper()
	var mu sync.Mutex
	vals := map[string]string{rtconfig.KeyLogLevel: "info", rtconfig.KeyStatsd: "off"}
	node := rtconfig.Node{ID: id, Component: "runner",
		Get: func() map[string]string { mu.Lock(); defer mu.Unlock(); return maps.Clone(vals) },
		Set: func(k, v string) error { mu.Lock(); defer mu.Unlock(); vals[k] = v; return nil }}
	e := rtconfig.NewEndpoint(dialBroker(t), testRunnerKey, id+".config", node, testLogger(t), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return node.Get
}

// TestConfigAPI (issue 14 part 3): GET /api/v1/config gathers every node's values over
// funcatron.configuration (the Tron's own and a runner's), POST /api/v1/config sets one and
// says who took it (the Tron's log level changes at run time), and POST /api/v1/stats goes
// the same way: the runner gets the StatsD target, the Tron keeps it.
func TestConfigAPI(t *testing.T) {
	logs, err := logging.Open(testenv.NewLogWriter(t), "tron", "info", "text")
	if err != nil {
		t.Fatal(err)
	}
	tr := startAMQPTron(t, func(o *Options) { o.Logs, o.Logger = logs, logs.Logger })
	runner := amqpNode(t, tr.opts.TronQueue, protocol.TypeRunner, "", protocol.EDN)
	runner.awake(t)
	runner.expect(t, protocol.ActionTronInfo)
	values := fakeConfigNode(t, runner.Inbox())

	var nodes map[string]any
	testenv.WaitFor(t, 10*time.Second, "GET /api/v1/config answered by the Tron and the runner", func() bool {
		status, res := tr.api(t, "GET", "/api/v1/config", nil)
		nodes, _ = res["nodes"].(map[string]any)
		return status == 200 && len(nodes) == 2
	})
	tronNode, _ := nodes[tr.nodeID()].(map[string]any)
	if v, _ := tronNode["values"].(map[string]any); tronNode["component"] != "tron" || v["log-level"] != "info" || v["statsd"] != "off" {
		t.Errorf("the Tron's entry: %v (all: %v)", tronNode, nodes)
	}

	status, res := tr.api(t, "POST", "/api/v1/config", map[string]any{"key": "log-level", "value": "debug"})
	if status != 200 || len(anyStrings(res["took"])) != 2 || logs.Level.Level() != slog.LevelDebug || values()["log-level"] != "debug" {
		t.Errorf("POST /api/v1/config = %d %v; Tron level %v, runner %v", status, res, logs.Level.Level(), values())
	}
	if status, res := tr.api(t, "POST", "/api/v1/config", map[string]any{"key": "colour", "value": "red"}); status != 400 {
		t.Errorf("unknown key: %d %v", status, res)
	}
	status, res = tr.api(t, "POST", "/api/v1/stats", map[string]any{"enable": true, "host": "127.0.0.1", "port": 8125})
	if status != 200 || values()["statsd"] != "127.0.0.1:8125" {
		t.Errorf("POST /api/v1/stats = %d %v; runner's statsd %q", status, res, values()["statsd"])
	}
	if st := tr.statsdTarget(); st == nil || !st.Enabled || st.Port != 8125 {
		t.Errorf("the Tron keeps StatsD target %+v", st)
	}
	late := amqpNode(t, tr.opts.TronQueue, protocol.TypeRunner, "", protocol.EDN)
	lateValues := fakeConfigNode(t, late.Inbox())
	late.awake(t)
	testenv.WaitFor(t, 15*time.Second, "a runner that awakes later gets the StatsD target", func() bool {
		return lateValues()["statsd"] == "127.0.0.1:8125"
	})
}
