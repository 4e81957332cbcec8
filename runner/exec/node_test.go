package exec

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/funcatron/funcatron/runner/kind"
)

// TestStartNode: a node is started ready (its health path answered), gets the exec
// environment, serves Do, times out at the caller's deadline, is restarted after a crash,
// and its Do waits for the restarted process.
func TestStartNode(t *testing.T) {
	dir := fnDir(t)
	n, err := StartNode(context.Background(), &kind.Spec{SHA: "node-sha", Dir: dir, PropsJSON: []byte(`{"p":1}`), Grace: time.Second},
		NodeConfig{Command: []string{"bin/fn"}, Env: map[string]string{"EXTRA": "x"}, Health: "/health",
			StartTimeout: 10 * time.Second, Timeout: 5 * time.Second, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(context.Background())
	do := func(ctx context.Context, method, path string) (int, string, error) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.Header.SetMethod(method)
		req.SetRequestURI(path)
		req.SetBodyString("body")
		err := n.Do(ctx, req, resp)
		return resp.StatusCode(), string(resp.Body()), err
	}
	get := func(path string) (int, string, error) { return do(context.Background(), "GET", path) }
	if st, _, err := get("/pid"); !n.Ready() || err != nil || st != 200 || !strings.HasPrefix(n.Socket(), os.TempDir()) {
		t.Fatalf("ready %v, /pid %d %v, socket %s", n.Ready(), st, err, n.Socket())
	}
	_, body, err := do(context.Background(), "POST", "/echo")
	var echo struct {
		Body string   `json:"body"`
		Env  []string `json:"env"`
	}
	if err != nil || json.Unmarshal([]byte(body), &echo) != nil || echo.Body != "body" {
		t.Fatalf("/echo: %v %s", err, body)
	}
	if env := strings.Join(echo.Env, " "); !strings.Contains(env, "FUNCATRON_BUNDLE=node-sha") || !strings.Contains(env, `FUNCATRON_PROPS={"p":1}`) || !strings.Contains(env, "EXTRA=x") {
		t.Errorf("env %s", env)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, _, err := do(ctx, "GET", "/hang"); !errors.Is(err, fasthttp.ErrTimeout) || time.Since(start) > 2*time.Second {
		t.Errorf("/hang: %v after %s", err, time.Since(start))
	}
	if _, _, err := get("/crash"); err == nil {
		t.Error("/crash: no error")
	}
	// A call racing the crash may fail; once the crash is seen, calls wait for the
	// restarted process rather than failing with ErrNotRunning.
	testenv.WaitFor(t, 10*time.Second, "the node serving again after a crash", func() bool {
		st, _, err := get("/pid")
		if errors.Is(err, ErrNotRunning) {
			t.Errorf("Do failed with %v while the process restarted, want it to wait", err)
		}
		return err == nil && st == 200 && n.Health() == kind.HealthOK
	})
}
