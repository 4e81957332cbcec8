package dockertest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/testenv"
)

// images are the images `make images` builds and the compose file runs.
var images = []string{"funcatron/tron", "funcatron/runner", "funcatron/frontend", "funcatron/rabbitmq", "funcatron/redis"}

// run runs a command and returns its trimmed standard output; a failure is an error that
// carries the command's standard error.
func run(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return strings.TrimSpace(out.String()), nil
}

// must is run that fails the test.
func must(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := run(env, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// engineAnswers tells whether a Docker engine answers (the client negotiates the engine's
// API version by itself: Debian's 20.10 engine speaks 1.41).
func engineAnswers() bool {
	_, err := run(os.Environ(), "docker", "info", "--format", "{{.ServerVersion}}")
	return err == nil
}

// requireEngine makes sure a Docker engine answers: when none does, it starts dockerd (as
// root) and stops it again when the test ends, after everything else it cleans up.
func requireEngine(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"docker", "docker-compose"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found: scripts/deps.sh installs docker.io and docker-compose", bin)
		}
	}
	if engineAnswers() {
		return
	}
	if os.Geteuid() != 0 {
		t.Fatal("no Docker engine answers, and only root can start dockerd")
	}
	logPath := filepath.Join(t.TempDir(), "dockerd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("dockerd")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dockerd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() { stopDockerd(t, cmd, done) })
	if !testenv.Poll(30*time.Second, engineAnswers) {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("dockerd started but does not answer after 30 s:\n%s", tailLines(string(b), 20))
	}
	t.Logf("started dockerd (pid %d); it is stopped at the end", cmd.Process.Pid)
}

// stopDockerd stops the dockerd this test started: SIGTERM, SIGKILL after 30 s.
func stopDockerd(t *testing.T, cmd *exec.Cmd, done <-chan struct{}) {
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Errorf("dockerd did not stop within 30 s of SIGTERM; killed")
		cmd.Process.Kill()
		<-done
	}
}

// imageTag is the tag of the images under test: FUNCATRON_IMAGE_TAG, as for `make images`
// and the compose file, default latest.
func imageTag() string {
	if tag := os.Getenv("FUNCATRON_IMAGE_TAG"); tag != "" {
		return tag
	}
	return "latest"
}

// requireImages fails the test when an image of `make images` is missing.
func requireImages(t *testing.T) {
	t.Helper()
	for _, img := range images {
		if _, err := run(os.Environ(), "docker", "image", "inspect", "--format", "{{.Id}}", img+":"+imageTag()); err != nil {
			t.Fatalf("image %s:%s is missing: run `make images` first (make test does)", img, imageTag())
		}
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
