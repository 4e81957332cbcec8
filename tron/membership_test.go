package tron

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

// enableTwo uploads and enables two bundles (no runner yet: 202) and returns their shas,
// older first.
func enableTwo(t *testing.T, tr *memTron) (string, string) {
	t.Helper()
	a := tr.upload(t, makeBundle(t, "", "/api", "a"))
	b := tr.upload(t, makeBundle(t, "example.com", "/api/v2", "b"))
	for i, sha := range []string{a, b} {
		status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha, "props": map[string]any{"n": i}})
		if status != 202 {
			t.Fatalf("enable %s with no runner = %d %v, want 202", sha, status, res)
		}
	}
	return a, b
}

func TestAwake(t *testing.T) {
	tests := []struct {
		name      string
		typ       string
		spoke     protocol.Codec
		wantCodec protocol.Codec
	}{
		{"runner speaking EDN gets EDN", protocol.TypeRunner, protocol.EDN, protocol.EDN},
		{"runner speaking JSON gets JSON", protocol.TypeRunner, protocol.JSON, protocol.JSON},
		{"frontend always gets JSON", protocol.TypeFrontend, protocol.EDN, protocol.JSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := startMemTron(t, nil)
			a, b := enableTwo(t, tr)
			inbox := "RU-1"
			if tt.typ == protocol.TypeFrontend {
				inbox = "FRNT1"
			}
			n := tr.node(t, tt.typ, inbox, "i-1", tt.spoke)
			n.awake(t)

			info := n.expect(t, protocol.ActionTronInfo)
			if got := info.Data.(*protocol.TronInfo).TronHost; got != tr.TronHost() || got.Port == 0 {
				t.Errorf("tron-host = %+v, want %+v", got, tr.TronHost())
			}
			if info.Codec != tt.wantCodec {
				t.Errorf("tron-info codec = %s, want %s", info.Codec, tt.wantCodec)
			}
			switch tt.typ {
			case protocol.TypeRunner:
				checkRunnerAnnouncement(t, n, tt.wantCodec, a, b)
			case protocol.TypeFrontend:
				m := n.expect(t, protocol.ActionRoute)
				if m.Codec != protocol.JSON {
					t.Errorf("route codec = %s, want JSON", m.Codec)
				}
				routes := m.Data.(*protocol.Route).Routes
				if len(routes) != 2 || routes[0].SHA != b || routes[1].SHA != a {
					t.Errorf("route = %s, want %s then %s", fmtRoutes(routes), b, a)
				}
			}
			testenv.WaitFor(t, 5*time.Second, "the awake event", func() bool { return hasEvent(tr, tt.typ+".awake."+inbox) })
		})
	}
}

// checkRunnerAnnouncement checks a runner got all-bundles listing shas and one enable each.
func checkRunnerAnnouncement(t *testing.T, n *fakeNode, codec protocol.Codec, shas ...string) {
	t.Helper()
	m := n.expect(t, protocol.ActionAllBundles)
	if m.Codec != codec {
		t.Errorf("all-bundles codec = %s, want %s", m.Codec, codec)
	}
	all := m.Data.(*protocol.AllBundles)
	var got []string
	for _, r := range all.Bundles {
		got = append(got, r.SHA)
		if !strings.Contains(r.URL, "/api/v1/bundle/"+r.SHA+"?exp=") || !strings.Contains(r.URL, "&sig=") {
			t.Errorf("bundle %s: URL %q is not a signed download URL", r.SHA, r.URL)
		}
	}
	if !slices.Equal(got, shas) {
		t.Errorf("all-bundles = %v, want %v", got, shas)
	}
	for i, sha := range shas {
		e := n.expect(t, protocol.ActionEnable).Data.(*protocol.Enable)
		if e.SHA != sha || e.URL == "" || e.TronHost.Port == 0 {
			t.Errorf("enable #%d = %+v, want sha %s with URL and tron-host", i, e, sha)
		}
		if n, _ := e.Props["n"].(float64); int(n) != i {
			if n64, _ := e.Props["n"].(int64); int(n64) != i {
				t.Errorf("enable #%d props = %v, want n=%d", i, e.Props, i)
			}
		}
	}
}

func hasEvent(tr *memTron, key string) bool {
	for _, e := range tr.net.Events() {
		if e.Exchange == protocol.EventsExchange && e.Key == key {
			return true
		}
	}
	return false
}

func TestHeartbeatFromUnknownNodeGetsResendAwake(t *testing.T) {
	tr := startMemTron(t, nil)
	n := tr.node(t, protocol.TypeRunner, "RU-unknown", "", protocol.EDN)
	n.heartbeat(t)
	if m := n.expect(t, protocol.ActionResendAwake); m.Codec != protocol.EDN {
		t.Errorf("resend-awake codec = %s, want the EDN the heartbeat spoke", m.Codec)
	}
	// Once awake, heartbeats get tron-info.
	n.awake(t)
	n.expect(t, protocol.ActionTronInfo)
	n.heartbeat(t)
	n.expect(t, protocol.ActionTronInfo)
	if n.pending(protocol.ActionResendAwake) != 0 {
		t.Error("a known node got resend-awake")
	}
}

func TestSilentNodeIsDropped(t *testing.T) {
	tr := startMemTron(t, func(o *Options) { o.HeartbeatPeriod = 100 * time.Millisecond })
	live := tr.node(t, protocol.TypeRunner, "RU-live", "", protocol.EDN)
	silent := tr.node(t, protocol.TypeFrontend, "FRNT-silent", "f", protocol.JSON)
	live.awake(t)
	silent.awake(t)
	silent.expect(t, protocol.ActionTronInfo)
	start := time.Now()
	testenv.WaitFor(t, 5*time.Second, "frontend.lost event", func() bool {
		live.heartbeat(t) // keeps the runner alive meanwhile
		return hasEvent(tr, "frontend.lost.FRNT-silent")
	})
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("dropped after %s, before 3 heartbeat periods", d)
	}
	net := tr.stats().Network
	if _, ok := net["FRNT-silent"]; ok {
		t.Error("the silent frontend is still in the network")
	}
	if _, ok := net["RU-live"]; !ok {
		t.Error("the runner that heartbeats was dropped")
	}
	// Its next heartbeat is from an unknown node.
	silent.heartbeat(t)
	silent.expect(t, protocol.ActionResendAwake)
}

func TestDuplicateInstanceIDKillsTheOlder(t *testing.T) {
	tr := startMemTron(t, nil)
	older := tr.node(t, protocol.TypeFrontend, "FRNT-old", "nginx-1:0", protocol.JSON)
	newer := tr.node(t, protocol.TypeFrontend, "FRNT-new", "nginx-1:0", protocol.JSON)
	other := tr.node(t, protocol.TypeFrontend, "FRNT-other", "nginx-2:0", protocol.JSON)
	older.awake(t)
	older.expect(t, protocol.ActionRoute)
	other.awake(t)
	other.expect(t, protocol.ActionRoute)
	newer.awake(t)
	newer.expect(t, protocol.ActionRoute)

	die := older.expect(t, protocol.ActionDie)
	if got := die.Data.(*protocol.Die).InstanceID; got != "nginx-1:0" || die.Codec != protocol.JSON {
		t.Errorf("die = %q in %s, want nginx-1:0 in JSON", got, die.Codec)
	}
	net := tr.stats().Network
	if _, ok := net["FRNT-old"]; ok {
		t.Error("the older frontend is still in the network")
	}
	if newer.pending(protocol.ActionDie) != 0 || other.pending(protocol.ActionDie) != 0 {
		t.Error("die went to the newer frontend or to an unrelated one")
	}
}

func TestDiedRemovesTheNode(t *testing.T) {
	tr := startMemTron(t, nil)
	n := tr.node(t, protocol.TypeRunner, "RU-d", "", protocol.EDN)
	n.awake(t)
	n.expect(t, protocol.ActionTronInfo)
	n.tell(t, &protocol.Died{Type: protocol.TypeRunner})
	testenv.WaitFor(t, 5*time.Second, "runner.died event", func() bool { return hasEvent(tr, "runner.died.RU-d") })
	if _, ok := tr.stats().Network["RU-d"]; ok {
		t.Error("a runner that died is still in the network")
	}
}

func TestEnableWaitsForAck(t *testing.T) {
	tests := []struct {
		name        string
		status      string // of the ack; "-" for none
		errText     string
		wantStatus  int
		wantRunners int
	}{
		{"ok ack", protocol.AckOK, "", 200, 1},
		{"catalogue ack without status", "", "", 200, 1},
		{"error ack", protocol.AckError, "bin/run: exit 1", 422, 0},
		{"no ack", "-", "", 202, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := startMemTron(t, func(o *Options) { o.EnableWait = 300 * time.Millisecond })
			sha := tr.upload(t, makeBundle(t, "", "/x", tt.name))
			n := tr.node(t, protocol.TypeRunner, "RU-a", "", protocol.EDN)
			n.awake(t)
			n.expect(t, protocol.ActionAllBundles)
			front := tr.node(t, protocol.TypeFrontend, "FRNT-a", "f", protocol.JSON)
			front.awake(t)
			front.expect(t, protocol.ActionRoute)

			replied := n.ackNext(t, protocol.ActionEnable, tt.status, tt.errText)
			status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha})
			<-replied
			if status != tt.wantStatus {
				t.Fatalf("enable = %d %v, want %d", status, res, tt.wantStatus)
			}
			if status == 422 {
				wantFailedEnable(t, tr, res, sha, map[string]string{"RU-a": tt.errText})
				routes := front.expect(t, protocol.ActionRoute).Data.(*protocol.Route).Routes
				if len(routes) != 0 {
					t.Errorf("frontend route after a failed enable = %s, want none", fmtRoutes(routes))
				}
				return
			}
			if runners, _ := res["runners"].([]any); len(runners) != tt.wantRunners {
				t.Errorf("runners = %v, want %d", res["runners"], tt.wantRunners)
			}
			if status == 202 && res["warning"] == nil {
				t.Errorf("202 without a warning: %v", res)
			}
			if !slices.Contains(tr.net.RouteQueues(), protocol.RouteQueue("", "/x")) {
				t.Errorf("route queue not declared: %v", tr.net.RouteQueues())
			}
			routes := front.expect(t, protocol.ActionRoute).Data.(*protocol.Route).Routes
			if len(routes) != 1 || routes[0].SHA != sha {
				t.Errorf("frontend route = %s, want %s (the bundle stays enabled)", fmtRoutes(routes), sha)
			}
		})
	}
}

func TestEnableIsOneMessageToEveryRunner(t *testing.T) {
	tr := startMemTron(t, nil)
	sha := tr.upload(t, makeBundle(t, "", "/one", "x"))
	r1 := tr.node(t, protocol.TypeRunner, "RU-1", "", protocol.EDN)
	r2 := tr.node(t, protocol.TypeRunner, "RU-2", "", protocol.JSON)
	r1.awake(t)
	r2.awake(t)
	r1.expect(t, protocol.ActionAllBundles)
	r2.expect(t, protocol.ActionAllBundles)
	done := make(chan struct{})
	var e1, e2 string
	go func() {
		defer close(done)
		m1, err1 := r1.await(protocol.ActionEnable)
		m2, err2 := r2.await(protocol.ActionEnable)
		if err1 != nil || err2 != nil {
			t.Error(err1, err2)
			return
		}
		e1, e2 = m1.UUID, m2.UUID
		if m2.Codec != protocol.JSON {
			t.Errorf("runner 2 got %s, want the JSON it spoke", m2.Codec)
		}
		r1.ack(t, m1, protocol.AckOK, "")
		r2.ack(t, m2, protocol.AckOK, "")
	}()
	status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha, "props": map[string]any{"k": "v"}})
	<-done
	if status != 200 {
		t.Fatalf("enable = %d %v", status, res)
	}
	if e1 == "" || e1 != e2 {
		t.Errorf("msg-ids %q and %q: want one message", e1, e2)
	}
	if runners, _ := res["runners"].([]any); len(runners) != 2 {
		t.Errorf("runners = %v, want both (they acked at once)", res["runners"])
	}
}

func TestEnableConflictAndReplace(t *testing.T) {
	tr := startMemTron(t, func(o *Options) { o.EnableWait = 200 * time.Millisecond })
	oldSHA := tr.upload(t, makeBundle(t, "example.com", "/app", "v1"))
	newSHA := tr.upload(t, makeBundle(t, "example.com", "/app", "v2"))
	runner := tr.node(t, protocol.TypeRunner, "RU-r", "", protocol.EDN)
	front := tr.node(t, protocol.TypeFrontend, "FRNT-r", "f", protocol.JSON)
	runner.awake(t)
	front.awake(t)
	runner.expect(t, protocol.ActionAllBundles)
	front.expect(t, protocol.ActionRoute)

	runner.ackNext(t, protocol.ActionEnable, protocol.AckOK, "")
	if status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": oldSHA}); status != 200 {
		t.Fatalf("enable old = %d %v", status, res)
	}
	front.expect(t, protocol.ActionRoute)

	status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": newSHA})
	if status != 409 || !strings.Contains(res["error"].(string), oldSHA) {
		t.Fatalf("enable on a taken route = %d %v, want 409 naming %s", status, res, oldSHA)
	}

	runner.ackNext(t, protocol.ActionEnable, protocol.AckOK, "")
	status, res = tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": newSHA, "replace": true})
	if status != 200 || res["replaced"] != oldSHA {
		t.Fatalf("enable with replace = %d %v, want 200 replacing %s", status, res, oldSHA)
	}
	routes := front.expect(t, protocol.ActionRoute).Data.(*protocol.Route).Routes
	if len(routes) != 1 || routes[0].SHA != newSHA {
		t.Errorf("route after replace = %s, want only %s", fmtRoutes(routes), newSHA)
	}
	if d := runner.expect(t, protocol.ActionDisable).Data.(*protocol.Disable); d.SHA != oldSHA {
		t.Errorf("disable for %s, want the replaced %s", d.SHA, oldSHA)
	}
	if front.pending(protocol.ActionRoute) != 0 {
		t.Errorf("frontend got %d more route messages, want one per change", front.pending(protocol.ActionRoute))
	}
}

func TestDisableTellsFrontendsAndRunners(t *testing.T) {
	tr := startMemTron(t, func(o *Options) { o.EnableWait = 200 * time.Millisecond })
	a, b := enableTwo(t, tr)
	runner := tr.node(t, protocol.TypeRunner, "RU-x", "", protocol.EDN)
	front := tr.node(t, protocol.TypeFrontend, "FRNT-x", "f", protocol.JSON)
	runner.awake(t)
	front.awake(t)
	front.expect(t, protocol.ActionRoute)
	runner.expect(t, protocol.ActionAllBundles)

	status, res := tr.api(t, "POST", "/api/v1/disable", map[string]any{"sha": a})
	if status != 200 || res["success"] != true {
		t.Fatalf("disable = %d %v", status, res)
	}
	routes := front.expect(t, protocol.ActionRoute).Data.(*protocol.Route).Routes
	if len(routes) != 1 || routes[0].SHA != b {
		t.Errorf("route after disable = %s, want only %s", fmtRoutes(routes), b)
	}
	if d := runner.expect(t, protocol.ActionDisable).Data.(*protocol.Disable); d.SHA != a {
		t.Errorf("disable for %s, want %s", d.SHA, a)
	}
	testenv.WaitFor(t, 5*time.Second, "bundle.disabled event", func() bool { return hasEvent(tr, "bundle.disabled."+a) })

	// Disabling again is harmless; an unknown sha is 404; a bad body is 400.
	if status, _ := tr.api(t, "POST", "/api/v1/disable", map[string]any{"sha": a}); status != 200 {
		t.Errorf("second disable = %d, want 200", status)
	}
	if status, _ := tr.api(t, "POST", "/api/v1/disable", map[string]any{"sha": strings.Repeat("0", 64)}); status != 404 {
		t.Errorf("disable unknown = %d, want 404", status)
	}
	if status, _ := tr.api(t, "POST", "/api/v1/disable", []byte("{nope")); status != 400 {
		t.Errorf("disable with a bad body = %d, want 400", status)
	}
}

func TestUndecodableMessagesAreCounted(t *testing.T) {
	tr := startMemTron(t, nil)
	for _, body := range []string{`{"action":`, `not json at all`, `{"no":"action"}`} {
		tr.net.Inject(tr.opts.TronQueue, protocol.ContentTypeJSON, []byte(body))
	}
	testenv.WaitFor(t, 5*time.Second, "3 undecodable messages counted", func() bool {
		return metricValue(t, tr.Tron, "funcatron_tron_undecodable_messages_total") == 3
	})
	// Still serving.
	n := tr.node(t, protocol.TypeRunner, "RU-after", "", protocol.EDN)
	n.awake(t)
	n.expect(t, protocol.ActionTronInfo)
}

func TestStatsShowsNodesAndRouteCounters(t *testing.T) {
	tr := startMemTron(t, nil)
	n := tr.node(t, protocol.TypeRunner, "RU-s", "", protocol.EDN)
	n.awake(t)
	n.expect(t, protocol.ActionTronInfo)
	for i := 0; i < 2; i++ {
		n.tell(t, &protocol.Heartbeat{Type: protocol.TypeRunner,
			Routes: []protocol.RouteEntry{{Queue: "q1", Path: "/x"}},
			Stats:  protocol.Stats{"q1": {Count: 3, Errors: 1, Inflight: 2, TotalMS: 30}}})
		n.expect(t, protocol.ActionTronInfo)
	}
	status, raw := tr.apiRaw(t, "GET", "/api/v1/stats", nil)
	var v statsView
	if err := json.Unmarshal(raw, &v); status != 200 || err != nil {
		t.Fatalf("stats = %d %s (%v)", status, raw, err)
	}
	if got := v.Routes["q1"].RouteStats; got != (protocol.RouteStats{Count: 6, Errors: 2, Inflight: 2, TotalMS: 60}) {
		t.Errorf("routes[q1] = %+v, want counts summed and inflight as last reported", got)
	}
	if nv := v.Network["RU-s"]; nv.Type != protocol.TypeRunner || nv.Version != "fake-1.0" || len(nv.Routes) != 1 {
		t.Errorf("network[RU-s] = %+v", nv)
	}
}

// TestStatsAndMetricsNameRoutes: /api/v1/stats gives each route's host and path next to its
// queue, and the per-route metrics carry them as labels (spec/tron-api.md "Stats and
// metrics name routes").
func TestStatsAndMetricsNameRoutes(t *testing.T) {
	tr := startMemTron(t, func(o *Options) { o.EnableWait = 300 * time.Millisecond })
	sha := tr.upload(t, makeBundle(t, "shop.example", "/cart", "v1"))
	n := tr.node(t, protocol.TypeRunner, "RU-n", "", protocol.EDN)
	n.awake(t)
	n.expect(t, protocol.ActionAllBundles)
	done := n.ackNext(t, protocol.ActionEnable, protocol.AckOK, "")
	if status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha}); status != 200 {
		t.Fatalf("enable = %d %v", status, res)
	}
	<-done
	q := protocol.RouteQueue("shop.example", "/cart")
	n.tell(t, &protocol.Heartbeat{Type: protocol.TypeRunner,
		Routes: []protocol.RouteEntry{{Queue: q, Host: "shop.example", Path: "/cart", SHA: sha}},
		Stats:  protocol.Stats{q: {Count: 3, Errors: 1, TotalMS: 30}}})
	testenv.WaitFor(t, 5*time.Second, "the heartbeat's counters", func() bool { return tr.stats().Routes[q].Count == 3 })
	status, raw := tr.apiRaw(t, "GET", "/api/v1/stats", nil)
	var v statsView
	if err := json.Unmarshal(raw, &v); status != 200 || err != nil {
		t.Fatalf("stats = %d %s (%v)", status, raw, err)
	}
	if got := v.Routes[q]; got.Host != "shop.example" || got.Path != "/cart" || got.Count != 3 {
		t.Errorf("routes[%s] = %+v, want host shop.example, path /cart, count 3", q, got)
	}
	_, raw = tr.apiRaw(t, "GET", "/metrics", nil)
	want := `funcatron_tron_route_requests_total{host="shop.example",path="/cart",queue="` + q + `"} 3`
	if !strings.Contains(string(raw), want) {
		t.Errorf("metrics lack %s", want)
	}
}

// TestHeartbeatOfAStaleBundleGetsDisable: a runner that reports serving a bundle that is
// not enabled (it missed the disable) is told to disable it; enabled ones are left alone.
func TestHeartbeatOfAStaleBundleGetsDisable(t *testing.T) {
	tr := startMemTron(t, func(o *Options) { o.EnableWait = 200 * time.Millisecond })
	a, b := enableTwo(t, tr)
	if status, _ := tr.api(t, "POST", "/api/v1/disable", map[string]any{"sha": a}); status != 200 {
		t.Fatalf("disable = %d", status)
	}
	runner := tr.node(t, protocol.TypeRunner, "RU-cut-off", "", protocol.EDN)
	runner.awake(t)
	runner.expect(t, protocol.ActionAllBundles)
	runner.tell(t, &protocol.Heartbeat{Type: protocol.TypeRunner, Routes: []protocol.RouteEntry{
		{Queue: "qa", Path: "/a", SHA: a}, {Queue: "qb", Path: "/b", SHA: b},
	}})
	if d := runner.expect(t, protocol.ActionDisable).Data.(*protocol.Disable); d.SHA != a {
		t.Errorf("disable for %s, want the disabled %s", d.SHA, a)
	}
	// Serving nothing now: no disable. Handlers run in order, so once the last heartbeat's
	// tron-info is in (one each for the awake and three heartbeats), the one before it was
	// handled completely.
	runner.heartbeat(t)
	runner.heartbeat(t)
	for range 4 {
		runner.expect(t, protocol.ActionTronInfo)
	}
	if n := runner.pending(protocol.ActionDisable); n != 0 {
		t.Errorf("%d more disables, want none (b is enabled, and the last heartbeat listed nothing)", n)
	}
}

// TestHeartbeatDuringDisableLingerGetsNoSecondDisable: a runner told to disable a bundle
// still lists it in the heartbeats of its disable linger; the Tron does not take that for a
// missed disable (no second disable, no "not enabled" log line), as it did after every
// ordinary disable.
func TestHeartbeatDuringDisableLingerGetsNoSecondDisable(t *testing.T) {
	tr := startMemTron(t, func(o *Options) { o.EnableWait = 200 * time.Millisecond })
	a, _ := enableTwo(t, tr)
	runner := tr.node(t, protocol.TypeRunner, "RU-lingering", "", protocol.EDN)
	runner.awake(t)
	runner.expect(t, protocol.ActionAllBundles)
	if status, _ := tr.api(t, "POST", "/api/v1/disable", map[string]any{"sha": a}); status != 200 {
		t.Fatalf("disable = %d", status)
	}
	if d := runner.expect(t, protocol.ActionDisable).Data.(*protocol.Disable); d.SHA != a {
		t.Fatalf("disable for %s, want %s", d.SHA, a)
	}
	runner.tell(t, &protocol.Heartbeat{Type: protocol.TypeRunner, Routes: []protocol.RouteEntry{{Queue: "qa", Path: "/api", SHA: a}}})
	runner.heartbeat(t)
	// Handlers run in order: once the second heartbeat's tron-info is in, the first one was
	// handled completely.
	for range 3 {
		runner.expect(t, protocol.ActionTronInfo)
	}
	if n := runner.pending(protocol.ActionDisable); n != 0 {
		t.Errorf("%d more disables for a bundle the runner was just told to disable, want none", n)
	}
}

// TestGoneInboxIsForgottenAndCaughtUp: a runner whose inbox went away (it failed over to
// another broker, where its exclusive inbox is re-created: spec/protocol.md §9) misses an
// enable; the Tron, told the inbox is unroutable, forgets the runner, so that its next
// heartbeat from the re-created inbox gets resend-awake, and its awake the missed enable.
func TestGoneInboxIsForgottenAndCaughtUp(t *testing.T) {
	tr := startMemTron(t, func(o *Options) { o.EnableWait = 300 * time.Millisecond })
	old := tr.node(t, protocol.TypeRunner, "RU-f", "", protocol.EDN)
	old.awake(t)
	old.expect(t, protocol.ActionAllBundles)
	old.Close() // the inbox is gone with the broker node it lived on
	sha := tr.upload(t, makeBundle(t, "", "/failover", "x"))
	if status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha}); status != 202 {
		t.Fatalf("enable with the runner's inbox gone = %d %v, want 202", status, res)
	}
	testenv.WaitFor(t, 5*time.Second, "the runner forgotten", func() bool {
		_, known := tr.stats().Network["RU-f"]
		return !known
	})

	back := tr.node(t, protocol.TypeRunner, "RU-f", "", protocol.EDN) // re-created on another node
	back.heartbeat(t)
	back.expect(t, protocol.ActionResendAwake)
	back.awake(t)
	checkRunnerAnnouncement(t, back, protocol.EDN, sha)
}
