package tron

import (
	"bytes"
	"strings"
	"testing"
)

func TestRoutesTakeAShaPrefix(t *testing.T) {
	tr := startMemTron(t, nil)
	data := makeBundle(t, "", "/p", "prefix")
	sha := tr.upload(t, data)
	if status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha[:8]}); status != 202 || res["sha"] != sha {
		t.Errorf("enable by an 8-digit prefix = %d %v, want 202 for %s", status, res, sha)
	}
	if status, res := tr.api(t, "POST", "/api/v1/disable", map[string]any{"sha": strings.ToUpper(sha[:12])}); status != 200 || res["sha"] != sha {
		t.Errorf("disable by an upper-case prefix = %d %v, want 200 for %s", status, res, sha)
	}
	if status, got := tr.apiRaw(t, "GET", "/api/v1/bundle/"+sha[:9], nil); status != 200 || !bytes.Equal(got, data) {
		t.Errorf("download by prefix = %d (%d bytes), want 200 and the bundle", status, len(got))
	}
	for _, tt := range []struct {
		name, sha string
		status    int
	}{
		{"too short", sha[:7], 400},
		{"not hex", "zzzzzzzz", 400},
		{"no such prefix", strings.Repeat("0", 8), 404},
	} {
		if status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": tt.sha}); status != tt.status || res["error"] == nil {
			t.Errorf("enable %s (%s) = %d %v, want %d", tt.name, tt.sha, status, res, tt.status)
		}
	}
	if status, res := tr.api(t, "DELETE", "/api/v1/bundle/"+sha[:8], nil); status != 200 || res["sha"] != sha {
		t.Errorf("delete by prefix = %d %v, want 200", status, res)
	}
}

// Two stored bundles sharing 8 hex digits cannot be uploaded on purpose (it takes ~2^32
// tries), so their metadata is put in the catalogue directly: this tests the resolution.
func TestAmbiguousShaPrefixIs409NamingTheCandidates(t *testing.T) {
	tr := startMemTron(t, nil)
	a, b := "abcdef12"+strings.Repeat("0", 56), "abcdef12"+strings.Repeat("1", 56)
	tr.mu.Lock()
	tr.bundles[a] = bundleMeta{SHA: a, BasePath: "/a"}
	tr.bundles[b] = bundleMeta{SHA: b, BasePath: "/b"}
	tr.mu.Unlock()
	for _, path := range []string{"/api/v1/enable", "/api/v1/disable"} {
		status, res := tr.api(t, "POST", path, map[string]any{"sha": "abcdef12"})
		msg, _ := res["error"].(string)
		if status != 409 || !strings.Contains(msg, a) || !strings.Contains(msg, b) {
			t.Errorf("%s with an ambiguous prefix = %d %v, want 409 naming both", path, status, res)
		}
	}
	if status, res := tr.api(t, "DELETE", "/api/v1/bundle/abcdef12", nil); status != 409 {
		t.Errorf("delete with an ambiguous prefix = %d %v, want 409", status, res)
	}
	if status, res := tr.api(t, "POST", "/api/v1/disable", map[string]any{"sha": "abcdef121"}); status != 200 || res["sha"] != b {
		t.Errorf("disable with a longer prefix = %d %v, want 200 for %s", status, res, b)
	}
}

func TestKnownFuncsShowTitleAndVersion(t *testing.T) {
	tr := startMemTron(t, nil)
	sha := tr.upload(t, makeBundle(t, "", "/tv", "tv"))
	status, res := tr.api(t, "GET", "/api/v1/known_funcs", nil)
	list, _ := res["func-bundles"].([]any)
	if status != 200 || len(list) != 1 {
		t.Fatalf("known_funcs = %d %v", status, res)
	}
	b := list[0].(map[string]any)
	if b["sha"] != sha || b["title"] != "t" || b["version"] != "1.0" {
		t.Errorf("known_funcs entry = %v, want title t and version 1.0", b)
	}
}
