package dockertest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/wait"
)

// project is one docker-compose project of docker/docker-compose.yml: its own name, so its
// own containers, network and volumes, and its own ports on 127.0.0.1.
type project struct {
	name     string
	env      []string // the environment docker-compose runs with
	tronPort int
	httpPort int
	killed   []string // short ids of containers the test killed (exit status 137)
}

// frontendTimeout is the frontend's FUNCATRON_TIMEOUT in seconds: short, so a request that
// waits through the broker restart is answered 504 quickly rather than after 30 s.
const frontendTimeout = 5

// The bundle uids of the test's runner containers: a range of their own (see composeUp).
const (
	bundleUIDFirst = 63000
	bundleUIDLast  = 63999
)

var bundleUIDs = fmt.Sprintf("%d-%d", bundleUIDFirst, bundleUIDLast)

// composeUp brings the stack up (`up -d` returns once every service's dependencies are met)
// and registers its teardown, which also checks that nothing of the project is left.
func composeUp(t *testing.T) *project {
	t.Helper()
	ports, err := servers.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	p := &project{name: "fctest" + hex.EncodeToString(suffix), tronPort: ports[0], httpPort: ports[1]}
	p.env = append(os.Environ(),
		fmt.Sprintf("FUNCATRON_TRON_PORT=%d", p.tronPort),
		fmt.Sprintf("FUNCATRON_HTTP_PORT=%d", p.httpPort),
		fmt.Sprintf("FUNCATRON_TIMEOUT=%d", frontendTimeout),
		// Not the host's range (internal/stack.BundleUIDs): runners on the host, such as the
		// integration tests running beside this one, kill what runs under an unleased uid
		// of their range, and they see the containers' processes.
		"FUNCATRON_BUNDLE_UIDS="+bundleUIDs)
	t.Cleanup(func() { p.down(t) })
	start := time.Now()
	if _, err := p.compose("up", "-d", "--no-build"); err != nil {
		p.dumpLogs(t)
		t.Fatal(err)
	}
	t.Logf("project %s up in %s (tron 127.0.0.1:%d, frontend 127.0.0.1:%d)", p.name,
		time.Since(start).Round(time.Millisecond), p.tronPort, p.httpPort)
	return p
}

func (p *project) compose(args ...string) (string, error) {
	file := filepath.Join(servers.RepoRoot(), "docker", "docker-compose.yml")
	return run(p.env, "docker-compose", append([]string{"-f", file, "-p", p.name, "--no-ansi"}, args...)...)
}

// containers are the ids of a service's containers.
func (p *project) containers(t *testing.T, service string) []string {
	t.Helper()
	out, err := p.compose("ps", "-q", service)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(out)
}

// down removes the project's containers, network and volumes (the images stay: they are
// the cache of `make images`), then checks that none is left.
func (p *project) down(t *testing.T) {
	if t.Failed() {
		p.dumpLogs(t)
	}
	if !t.Failed() {
		p.checkCleanStop(t)
	}
	mounted := p.volumes(t)
	if _, err := p.compose("down", "--volumes", "--remove-orphans", "--timeout", fmt.Sprint(int(stopGrace.Seconds()))); err != nil {
		t.Errorf("tearing the project down: %v", err)
	}
	for _, v := range mounted {
		if _, err := run(p.env, "docker", "volume", "inspect", v); err == nil {
			t.Errorf("volume %s of project %s left after down", v, p.name)
		}
	}
	label := "label=com.docker.compose.project=" + p.name
	for _, kind := range []string{"container", "network", "volume"} {
		args := []string{kind, "ls", "-q", "--filter", label}
		if kind == "container" {
			args = []string{"ps", "-aq", "--filter", label}
		}
		if out, err := run(p.env, "docker", args...); err != nil || out != "" {
			t.Errorf("%ss of project %s left after down: %q %v", kind, p.name, out, err)
		}
	}
}

// volumes are the names of every volume the project's containers mount, named or anonymous
// (an anonymous one has no project label to find it by after down).
func (p *project) volumes(t *testing.T) []string {
	ids, err := p.compose("ps", "-q")
	if err != nil || ids == "" {
		return nil
	}
	out, err := run(p.env, "docker", append([]string{"inspect", "--format",
		"{{range .Mounts}}{{if .Name}}{{.Name}} {{end}}{{end}}"}, strings.Fields(ids)...)...)
	if err != nil {
		t.Errorf("listing the project's volumes: %v", err)
	}
	return strings.Fields(out)
}

func (p *project) dumpLogs(t *testing.T) {
	out, err := p.compose("logs", "--no-color", "--tail", "40")
	t.Logf("logs of project %s (%v):\n%s", p.name, err, out)
}

// token is the admin token the secrets step generated, read from the Tron's container.
func (p *project) token(t *testing.T) string {
	t.Helper()
	out, err := p.compose("exec", "-T", "tron", "cat", "/run/funcatron/secrets/admin-token")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// started is a container's start time and restart count: what changes when it restarts.
func started(t *testing.T, ids ...string) map[string]string {
	t.Helper()
	out := must(t, os.Environ(), "docker", append([]string{"inspect", "--format", "{{.Id}} {{.State.StartedAt}} {{.RestartCount}} {{.State.Status}}"}, ids...)...)
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if id, rest, ok := strings.Cut(line, " "); ok {
			m[id[:12]] = rest
		}
	}
	return m
}

// stopGrace is the time `docker-compose stop` gives each container between its stop signal
// (SIGTERM; SIGQUIT for nginx) and SIGKILL: Docker's default, 10 s, which docs/deploy.md
// says every image stops within (the runners too, though the compose file gives them 40 s
// for requests in flight: none is at the end of the test).
const stopGrace = 10 * time.Second

// checkCleanStop stops the project and checks that every container exited by itself within
// the grace period, with status 0 (one that needed SIGKILL exits 137): each process handles
// its stop signal as PID 1.
func (p *project) checkCleanStop(t *testing.T) {
	start := time.Now()
	if _, err := p.compose("stop", "--timeout", fmt.Sprint(int(stopGrace.Seconds()))); err != nil {
		t.Errorf("stopping the project: %v", err)
		return
	}
	out, err := p.compose("ps", "-q")
	if err != nil || out == "" {
		t.Errorf("no containers to check after stop: %v", err)
		return
	}
	var took []string
	for _, line := range strings.Split(must(t, p.env, "docker", append([]string{"inspect", "--format",
		"{{.Id}} {{.Name}} {{.State.ExitCode}} {{.State.FinishedAt}}"},
		strings.Fields(out)...)...), "\n") {
		f := strings.Fields(line)
		if f[2] != "0" && !slices.Contains(p.killed, f[0][:12]) {
			t.Errorf("container %s exited with status %s on stop, want 0", f[1], f[2])
		}
		if end, err := time.Parse(time.RFC3339Nano, f[3]); err == nil && end.After(start) {
			took = append(took, fmt.Sprintf("%s %s", strings.TrimPrefix(f[1], "/"+p.name+"_"), end.Sub(start).Round(10*time.Millisecond)))
		}
	}
	sort.Strings(took)
	t.Logf("project stopped in %s with --timeout %d; each container exited this long after the stop began: %s",
		time.Since(start).Round(time.Millisecond), int(stopGrace.Seconds()), strings.Join(took, ", "))
}

// healthDeadline bounds the wait for every HEALTHCHECK to pass: past the images' longest
// start period (60 s) plus a few of their 2–5 s intervals.
const healthDeadline = 90 * time.Second

// healthPoll is how often waitHealthy looks: a health status changes once per check interval
// (2–5 s), so looking more often would only start more docker clients.
const healthPoll = time.Second

// waitHealthy waits until every long-running container of the project (all but the one-shot
// steps, which have exited) reports healthy, so each image's HEALTHCHECK is seen to pass: up
// waits only for the ones a depends_on names (rabbitmq, tron). A running container without a
// healthcheck, one that turns unhealthy, or one still starting at the deadline fails the
// test with its health log.
func (p *project) waitHealthy(t *testing.T) {
	t.Helper()
	ids, err := p.compose("ps", "-q")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var pending []inspected
	var bad string
	healthy := wait.UntilEvery(healthDeadline, healthPoll, func() bool {
		pending, bad = health(t, strings.Fields(ids))
		return bad != "" || len(pending) == 0
	})
	switch {
	case bad != "":
		t.Fatal(bad)
	case !healthy:
		for _, c := range pending {
			t.Errorf("container %s not healthy %s after up: %s", c.Name, healthDeadline, c.healthLog())
		}
		t.FailNow()
	}
	t.Logf("every container healthy %s after up", time.Since(start).Round(time.Millisecond))
}

// inspected is what `docker inspect` says of a container's state and health.
type inspected struct {
	Name  string
	State struct {
		Status string
		Health *struct {
			Status string
			Log    []struct {
				End      string
				ExitCode int
				Output   string
			}
		}
	}
}

// health reads the health of the running containers of ids: those still starting, and a
// message when one is unhealthy or has no healthcheck.
func health(t *testing.T, ids []string) (pending []inspected, bad string) {
	t.Helper()
	var all []inspected
	if err := json.Unmarshal([]byte(must(t, os.Environ(), "docker", append([]string{"inspect"}, ids...)...)), &all); err != nil {
		t.Fatalf("docker inspect: %v", err)
	}
	for _, c := range all {
		switch {
		case c.State.Status == "exited":
			continue // a one-shot step that has done its work (up fails if one fails)
		case c.State.Status != "running":
			pending = append(pending, c) // created, restarting: not running yet
		case c.State.Health == nil:
			return nil, fmt.Sprintf("container %s runs without a HEALTHCHECK", c.Name)
		case c.State.Health.Status == "starting":
			pending = append(pending, c)
		case c.State.Health.Status != "healthy":
			return nil, fmt.Sprintf("container %s is %s: %s", c.Name, c.State.Health.Status, c.healthLog())
		}
	}
	return pending, ""
}

// healthLog is the output of the container's last health checks.
func (c inspected) healthLog() string {
	if c.State.Health == nil {
		return "no health checks (state " + c.State.Status + ")"
	}
	var b strings.Builder
	for _, l := range c.State.Health.Log {
		fmt.Fprintf(&b, "\n%s exit %d: %s", l.End, l.ExitCode, strings.TrimSpace(l.Output))
	}
	return b.String()
}
