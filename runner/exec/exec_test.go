package exec

import (
	"context"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/runner/kind"
)

// TestStopKillsAfterGrace: a worker that ignores SIGTERM is killed after the grace period,
// and reaped (no zombie).
func TestStopKillsAfterGrace(t *testing.T) {
	t.Parallel()
	cfg := testConfig(fnDir(t))
	cfg.Env = map[string]string{"IGNORE_TERM": "1"}
	const grace = 300 * time.Millisecond
	inst, err := startTest(t, cfg, grace)
	if err != nil {
		t.Fatal(err)
	}
	var out protocol.AnswerBody
	inst.Serve(context.Background(), &kind.Call{Svc: service("h", "GET", "/pid", nil), Op: "pid", Path: "/pid", BasePath: "/"}, &out)
	pid, err := strconv.Atoi(string(out.Body))
	if err != nil || out.Status != 200 {
		t.Fatalf("/pid: %d %q", out.Status, out.Body)
	}
	start := time.Now()
	inst.Stop(context.Background())
	if took := time.Since(start); took < grace {
		t.Errorf("stop took %s: the process ignoring SIGTERM should have had %s", took, grace)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("process %d still exists (running or a zombie) after stop", pid)
	}
	if _, err := os.Stat(inst.(*httpInstance).sb.dir); !os.IsNotExist(err) {
		t.Errorf("the sandbox %s (HOME, sockets) not removed", inst.(*httpInstance).sb.dir)
	}
}

// TestParseCGIResponse covers the response rules of RFC 3875 §6.
func TestParseCGIResponse(t *testing.T) {
	tests := []struct {
		name, in string
		status   int
		headers  int
		body     string
		bad      bool
	}{
		{"document", "Content-Type: text/plain\n\nhi", 200, 1, "hi", false},
		{"crlf and status", "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno", 404, 1, "no", false},
		{"local redirect", "Location: /x\n\n", 302, 1, "", false},
		{"redirect with status", "Status: 301\nLocation: /x\n\n", 301, 1, "", false},
		{"no required header", "X-A: 1\n\nbody", 0, 0, "", true},
		{"no blank line", "Content-Type: text/plain\n", 0, 0, "", true},
		{"not a header", "hello world\n\n", 0, 0, "", true},
		{"bad status", "Status: abc\n\n", 0, 0, "", true},
		{"empty", "", 0, 0, "", true},
		{"hop-by-hop dropped", "Content-Type: a/b\nConnection: close\nTransfer-Encoding: chunked\n\nx", 200, 1, "x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out protocol.AnswerBody
			err := parseCGIResponse([]byte(tt.in), &out)
			if tt.bad {
				if err == nil {
					t.Errorf("parsed %q as %+v, want an error", tt.in, out)
				}
				return
			}
			if err != nil || out.Status != tt.status || len(out.Headers) != tt.headers || string(out.Body) != tt.body {
				t.Errorf("parse(%q) = %d %v %q, %v; want %d, %d headers, %q", tt.in, out.Status, out.Headers, out.Body, err, tt.status, tt.headers, tt.body)
			}
		})
	}
}

func TestHopByHop(t *testing.T) {
	for name, want := range map[string]bool{"Connection": true, "TRANSFER-ENCODING": true, "content-length": true, "Content-Type": false, "X-Very-Long-Header-Name-Indeed": false} {
		if got := isHopByHop(name); got != want {
			t.Errorf("isHopByHop(%q) = %v", name, got)
		}
	}
}
