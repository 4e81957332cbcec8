package stack

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
)

// TestSecondRunKeepsUserState is the second `make run` after a user changed the samples:
// disabled one, replaced another's route with a bundle of their own, enabled a third again
// with other props. The second run comes up, changes none of it, and deploys only a new
// sample whose route is free (docs/troubleshooting.md).
func TestSecondRunKeepsUserState(t *testing.T) {
	bin, dir := t.TempDir(), t.TempDir()
	if err := Build(bin); err != nil {
		t.Fatal(err)
	}
	samples, mine := t.TempDir(), t.TempDir()
	for _, name := range []string{"a", "b", "c"} {
		writeCGIBundle(t, filepath.Join(samples, name+".zip"), name, "/"+name, "sample "+name)
	}
	writeCGIBundle(t, filepath.Join(mine, "mine.zip"), "mine", "/b", "mine")
	props := map[string]any{"greeting": "Hello"}

	s := startSampleStack(t, bin, dir)
	res, err := s.DeploySamples(samples, props)
	if err != nil || countDeployed(res) != 3 {
		t.Fatalf("first run: %+v, %v; want 3 deployed", res, err)
	}
	if err := s.Disable(res[0].SHA); err != nil {
		t.Fatal(err)
	}
	sha, err := s.Upload(filepath.Join(mine, "mine.zip"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Enable(sha, nil, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Enable(res[2].SHA, map[string]any{"greeting": "Hi"}, false); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// The second run has two more samples: d's route is free, e's is the user's /b.
	writeCGIBundle(t, filepath.Join(samples, "d.zip"), "d", "/d", "sample d")
	writeCGIBundle(t, filepath.Join(samples, "e.zip"), "e", "/b", "sample e")
	s = startSampleStack(t, bin, dir)
	res, err = s.DeploySamples(samples, props)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if got := deployedNames(res); got != "d" {
		t.Errorf("second run deployed %q, want only d: %+v", got, res)
	}
	want := map[string]string{"/a/x": "404", "/b/x": "mine", "/c/x": `"greeting":"Hi"`, "/d/x": "sample d"}
	for path, body := range want {
		if got := frontGet(t, s, path); !strings.Contains(got, body) {
			t.Errorf("GET %s after the second run: %q, want %q in it", path, got, body)
		}
	}
}

func startSampleStack(t *testing.T, bin, dir string) *Stack {
	t.Helper()
	s, err := Start(Options{Dir: dir, BinDir: bin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// writeCGIBundle packs an exec CGI bundle titled title on basePath whose every answer is
// "<says> <props>".
func writeCGIBundle(t *testing.T, zipPath, title, basePath, says string) {
	t.Helper()
	src := t.TempDir()
	manifest := fmt.Sprintf(`swagger: "2.0"
info: {title: %s, version: "1.0.0"}
basePath: %s
x-funcatron:
  kind: exec
  exec: {command: [bin/run.sh], mode: cgi}
paths:
  /x:
    get: {operationId: x}
`, title, basePath)
	script := "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"" + says + " $FUNCATRON_PROPS\"\n"
	os.MkdirAll(filepath.Join(src, "bin"), 0o755)
	if err := os.WriteFile(filepath.Join(src, "funcatron.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "bin", "run.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := bundles.Pack(&buf, src); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(zipPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// frontGet is "<status> <body>" of a GET through nginx.
func frontGet(t *testing.T, s *Stack, path string) string {
	t.Helper()
	resp, err := http.Get(s.FrontURL() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

func countDeployed(res []SampleResult) int { return len(strings.Fields(deployedNames(res))) }

func deployedNames(res []SampleResult) string {
	var names []string
	for _, r := range res {
		if r.Deployed {
			names = append(names, r.Name)
		}
	}
	return strings.Join(names, " ")
}

// TestSuperviseRestartsADeadRunner: under SuperviseRunners (make run) a runner killed with
// kill -9 is started again, said so, and healthy again on the same fixed metrics port
// (Options.RunnerPort, as make run's 4000).
func TestSuperviseRestartsADeadRunner(t *testing.T) {
	bin := t.TempDir()
	if err := Build(bin); err != nil {
		t.Fatal(err)
	}
	free, err := servers.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(Options{Dir: t.TempDir(), BinDir: bin, RunnerPort: free[0]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if got, want := RunnerURL(s.Runners[0]), fmt.Sprintf("http://127.0.0.1:%d", free[0]); got != want {
		t.Errorf("runner URL %s, want the fixed port: %s", got, want)
	}
	said := make(chan string, 10)
	stop := make(chan struct{})
	wait := s.SuperviseRunners(stop, func(m string) { said <- m })
	defer func() { close(stop); wait() }()
	r := s.Runners[0]
	before := r.PID()
	syscall.Kill(before, syscall.SIGKILL) // as a user or the OOM killer would, not r.Kill
	healthz := RunnerURL(r) + "/healthz"
	testenv.WaitFor(t, 30*time.Second, "the runner started again and healthy", func() bool {
		if pid := r.PID(); pid == 0 || pid == before {
			return false
		}
		resp, err := http.Get(healthz)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if m := <-said; !strings.Contains(m, "runner-0") || !strings.Contains(m, "exited") {
		t.Errorf("first report %q, want the runner's exit", m)
	}
}

// TestStartFailsFastOnATakenHTTPPort: `make run` with its HTTP port held by another server
// fails within seconds, saying the port is taken and nginx's own words, not after waiting
// for nginx workers that never came.
func TestStartFailsFastOnATakenHTTPPort(t *testing.T) {
	bin := t.TempDir()
	if err := Build(bin); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(ln)
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	start := time.Now()
	s, err := Start(Options{Dir: t.TempDir(), BinDir: bin, HTTPPort: port})
	if err == nil {
		s.Close()
		t.Fatalf("the stack started on port %d, which another server holds", port)
	}
	took := time.Since(start)
	for _, want := range []string{fmt.Sprintf("HTTP port %d is taken", port), "Address already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// the time to start RabbitMQ, the Tron and a runner, plus nginx's ~2.5 s of bind retries
	t.Logf("failed after %s", took.Round(time.Millisecond))
	if strings.Contains(err.Error(), "awake") {
		t.Errorf("the error blames the workers' awake: %v", err)
	}
}
