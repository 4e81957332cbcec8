package dockertest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/stack"
	"github.com/funcatron/funcatron/internal/testenv"
)

// greeting is what hello-go answers to /hello/greet/<name> with props {"greeting":"Howdy"}.
func greeting(name, op string) string {
	return fmt.Sprintf(`{"greeting":"Howdy, %s!","operation":"%s"}`+"\n", name, op)
}

// TestComposeStack: the compose file's stack, from `up` to `down`, serving a bundle the CLI
// deployed from the host, through one runner's kill -9 and a broker restart.
func TestComposeStack(t *testing.T) {
	start := time.Now()
	requireEngine(t)
	requireImages(t)
	cli, bundles := buildCLIAndSamples(t)
	p := composeUp(t)
	p.waitHealthy(t)

	api := &stack.Stack{TronURL: fmt.Sprintf("http://127.0.0.1:%d", p.tronPort), Token: p.token(t)}
	testenv.WaitFor(t, 60*time.Second, "two runners and the frontend's workers awake at the Tron", func() bool {
		r, err1 := api.NodeCount("runner")
		f, err2 := api.NodeCount("frontend")
		return err1 == nil && err2 == nil && r == 2 && f >= 1
	})
	deploy(t, p, cli, filepath.Join(bundles, "hello-go.zip"))
	front := fmt.Sprintf("http://127.0.0.1:%d", p.httpPort)
	testenv.WaitFor(t, 30*time.Second, "hello-go served through the frontend container", func() bool {
		s := fetch(&http.Client{Timeout: clientTimeout}, front+"/hello/greet/docker", greeting("docker", "greet"))
		return s.status == 200 && s.err == ""
	})

	t.Run("Secrets", func(t *testing.T) { checkSecrets(t, p) })
	t.Run("Isolation", func(t *testing.T) { isolation(t, p, cli, front) })
	t.Run("RunnerKill", func(t *testing.T) { runnerKill(t, p, front) })
	t.Run("BrokerRestart", func(t *testing.T) { brokerRestart(t, p, front) })
	t.Logf("whole test so far %s (teardown follows)", time.Since(start).Round(time.Second))
}

// buildCLIAndSamples builds the CLI (the one `make build` puts in bin/) and the sample
// bundles (`make samples`) into a temp dir.
func buildCLIAndSamples(t *testing.T) (cli, bundles string) {
	t.Helper()
	dir := t.TempDir()
	if err := stack.Build(filepath.Join(dir, "bin")); err != nil {
		t.Fatal(err)
	}
	bundles = filepath.Join(dir, "bundles")
	cmd := exec.Command("bash", filepath.Join(servers.RepoRoot(), "scripts", "build-samples.sh"), bundles)
	cmd.Dir = servers.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the sample bundles: %v\n%s", err, out)
	}
	return filepath.Join(dir, "bin", "funcatron"), bundles
}

// deploy runs `funcatron deploy` on the host against the Tron's published port, with the
// token handed over in a file as a user would.
func deploy(t *testing.T, p *project, cli, zip string) {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokenFile, []byte(p.token(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), fmt.Sprintf("FUNCATRON_TRON=http://127.0.0.1:%d", p.tronPort),
		"FUNCATRON_TOKEN_FILE="+tokenFile)
	out := must(t, env, cli, "deploy", zip, "--props", `{"greeting":"Howdy"}`)
	if !strings.Contains(out, "enabled ") {
		t.Fatalf("funcatron deploy: %s", out)
	}
}

// runnerKill: `docker kill` (SIGKILL) of one runner container under load; the requests it
// held are redelivered to the other, and every request is answered 200 with the right body.
func runnerKill(t *testing.T, p *project, front string) {
	runners := p.containers(t, "runner")
	if len(runners) != 2 {
		t.Fatalf("runner containers %v, want 2", runners)
	}
	// 300 ms requests over 6 clients: both runners surely hold some when one dies
	l := startLoad(t, 6, front+"/hello/sleep?ms=300", `{"slept_ms":300}`+"\n")
	l.waitOK(t, 30, 30*time.Second)
	killed := time.Now()
	must(t, p.env, "docker", "kill", runners[0])
	p.killed = append(p.killed, runners[0][:12])
	l.waitOK(t, 60, 30*time.Second)
	l.finish()

	c := countOf(l.snapshot())
	t.Logf("kill of runner %s under load: %s", runners[0][:12], c)
	if c.ok != c.total {
		t.Errorf("not every request answered 200 across the runner kill: %s", c)
	}
	spanning := 0
	for _, s := range l.snapshot() {
		if s.start.Before(killed) && s.end.After(killed) {
			spanning++
		}
	}
	if spanning == 0 {
		t.Errorf("no request was in flight across the kill")
	}
	t.Logf("%d requests were in flight across the kill", spanning)
}

// brokerRestart: `docker restart` of the RabbitMQ container under load. The Tron, the
// surviving runner and the frontend reconnect by themselves (none of their containers
// restarts), service is back within 10 s of the broker, and during the outage the only
// answers besides 2xx are the frontend's quick 503 and 504.
func brokerRestart(t *testing.T, p *project, front string) {
	ours := append(append(p.containers(t, "tron"), p.containers(t, "frontend")...), liveRunners(t, p)...)
	before := started(t, ours...)
	l := startLoad(t, 4, front+"/hello/greet/bob", greeting("bob", "greet"))
	l.waitOK(t, 40, 30*time.Second)

	broker := p.containers(t, "rabbitmq")[0]
	stopped := time.Now()
	must(t, p.env, "docker", "restart", "--time", "30", broker)
	up := brokerListening(t, broker)
	t.Logf("broker container restarted, listening again %s after the restart began", up.Sub(stopped).Round(time.Millisecond))
	var resumed time.Time
	testenv.WaitFor(t, 30*time.Second, "a 2xx answer after the broker came back", func() bool {
		for _, s := range l.snapshot() {
			if s.status/100 == 2 && s.err == "" && s.start.After(up) {
				resumed = s.end
				return true
			}
		}
		return false
	})
	t.Logf("service resumed %s after the broker was up", resumed.Sub(up).Round(time.Millisecond))
	if d := resumed.Sub(up); d > 10*time.Second {
		t.Errorf("service resumed %s after the broker was up, want within 10 s", d)
	}
	// The first 2xx comes from the first route served again; for a moment after it a
	// frontend may still hold a table in which the runner has not re-subscribed (runners: 0),
	// and answers a quick 503. Every request started settleAfter later must be a 200.
	const settleAfter = 3 * time.Second
	testenv.WaitFor(t, 30*time.Second, "the service settled after the broker restart", func() bool {
		return time.Since(resumed) > settleAfter
	})
	steady := len(l.snapshot())
	l.waitOK(t, 100, 30*time.Second)
	l.finish()
	all := l.snapshot()
	var settled []sample
	for _, s := range all[steady:] {
		if s.start.After(resumed.Add(settleAfter)) {
			settled = append(settled, s)
		}
	}
	c, after := countOf(all), countOf(settled)
	t.Logf("broker restart under load: %s; %s after service resumed: %s", c, settleAfter, after)
	for code := range c.byStatus {
		if code != 503 && code != 504 {
			t.Errorf("%d answers %d; during a broker restart only 503 and 504 are expected", c.byStatus[code], code)
		}
	}
	if len(c.failures) > 0 || c.total-c.ok-sum(c.byStatus) > 0 {
		t.Errorf("requests without an answer across the broker restart: %s", c)
	}
	if after.ok != after.total || after.total == 0 {
		t.Errorf("%s after service resumed, not every request answered 200: %s", settleAfter, after)
	}
	if now := started(t, ours...); fmt.Sprint(now) != fmt.Sprint(before) {
		t.Errorf("our containers restarted: before %v, after %v", before, now)
	}
}

// liveRunners are the runner containers that are running (the kill left one).
func liveRunners(t *testing.T, p *project) []string {
	var live []string
	for id, st := range started(t, p.containers(t, "runner")...) {
		if strings.HasSuffix(st, " running") {
			live = append(live, id)
		}
	}
	return live
}

// brokerListening waits until the broker container accepts AMQP and STOMP connections
// (`docker restart` returns when the process started, RabbitMQ boots seconds later) and
// returns when it did. It dials the container's address on the test's own network.
func brokerListening(t *testing.T, id string) time.Time {
	t.Helper()
	ip := must(t, os.Environ(), "docker", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id)
	testenv.WaitFor(t, 60*time.Second, "the broker listening on "+ip, func() bool {
		for _, port := range []string{"5672", "61613"} {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, port), time.Second)
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	})
	return time.Now()
}
