package tron

import (
	"bytes"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/funcatron/funcatron/bundles"

	"github.com/funcatron/funcatron/internal/protocol"
)

// metricValue reads a counter or gauge (the sum over its label values) from tr's registry.
func metricValue(t testing.TB, tr *Tron, name string) float64 {
	t.Helper()
	mfs, err := tr.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += value(m)
		}
	}
	return sum
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

func TestAuth(t *testing.T) {
	tr := startMemTron(t, nil)
	paths := []struct{ method, path string }{
		{"GET", "/api/v1/known_funcs"}, {"GET", "/api/v1/routes"}, {"GET", "/api/v1/stats"},
		{"POST", "/api/v1/add_func"}, {"POST", "/api/v1/enable"}, {"POST", "/api/v1/disable"},
		{"GET", "/api/v1/bundle/" + strings.Repeat("a", 64)}, {"DELETE", "/api/v1/bundle/" + strings.Repeat("a", 64)},
		{"GET", "/api/v1/events"}, {"GET", "/api/v1/nonexistent"},
	}
	for _, p := range paths {
		for _, tok := range []string{"", "wrong", testToken + "x"} {
			t.Run(p.method+p.path+"/"+tok, func(t *testing.T) {
				status, res := tr.api(t, p.method, p.path, nil, tok)
				if status != 401 || res["error"] == nil {
					t.Errorf("%s %s with token %q = %d %v, want 401 with an error", p.method, p.path, tok, status, res)
				}
			})
		}
	}
	for _, open := range []string{"/healthz", "/metrics"} {
		if status, _ := tr.apiRaw(t, "GET", open, nil, ""); status != 200 {
			t.Errorf("GET %s without token = %d, want 200", open, status)
		}
	}
}

func TestGeneratedTokenIsStoredPrivately(t *testing.T) {
	tr := startMemTron(t, func(o *Options) { o.Token = "" })
	path := tr.opts.DataDir + "/" + tokenFileName
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("token file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	tok, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := tr.api(t, "GET", "/api/v1/routes", nil, strings.TrimSpace(string(tok))); status != 200 {
		t.Errorf("the generated token is refused: %d", status)
	}
}

func TestUploadAndDownload(t *testing.T) {
	tr := startMemTron(t, nil)
	data := makeBundle(t, "Example.com", "/hello", "up")
	status, res := tr.api(t, "POST", "/api/v1/add_func", data)
	if status != 200 || res["accepted"] != true || res["type"] != "exec" || res["route"] != "/hello" || res["host"] != "example.com" {
		t.Fatalf("add_func = %d %v", status, res)
	}
	sha := res["sha"].(string)
	if sha != shaOf(data) {
		t.Errorf("sha = %s, want %s", sha, shaOf(data))
	}
	ops, _ := res["operations"].([]any)
	if len(ops) != 1 || ops[0].(map[string]any)["operationId"] != "hello" || res["swagger"] == nil {
		t.Errorf("operations = %v, swagger = %v", res["operations"], res["swagger"])
	}
	// Same bytes again: same answer, nothing new.
	status, again := tr.api(t, "POST", "/api/v1/add_func", data)
	if status != 200 || again["sha"] != sha || again["new"] != false || again["uploaded-at"] != res["uploaded-at"] {
		t.Errorf("second upload = %d %v, want the stored bundle", status, again)
	}
	// Listing.
	status, known := tr.api(t, "GET", "/api/v1/known_funcs", nil)
	list, _ := known["func-bundles"].([]any)
	if status != 200 || len(list) != 1 {
		t.Fatalf("known_funcs = %d %v", status, known)
	}
	kb := list[0].(map[string]any)
	if kb["sha"] != sha || kb["enabled"] != false || kb["size"] != float64(len(data)) || kb["path"] != "/hello" || kb["type"] != "exec" {
		t.Errorf("known_funcs entry = %v", kb)
	}
	// Download with the token: the exact bytes, as a zip.
	status, got := tr.apiRaw(t, "GET", "/api/v1/bundle/"+sha, nil)
	if status != 200 || !bytes.Equal(got, data) {
		t.Errorf("download = %d, %d bytes, want 200 and the %d uploaded bytes", status, len(got), len(data))
	}
	// Download with a signed URL, no token.
	q := tr.signer.query(sha)
	status, got = tr.apiRaw(t, "GET", "/api/v1/bundle/"+sha+"?"+q, nil, "")
	if status != 200 || !bytes.Equal(got, data) {
		t.Errorf("signed download = %d, %d bytes", status, len(got))
	}
	// A signature is for one sha only, and unknown shas are 404.
	other := strings.Repeat("b", 64)
	if status, _ := tr.apiRaw(t, "GET", "/api/v1/bundle/"+other+"?"+q, nil, ""); status != 401 {
		t.Errorf("signature of another sha = %d, want 401", status)
	}
	if status, _ := tr.apiRaw(t, "GET", "/api/v1/bundle/"+other, nil); status != 404 {
		t.Errorf("unknown sha = %d, want 404", status)
	}
	// Delete: 409 while enabled, then 200, then 404.
	if status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha}); status != 202 {
		t.Fatalf("enable = %d %v", status, res)
	}
	if status, _ := tr.api(t, "DELETE", "/api/v1/bundle/"+sha, nil); status != 409 {
		t.Errorf("delete while enabled = %d, want 409", status)
	}
	if status, _ := tr.api(t, "POST", "/api/v1/disable", map[string]any{"sha": sha}); status != 200 {
		t.Fatalf("disable = %d", status)
	}
	if status, _ := tr.api(t, "DELETE", "/api/v1/bundle/"+sha, nil); status != 200 {
		t.Errorf("delete = %d, want 200", status)
	}
	if status, _ := tr.api(t, "DELETE", "/api/v1/bundle/"+sha, nil); status != 404 {
		t.Errorf("delete again = %d, want 404", status)
	}
	if status, _ := tr.apiRaw(t, "GET", "/api/v1/bundle/"+sha, nil); status != 404 {
		t.Errorf("download after delete = %d, want 404", status)
	}
}

func TestInvalidBundlesAre400(t *testing.T) {
	tr := startMemTron(t, nil)
	tests := []struct {
		name string
		body []byte
		want string // in the error
	}{
		{"empty body", nil, "must post"},
		{"not a zip", []byte("hello, I am not a zip"), "zip"},
		{"no manifest", makeZip(t, map[string]string{"bin/run": "x"}), "manifest"},
		{"manifest does not parse", makeZip(t, map[string]string{"funcatron.yaml": "swagger: \"2.0\"\npaths: [\n", "bin/run": "x"}), "funcatron.yaml"},
		{"basePath without slash", makeZip(t, map[string]string{
			"funcatron.yaml": "swagger: \"2.0\"\nbasePath: nope\npaths:\n  /a:\n    get: {operationId: a}\n", "bin/run": "x"}), "basePath"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, res := tr.api(t, "POST", "/api/v1/add_func", tt.body)
			msg, _ := res["error"].(string)
			if status != 400 || res["accepted"] != false || !strings.Contains(strings.ToLower(msg), strings.ToLower(tt.want)) {
				t.Errorf("add_func = %d %v, want 400 with an error mentioning %q", status, res, tt.want)
			}
			if len(tt.body) > 0 {
				_, err := bundles.Open(tt.body, bundles.Limits{})
				if err == nil || msg != err.Error() {
					t.Errorf("error %q, want the bundles package's %q", msg, err)
				}
			}
		})
	}
	if n := len(tr.knownBundles()); n != 0 {
		t.Errorf("%d bundles stored after invalid uploads", n)
	}
}

func TestOversizeUploadIs413(t *testing.T) {
	tr := startMemTron(t, func(o *Options) { o.MaxBundleBytes = 64 << 10 })
	status, res := tr.api(t, "POST", "/api/v1/add_func", make([]byte, 128<<10))
	if status != 413 || res["error"] == nil {
		t.Errorf("oversize upload = %d %v, want 413 with a JSON error", status, res)
	}
	// The server still serves.
	if status, _ := tr.api(t, "GET", "/api/v1/routes", nil); status != 200 {
		t.Errorf("after a 413: routes = %d", status)
	}
}

// TestOversizeUploadIs413WhileStillSending: a client still sending a large body when the 413
// goes out reads the 413, not a connection reset (Go's net/http client, as cmd/funcatron
// uses: the server must not close on unread bytes at once).
func TestOversizeUploadIs413WhileStillSending(t *testing.T) {
	tr := startMemTron(t, func(o *Options) { o.MaxBundleBytes = 64 << 10 })
	for range 5 {
		status, res := tr.api(t, "POST", "/api/v1/add_func", make([]byte, 16<<20))
		if status != 413 || res["error"] == nil {
			t.Errorf("16 MiB upload over a 64 KiB limit = %d %v, want 413 with a JSON error", status, res)
		}
	}
}

func TestEnableBadRequests(t *testing.T) {
	tr := startMemTron(t, nil)
	tests := []struct {
		name   string
		body   any
		status int
	}{
		{"no body", nil, 400},
		{"not JSON", []byte("sha=abc"), 400},
		{"no sha", map[string]any{"props": map[string]any{}}, 400},
		{"malformed sha", map[string]any{"sha": "xyz"}, 400},
		{"props not a map", map[string]any{"sha": strings.Repeat("a", 64), "props": []int{1}}, 400},
		{"unknown sha", map[string]any{"sha": strings.Repeat("a", 64)}, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, res := tr.api(t, "POST", "/api/v1/enable", tt.body)
			if status != tt.status || res["error"] == nil || res["success"] != false {
				t.Errorf("enable = %d %v, want %d with an error", status, res, tt.status)
			}
		})
	}
}

func TestRoutesHealthMetricsEvents(t *testing.T) {
	tr := startMemTron(t, nil)
	a, b := enableTwo(t, tr)
	status, raw := tr.apiRaw(t, "GET", "/api/v1/routes", nil)
	if status != 200 || !strings.HasPrefix(string(raw), "[") || strings.Contains(string(raw), "props") {
		t.Errorf("routes = %d %s, want a JSON array without props", status, raw)
	}
	if i, j := strings.Index(string(raw), b), strings.Index(string(raw), a); i < 0 || j < 0 || i > j {
		t.Errorf("routes = %s, want %s (longer path) before %s", raw, b, a)
	}
	if status, res := tr.api(t, "GET", "/healthz", nil, ""); status != 200 || res["bus"] != "connected" {
		t.Errorf("healthz = %d %v", status, res)
	}
	tr.net.SetDown(true)
	if status, res := tr.api(t, "GET", "/healthz", nil, ""); status != 503 || res["bus"] != "down" {
		t.Errorf("healthz with the bus down = %d %v, want 503", status, res)
	}
	if status, res := tr.api(t, "POST", "/api/v1/disable", map[string]any{"sha": a}); status != 503 {
		t.Errorf("disable with the bus down = %d %v, want 503", status, res)
	}
	tr.net.SetDown(false)

	status, raw = tr.apiRaw(t, "GET", "/metrics", nil, "")
	for _, want := range []string{
		"funcatron_tron_bundles 2", "funcatron_tron_enabled_routes 2", `funcatron_tron_nodes{type="runner"} 0`,
		"funcatron_tron_enable_seconds_count 2", "funcatron_tron_undecodable_messages_total 0",
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if status != 200 {
		t.Errorf("metrics = %d", status)
	}
	status, res := tr.api(t, "GET", "/api/v1/events", nil)
	evs, _ := res["events"].([]any)
	var keys []string
	for _, e := range evs {
		keys = append(keys, e.(map[string]any)["key"].(string))
	}
	for _, want := range []string{"bundle.uploaded." + a, "bundle.enabled." + a, "bundle.enabled." + b, "route.updated"} {
		if !slices.Contains(keys, want) {
			t.Errorf("events %v lack %s", keys, want)
		}
	}
	if status != 200 {
		t.Errorf("events = %d", status)
	}
}

// TestStatsdTargetChecked: POST /api/v1/stats refuses a bad target before anything is
// sent. That a good one reaches every node (over funcatron.configuration) is TestConfigAPI's.
func TestStatsdTargetChecked(t *testing.T) {
	tr := startMemTron(t, nil)
	for _, bad := range []any{map[string]any{}, map[string]any{"enable": true}, map[string]any{"enable": true, "host": "h", "port": 0}} {
		if status, _ := tr.api(t, "POST", "/api/v1/stats", bad); status != 400 {
			t.Errorf("POST stats %v = %d, want 400", bad, status)
		}
	}
}

func TestMethodNotAllowedAndNotFound(t *testing.T) {
	tr := startMemTron(t, nil)
	status, res := tr.api(t, "GET", "/api/v1/enable", nil)
	if status != http.StatusMethodNotAllowed || res["error"] == nil {
		t.Errorf("GET enable = %d %v, want 405", status, res)
	}
	if status, _ := tr.api(t, "GET", "/api/v1/nope", nil); status != 404 {
		t.Errorf("unknown route = %d, want 404", status)
	}
	if status, _ := tr.api(t, "GET", "/nope", nil, ""); status != 404 {
		t.Errorf("GET /nope = %d, want 404", status)
	}
	if status, _ := tr.api(t, "POST", "/", nil, ""); status != http.StatusMethodNotAllowed {
		t.Errorf("POST / (the dashboard) = %d, want 405", status)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	tr := startMemTron(t, func(o *Options) { o.DataDir = dir; o.EnableWait = 100 * time.Millisecond })
	a, b := enableTwo(t, tr)
	before := tr.currentRoutes()
	// A second Tron on the same data dir (the first keeps running: the state is on disk as
	// soon as the calls returned, so no shutdown path is involved).
	again := startMemTron(t, func(o *Options) { o.DataDir = dir })
	after := again.currentRoutes()
	if fmtRoutes(after) != fmtRoutes(before) {
		t.Errorf("routes after restart = %s, want %s", fmtRoutes(after), fmtRoutes(before))
	}
	status, raw := again.apiRaw(t, "GET", "/api/v1/bundle/"+a, nil)
	if status != 200 || shaOf(raw) != a {
		t.Errorf("bundle %s after restart: %d", a, status)
	}
	r := again.node(t, protocol.TypeRunner, "RU-re", "", protocol.EDN)
	r.heartbeat(t)
	r.expect(t, protocol.ActionResendAwake)
	r.awake(t)
	checkRunnerAnnouncement(t, r, protocol.EDN, a, b)
}
