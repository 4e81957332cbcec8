package exec

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/protocol"
)

// fnProg is a bundle's bin/fn: a script that runs the runner's test function
// (../testdata/fn, built once by TestMain).
var fnProg []byte

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "exec-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
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
