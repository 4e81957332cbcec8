package exec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/funcatron/funcatron/runner/kind"
)

// TestStartNode: a node is started ready (its health path answered), serves Do, is
// restarted after a crash, and refuses Do at once while not ready. (Its environment is
// checked by runner/gilmour's TestProxyEnvironment.)
func TestStartNode(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "bin", "fn"), fnProg, 0o755); err != nil {
		t.Fatal(err)
	}
	n, err := StartNode(context.Background(), &kind.Spec{SHA: "x", Dir: dir, PropsJSON: []byte("{}"), Grace: time.Second},
		NodeConfig{Command: []string{"bin/fn"}, Env: map[string]string{"EXTRA": "1"}, Health: "/health",
			StartTimeout: 10 * time.Second, Timeout: 5 * time.Second, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(context.Background())
	get := func(path string) (int, string, error) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(path)
		err := n.Do(req, resp, time.Now().Add(5*time.Second))
		return resp.StatusCode(), string(resp.Body()), err
	}
	if st, _, err := get("/pid"); !n.Ready() || err != nil || st != 200 || !strings.HasPrefix(n.Socket(), os.TempDir()) {
		t.Fatalf("ready %v, /pid %d %v, socket %s", n.Ready(), st, err, n.Socket())
	}
	get("/crash")
	sawNotReady := false
	testenv.WaitFor(t, 10*time.Second, "not ready, then serving again after a crash", func() bool {
		_, _, err := get("/pid")
		if errors.Is(err, ErrNodeNotReady) {
			sawNotReady = true
		}
		return err == nil && sawNotReady
	})
}
