package exec

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/funcatron/funcatron/runner/kind"
)

// fnProg is a bundle's bin/fn: a script that runs the runner's test function
// (../testdata/fn, built once by TestMain).
var fnProg []byte

func TestMain(m *testing.M) {
	if os.Getenv(pid1Var) == "1" {
		os.Exit(pid1Scenario())
	}
	dir, err := os.MkdirTemp("", "exec-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Bundle processes run as a uid of testUIDs: they must reach the program.
	os.Chmod(dir, 0o755)
	out := filepath.Join(dir, "fn")
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", out, "../testdata/fn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building ../testdata/fn: %v\n%s", err, b)
		os.Exit(1)
	}
	fnProg = []byte("#!/bin/sh\nexec " + out + "\n")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testUIDs are the bundle uids of this package's tests (the tests run as root).
var testUIDs = kind.UIDRange{First: 61000, Last: 61999}

// startTest starts cfg's bundle as the Kind does, isolated under testUIDs, logging to the
// test; the instance is stopped when the test ends.
func startTest(t testing.TB, cfg *execConfig, grace time.Duration) (kind.Instance, error) {
	t.Helper()
	s := &kind.Spec{SHA: cfg.SHA, Queue: "test", Dir: cfg.Dir, Log: testLog(t),
		Grace: grace, UIDs: testUIDs, Bundle: &bundles.Bundle{Exec: &cfg.ExecConfig}, PropsJSON: cfg.Props}
	inst, err := Kind{}.Start(context.Background(), s)
	if err == nil {
		t.Cleanup(func() { inst.Stop(context.Background()) })
	}
	return inst, err
}

// testLog logs to the test.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testenv.NewLogWriter(t), nil))
}

// fnDir is a fresh bundle directory holding the test program fnProg as bin/fn, the command
// of testConfig.
func fnDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "fn"), fnProg, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testConfig is the http-mode config of a bundle in dir whose bin/fn is the test function,
// with the manifest defaults of package bundles.
func testConfig(dir string) *execConfig {
	return &execConfig{
		ExecConfig: bundles.ExecConfig{
			Command: []string{"bin/fn"}, Mode: bundles.ModeHTTP, Workers: 1,
			Concurrency: bundles.DefaultConcurrency, Timeout: bundles.DefaultTimeout,
			StartTimeout: bundles.DefaultStartTimeout,
		},
		Dir: dir, SHA: "x", Props: []byte("{}"),
	}
}

// service is a request of method for uri on host, as the frontend builds it.
func service(host, method, uri string, body []byte) *protocol.Service {
	path, args, _ := strings.Cut(uri, "?")
	return &protocol.Service{
		Method: method, Host: host, URI: path, Args: args, RequestURI: uri, Scheme: "http",
		RemoteAddr: "10.1.2.3", ServerProtocol: "HTTP/1.1", ServerPort: "80",
		Headers: protocol.Headers{"host": {host}, "user-agent": {"test"}}, Body: body, BodyBase64Encoded: true,
	}
}
