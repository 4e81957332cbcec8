package main

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// errEnoughSeen is what a followed command's stdout answers once the test has seen the
// line it waited for: a closed pipe, the way `funcatron events -f | head` ends.
var errEnoughSeen = errors.New("stdout closed by the test")

// followedCLI is `funcatron CMD -f` run as main runs it, in the background: its stdout lines
// arrive on lines until one matches stopOn, when stdout fails and the command must end.
type followedCLI struct {
	lines  chan string
	stopOn *regexp.Regexp
	done   chan int // the exit code
	mu     sync.Mutex
	stderr bytes.Buffer
}

func (f *followedCLI) Write(p []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if line == "" {
			continue
		}
		line = strings.TrimSuffix(line, "\n")
		f.lines <- line
		if f.stopOn.MatchString(line) {
			return 0, errEnoughSeen
		}
	}
	return len(p), nil
}

// follow starts the CLI with args against tt; stdout is watched for stopOn.
func (tt *testTron) follow(t *testing.T, stopOn string, args ...string) *followedCLI {
	t.Helper()
	f := &followedCLI{lines: make(chan string, 100), stopOn: regexp.MustCompile(stopOn), done: make(chan int, 1)}
	stderr := writerFunc(func(p []byte) (int, error) { f.mu.Lock(); defer f.mu.Unlock(); return f.stderr.Write(p) })
	go func() { f.done <- run(append([]string{"--tron", tt.url, "--token", testToken}, args...), f, stderr) }()
	return f
}

// waitLine returns the next stdout line matching re (the others go to skipped); it fails
// the test if the command ends first, as a snapshot without -f would.
func (f *followedCLI) waitLine(t *testing.T, re string, skipped func(string)) string {
	t.Helper()
	want := regexp.MustCompile(re)
	for deadline := time.After(10 * time.Second); ; {
		select {
		case line := <-f.lines:
			if want.MatchString(line) {
				return line
			}
			if skipped != nil {
				skipped(line)
			}
		case code := <-f.done:
			f.done <- code         // for ended
			for len(f.lines) > 0 { // printed before it ended
				if line := <-f.lines; want.MatchString(line) {
					return line
				} else if skipped != nil {
					skipped(line)
				}
			}
			t.Fatalf("the command ended (exit %d, stderr %q) before printing a line matching %s", code, f.errText(), re)
		case <-deadline:
			t.Fatalf("no line matching %s within 10s", re)
		}
	}
}

// ended checks the command ended, once stdout failed, with exit 1 and the reason.
func (f *followedCLI) ended(t *testing.T) {
	t.Helper()
	select {
	case code := <-f.done:
		if code != exitFail || !strings.Contains(f.errText(), errEnoughSeen.Error()) {
			t.Errorf("after stdout failed: exit %d, stderr %q; want %d naming the write error", code, f.errText(), exitFail)
		}
	case <-time.After(10 * time.Second):
		t.Error("the command went on following after its stdout failed")
	}
}

func (f *followedCLI) errText() string { f.mu.Lock(); defer f.mu.Unlock(); return f.stderr.String() }

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

// TestEventsFollowCommand: `funcatron events -f`, through the command line, prints the
// replayed events, then each new one as it happens, in the human form, and stays until
// it is stopped.
func TestEventsFollowCommand(t *testing.T) {
	tt := startTron(t)
	tt.runner(t)
	tt.cli(t, "upload", bundleFile(t, "evf", "1", "/evf", "1"))
	f := tt.follow(t, `bundle\.enabled`, "events", "-f")
	f.waitLine(t, `^`+rfc3339.String()+` +bundle\.uploaded +bundle [0-9a-f]{12} +route \*/evf$`, nil)
	if out, code := tt.cli(t, "enable", "evf"); code != 0 {
		t.Fatalf("enable = %d %s", code, out)
	}
	f.waitLine(t, `^`+rfc3339.String()+` +bundle\.enabled +bundle [0-9a-f]{12} +route \*/evf$`, nil)
	f.ended(t)
}
