package tron

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/logging"
	"github.com/funcatron/funcatron/internal/protocol"
)

// TestLogsFilterBySHAAndRoute: GET /api/v1/logs answers the kept bundle output of the
// bundle (sha prefix) or the route asked for, and refuses malformed queries clearly.
func TestLogsFilterBySHAAndRoute(t *testing.T) {
	tr := startMemTron(t, nil)
	a := tr.upload(t, makeBundle(t, "", "/la", "a"))
	b := tr.upload(t, makeBundle(t, "shop.example", "/lb", "b"))
	for _, r := range []struct{ sha, host, path, msg string }{{a, "", "/la", "from a"}, {b, "shop.example", "/lb", "from b"}} {
		tr.logs.Add(logging.Record{Component: "runner", Msg: r.msg, Attrs: map[string]any{"sha": r.sha, "host": r.host, "path": r.path, "bundle_output": true}})
	}
	msgs := func(query string) []string {
		status, raw := tr.apiRaw(t, "GET", "/api/v1/logs"+query, nil)
		var res struct{ Logs []logging.Record }
		if status != http.StatusOK || json.Unmarshal(raw, &res) != nil {
			t.Fatalf("GET /api/v1/logs%s = %d %s", query, status, raw)
		}
		var out []string
		for _, r := range res.Logs {
			out = append(out, r.Msg)
		}
		return out
	}
	for query, want := range map[string][]string{
		"?sha=" + a[:8]:           {"from a"},
		"?sha=" + b:               {"from b"},
		"?route=*/la":             {"from a"},
		"?route=shop.example/lb/": {"from b"},
		"?route=other.example/lb": nil,
		"":                        {"from a", "from b"},
	} {
		if got := msgs(query); len(got) != len(want) || (len(want) > 0 && got[0] != want[0]) {
			t.Errorf("GET /api/v1/logs%s = %q, want %q", query, got, want)
		}
	}
	for query, status := range map[string]int{
		"?sha=" + a[:8] + "&route=*/la": http.StatusBadRequest,
		"?route=nopath":                 http.StatusBadRequest,
		"?sha=zz":                       http.StatusBadRequest,
		"?sha=00000000":                 http.StatusNotFound,
	} {
		if got, raw := tr.apiRaw(t, "GET", "/api/v1/logs"+query, nil); got != status {
			t.Errorf("GET /api/v1/logs%s = %d %s, want %d", query, got, raw, status)
		}
	}
	if got, _ := tr.apiRaw(t, "GET", "/api/v1/logs", nil, "wrong-token"); got != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/logs with a wrong token = %d, want 401", got)
	}
}

// TestTakeLogBounded: a bundle output record on funcatron.logging that nests deeper than
// protocol.MaxDepth or holds a collection wider than protocol.MaxItems is dropped like on
// every other consumer; a plain one is kept.
func TestTakeLogBounded(t *testing.T) {
	tr := &Tron{logs: newLogs()}
	record := func(msg, junk string) *amqpbus.Delivery {
		return &amqpbus.Delivery{Body: []byte(`{"component":"runner","msg":"` + msg + `","attrs":{"bundle_output":true,"junk":` + junk + `}}`)}
	}
	tr.takeLog(context.Background(), record("deep", strings.Repeat("[", protocol.MaxDepth)+strings.Repeat("]", protocol.MaxDepth)))
	tr.takeLog(context.Background(), record("wide", "["+strings.Repeat("1,", protocol.MaxItems+1)+"1]"))
	tr.takeLog(context.Background(), record("plain", "[1]"))
	var kept []string
	for _, r := range tr.logs.Recent() {
		kept = append(kept, r.Msg)
	}
	if len(kept) != 1 || kept[0] != "plain" {
		t.Errorf("kept %q, want only the plain record", kept)
	}
}
