package tron

import (
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
