package tron

import (
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
)

// Deploying a new version with replace and no props keeps the serving version's props
// (spec/tron-api.md "Props on replace"); explicit props, even empty, win.
func TestReplaceWithoutPropsKeepsTheReplacedProps(t *testing.T) {
	tr := startMemTron(t, func(o *Options) { o.EnableWait = 200 * time.Millisecond })
	v1 := tr.upload(t, makeBundle(t, "", "/props", "v1"))
	v2 := tr.upload(t, makeBundle(t, "", "/props", "v2"))
	v3 := tr.upload(t, makeBundle(t, "", "/props", "v3"))
	runner := tr.node(t, protocol.TypeRunner, "RU-props", "", protocol.JSON)
	runner.awake(t)
	runner.expect(t, protocol.ActionAllBundles)

	enable := func(body map[string]any) protocol.Props {
		t.Helper()
		done := runner.ackNext(t, protocol.ActionEnable, protocol.AckOK, "")
		if status, res := tr.api(t, "POST", "/api/v1/enable", body); status != 200 {
			t.Fatalf("enable %v = %d %v", body, status, res)
		}
		<-done
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.state.Enabled[tr.state.find(body["sha"].(string))].Props
	}
	enable(map[string]any{"sha": v1, "props": map[string]any{"db": "postgres://x"}})
	if p := enable(map[string]any{"sha": v2, "replace": true}); p["db"] != "postgres://x" {
		t.Errorf("props after replace without props = %v, want the replaced bundle's", p)
	}
	if p := enable(map[string]any{"sha": v3, "replace": true, "props": map[string]any{}}); len(p) != 0 {
		t.Errorf("props after replace with props {} = %v, want none", p)
	}
}

// wantFailedEnable checks a 422 of enable: success false, an error, each runner's error, and
// sha not enabled.
func wantFailedEnable(t *testing.T, tr *memTron, res map[string]any, sha string, runners map[string]string) {
	t.Helper()
	got, _ := res["runners"].(map[string]any)
	for id, text := range runners {
		if e, _ := got[id].(string); !strings.Contains(e, text) {
			t.Errorf("runners[%s] = %q, want %q in it: %v", id, e, text, res)
		}
	}
	if res["success"] != false || res["error"] == nil {
		t.Errorf("422 body %v, want success false and an error", res)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.state.find(sha) >= 0 {
		t.Errorf("%s is enabled after a failed enable", sha)
	}
}

// An enable with replace that every runner fails is a 422, and the version that was serving
// keeps serving: still enabled with its props, never disabled at the runners, still in the
// frontends' table (spec/tron-api.md "A failed enable fails").
func TestFailedReplaceKeepsTheServingVersion(t *testing.T) {
	tr := startMemTron(t, func(o *Options) { o.EnableWait = 300 * time.Millisecond })
	v1 := tr.upload(t, makeBundle(t, "", "/keep", "v1"))
	v2 := tr.upload(t, makeBundle(t, "", "/keep", "v2"))
	runner := tr.node(t, protocol.TypeRunner, "RU-keep", "", protocol.JSON)
	runner.awake(t)
	runner.expect(t, protocol.ActionAllBundles)
	front := tr.node(t, protocol.TypeFrontend, "FRNT-keep", "f", protocol.JSON)
	front.awake(t)
	front.expect(t, protocol.ActionRoute)

	done := runner.ackNext(t, protocol.ActionEnable, protocol.AckOK, "")
	if status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": v1, "props": map[string]any{"db": "x"}}); status != 200 {
		t.Fatalf("enable v1 = %d %v", status, res)
	}
	<-done
	front.expect(t, protocol.ActionRoute)
	done = runner.ackNext(t, protocol.ActionEnable, protocol.AckError, "exec: python9: not found\nstderr: boom")
	status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": v2, "replace": true})
	<-done
	if status != 422 {
		t.Fatalf("failed replace = %d %v, want 422", status, res)
	}
	wantFailedEnable(t, tr, res, v2, map[string]string{"RU-keep": "stderr: boom"})
	if d := runner.expect(t, protocol.ActionDisable).Data.(*protocol.Disable); d.SHA != v2 {
		t.Errorf("the runner was told to disable %s, want only the failed %s", d.SHA, v2)
	}
	routes := front.expect(t, protocol.ActionRoute).Data.(*protocol.Route).Routes
	if len(routes) != 1 || routes[0].SHA != v1 {
		t.Errorf("frontend route = %s, want %s still serving", fmtRoutes(routes), v1)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if i := tr.state.find(v1); i < 0 || tr.state.Enabled[i].Props["db"] != "x" {
		t.Errorf("v1 after the failed replace: %+v, want enabled with its props", tr.state.Enabled)
	}
}
