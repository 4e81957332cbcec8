package servers

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/wait"
)

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	p, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return p[0]
}

// TestNewNginxWithoutBroker starts the frontend with two workers and no RabbitMQ: nginx
// serves, says it is not connected, answers 503, and is gone after Stop.
func TestNewNginxWithoutBroker(t *testing.T) {
	n, err := NewNginx(t.TempDir(), NginxOptions{RabbitPort: closedPort(t), Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	client := &http.Client{Timeout: 10 * time.Second}

	resp, err := client.Get(n.URL() + "/__funcatron/health")
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if resp.StatusCode != 503 || h["connected"] != false {
		t.Errorf("health %d %v, want 503 and not connected", resp.StatusCode, h)
	}

	resp, err = client.Get(n.URL() + "/some/function")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), "no route table") {
		t.Errorf("request: %d %s, want 503 no route table", resp.StatusCode, body)
	}

	b, err := os.ReadFile(filepath.Join(n.Prefix, "nginx.pid"))
	if err != nil {
		t.Fatalf("no pid file under the prefix: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	start := time.Now()
	n.Stop()
	n.Stop() // twice is fine
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("graceful stop took %s: the listener must notice the exit at once", d)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Errorf("nginx master %d still running after Stop", pid)
	}
	if c, err := net.DialTimeout("tcp", n.URL()[len("http://"):], time.Second); err == nil {
		c.Close()
		t.Errorf("port %d still open after Stop", n.Port)
	}
}

// TestNginxBadSettingFailsToStart: a bad FUNCATRON_TIMEOUT stops nginx at start with a message
// naming it.
func TestNginxBadSettingFailsToStart(t *testing.T) {
	_, err := NewNginx(t.TempDir(), NginxOptions{RabbitPort: closedPort(t), Env: map[string]string{"FUNCATRON_TIMEOUT": "soon"}})
	if err == nil || !strings.Contains(err.Error(), "FUNCATRON_TIMEOUT") {
		t.Fatalf("err = %v, want a start failure naming FUNCATRON_TIMEOUT", err)
	}
}

// TestRenderNginx checks the rendered configuration: everything under the prefix, the env
// whitelist, the module lines, and that nginx accepts it.
func TestRenderNginx(t *testing.T) {
	prefix := t.TempDir()
	args := NginxConfigArgs(NginxOptions{RabbitPort: 61613, InstanceID: "fe-1", Workers: 3}, 18080, prefix)
	if out, err := exec.Command("bash", append([]string{filepath.Join(RepoRoot(), "scripts", "render-nginx.sh")}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("render: %v: %s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(prefix, "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, want := range []string{
		"worker_processes 3;",
		"listen 127.0.0.1:18080;",
		"pid " + prefix + "/nginx.pid;",
		"client_body_temp_path " + prefix + "/tmp/client_body;",
		"env RABBIT_PORT=61613;",
		"env INSTANCEID=fe-1;",
		"env TRON_QUEUE;",
		"env FUNCATRON_TIMEOUT;",
		"client_max_body_size 10m;",
		`lua_package_path "` + filepath.Join(RepoRoot(), "frontend-lua", "lib") + `/?.lua;;";`,
		`init_worker_by_lua_block { require("funcatron.startup").start() }`,
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("rendered nginx.conf lacks %q", want)
		}
	}
	if _, err := os.Stat("/usr/lib/nginx/modules/ngx_http_lua_module.so"); err == nil &&
		!strings.Contains(conf, "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;") {
		t.Errorf("no load_module line for Debian's Lua module")
	}
	bin, err := nginxBinary()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-p", prefix, "-c", filepath.Join(prefix, "nginx.conf"), "-e", filepath.Join(prefix, "logs", "error.log")).CombinedOutput(); err != nil {
		t.Errorf("nginx -t: %v: %s", err, out)
	}
}

// TestRenderNginxRejectsBadValues: values that could break out of a directive are refused.
func TestRenderNginxRejectsBadValues(t *testing.T) {
	script := filepath.Join(RepoRoot(), "scripts", "render-nginx.sh")
	for _, bad := range [][]string{
		{"--workers", "0"},
		{"--listen", "127.0.0.1:80; evil"},
		{"--instance-id", "a b"},
		{"--max-body", "10 m"},
		{"--no-such-option", "x"},
	} {
		args := append([]string{script, "--prefix", t.TempDir()}, bad...)
		if out, err := exec.Command("bash", args...).CombinedOutput(); err == nil {
			t.Errorf("render %v succeeded, want a refusal: %s", bad, out)
		}
	}
}

// TestNginxPortTaken: another HTTP server holds the port. NewNginx fails within seconds
// naming nginx's own reason (its [emerg] line), not later with a timeout elsewhere, and the
// other server's answers never count as this nginx being up.
func TestNginxPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"ok":true}`))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port

	start := time.Now()
	n, err := NewNginx(t.TempDir(), NginxOptions{RabbitPort: closedPort(t), Port: port})
	if err == nil {
		n.Stop()
		t.Fatalf("nginx started on port %d, which another server holds", port)
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	if !strings.HasPrefix(first, "nginx could not start: ") || !strings.Contains(first, "Address already in use") {
		t.Errorf("error's first line %q, want nginx's bind error", first)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("failed after %s, want within seconds", took)
	}
}

// TestNginxRabbitHosts: the listener dials the broker of RABBIT_PORT alone, and one of the
// RABBIT_HOSTS list when it is given (with RABBIT_HOST rendered beside it, which Debian's
// nginx would otherwise hand Lua as RABBIT_HOSTS too: scripts/render-nginx.sh).
func TestNginxRabbitHosts(t *testing.T) {
	single, a, b := closedPort(t), closedPort(t), closedPort(t)
	for _, c := range []struct {
		env  map[string]string
		want []int
	}{
		{nil, []int{single}},
		{map[string]string{"RABBIT_HOSTS": fmt.Sprintf("127.0.0.1:%d,localhost:%d", a, b)}, []int{a, b}},
	} {
		n, err := NewNginx(t.TempDir(), NginxOptions{RabbitPort: single, Env: c.env})
		if err != nil {
			t.Fatal(err)
		}
		var dialed string
		if !wait.Until(5*time.Second, func() bool {
			log, _ := os.ReadFile(n.ErrorLogPath())
			_, rest, ok := strings.Cut(string(log), "failed to connect to 127.0.0.1:")
			dialed, _, _ = strings.Cut(rest, ":")
			return ok
		}) {
			t.Errorf("env %v: no connection attempt in the error log", c.env)
		}
		n.Stop()
		if p, _ := strconv.Atoi(dialed); !slices.Contains(c.want, p) {
			t.Errorf("env %v: the listener dialed port %q, want one of %v", c.env, dialed, c.want)
		}
	}
}
