package tron

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/protocol"
)

// TestExpandedMetadataSkippedAtStart: a store holding the metadata of a manifest that
// expanded before manifests were bounded (the was 582 MB, decoded at every start
// into 3.8 GB) is not read at start: its bundle is skipped and disabled, the others serve.
func TestExpandedMetadataSkippedAtStart(t *testing.T) {
	dir := t.TempDir()
	tr := startMemTron(t, func(o *Options) { o.DataDir = dir; o.EnableWait = 100 * time.Millisecond })
	a, b := enableTwo(t, tr)
	m, err := tr.store.readMeta(a)
	if err != nil {
		t.Fatal(err)
	}
	m.Manifest["x-bomb"] = strings.Repeat("ha", int(metaLimit(bundles.DefaultMaxManifestBytes))/2)
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tr.store.metaPath(a), raw, 0o600); err != nil {
		t.Fatal(err)
	}

	again := startMemTron(t, func(o *Options) { o.DataDir = dir })
	if _, ok := again.lookup(a); ok {
		t.Errorf("the bundle with %d bytes of metadata was loaded", len(raw))
	}
	if _, ok := again.lookup(b); !ok {
		t.Errorf("the other bundle is gone")
	}
	if rs := again.currentRoutes(); len(rs) != 1 || rs[0].SHA != b {
		t.Errorf("routes after the start: %s, want only %s", fmtRoutes(rs), b[:12])
	}
}

// TestEnableRefusesDeepProps: props the runners would refuse in the enable message (nested
// past protocol.MaxDepth) are a 400, not an enable that no runner acks.
func TestEnableRefusesDeepProps(t *testing.T) {
	tr := startMemTron(t, func(o *Options) { o.EnableWait = 100 * time.Millisecond })
	sha := tr.upload(t, makeBundle(t, "", "/deep", "d"))
	var deep any = "bottom"
	for range protocol.MaxDepth {
		deep = []any{deep}
	}
	status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha, "props": map[string]any{"x": deep}})
	if status != 400 || !strings.Contains(fmt.Sprint(res["error"]), "E_TOO_DEEP") {
		t.Errorf("enable with props nested %d deep: %d %v, want 400", protocol.MaxDepth, status, res)
	}
	if rs := tr.currentRoutes(); len(rs) != 0 {
		t.Errorf("routes after the refused enable: %s", fmtRoutes(rs))
	}
}
