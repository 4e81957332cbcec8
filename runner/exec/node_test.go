package exec

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/funcatron/funcatron/runner/kind"
	"github.com/valyala/fasthttp"
)

// TestStartNode: a node started for another kind gets the exec environment, answers Do,
// times out at the caller's deadline, and its crash is an error (restarted as a worker).
func TestStartNode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "bin", "fn"), fnProg, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dir).ExecConfig
	cfg.Mode = "" // ignored: a node is always http
	cfg.Env = map[string]string{"EXTRA": "x"}
	spec := &kind.Spec{SHA: "node-sha", Dir: dir, PropsJSON: []byte(`{"p":1}`), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Grace: time.Second}
	n, err := StartNode(context.Background(), spec, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(context.Background())
	do := func(ctx context.Context, path string) (*fasthttp.Response, error) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		req.Header.SetMethod("POST")
		req.SetRequestURI(path)
		req.SetBodyString("body")
		return resp, n.Do(ctx, req, resp)
	}
	resp, err := do(context.Background(), "/echo")
	var echo struct {
		Body string   `json:"body"`
		Env  []string `json:"env"`
	}
	if err != nil || json.Unmarshal(resp.Body(), &echo) != nil || echo.Body != "body" {
		t.Fatalf("/echo: %v %s", err, resp.Body())
	}
	if env := strings.Join(echo.Env, " "); !strings.Contains(env, "FUNCATRON_BUNDLE=node-sha") || !strings.Contains(env, `FUNCATRON_PROPS={"p":1}`) || !strings.Contains(env, "EXTRA=x") {
		t.Errorf("env %s", env)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := do(ctx, "/hang"); !errors.Is(err, fasthttp.ErrTimeout) || time.Since(start) > 2*time.Second {
		t.Errorf("/hang: %v after %s", err, time.Since(start))
	}
	if _, err := do(context.Background(), "/crash"); err == nil {
		t.Error("/crash: no error")
	}
	testenv.WaitFor(t, 10*time.Second, "the node restarted", func() bool {
		_, err := do(context.Background(), "/echo")
		return err == nil && n.Health() == kind.HealthOK
	})
}
