package tron

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
)

// tronProc is cmd/tron running as a process, so it can be killed without any shutdown path.
type tronProc struct {
	cmd  *exec.Cmd
	done chan error
}

// buildTron builds cmd/tron into a temp dir.
func buildTron(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build cmd/tron: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "tron")
	out, err := exec.Command(goBin, "build", "-o", bin, "github.com/funcatron/funcatron/cmd/tron").CombinedOutput()
	if err != nil {
		t.Fatalf("building cmd/tron: %v\n%s", err, out)
	}
	return bin
}

// startProc starts the binary with env and waits until its admin API answers /healthz 200.
func startProc(t *testing.T, bin string, env []string, addr string) *tronProc {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	w := testenv.NewLogWriter(t)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	p := &tronProc{cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	testenv.WaitFor(t, 30*time.Second, "the tron process to be healthy", func() bool {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("tron exited during start: %v", err)
		default:
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// stop sends sig and returns the process's exit error within a deadline.
func (p *tronProc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("tron did not exit within 20s of %v", sig)
	}
	return nil
}

func TestCrashAndRestartKeepsBundlesAndRoutes(t *testing.T) {
	bin := buildTron(t)
	ports, err := servers.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	queue := "for_tron_" + uuid.NewString()[:8]
	env := []string{
		"FUNCATRON_RABBIT_URL=" + broker.URL(), "FUNCATRON_TRON_QUEUE=" + queue, "FUNCATRON_LISTEN=" + addr,
		"FUNCATRON_DATA_DIR=" + t.TempDir(), "FUNCATRON_TOKEN=" + testToken, "FUNCATRON_ENABLE_WAIT=5s",
		"FUNCATRON_LOG_LEVEL=debug",
		"FUNCATRON_BUS_KEY_FILE=" + writeKey(t, testRunnerKey), "FUNCATRON_FRONTEND_KEY_FILE=" + writeKey(t, testFrontendKey),
	}
	client := apiClient{addr}

	// SIGTERM is a clean shutdown: exit status 0.
	p := startProc(t, bin, env, addr)
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("after SIGTERM: %v, want exit 0", err)
	}

	p = startProc(t, bin, env, addr)
	runner, front := amqpPeers(t, queue, "nginx-crash:0")
	a := client.upload(t, makeBundle(t, "", "/crash", "a"))
	b := client.upload(t, makeBundle(t, "crash.example", "/crash/deeper", "b"))
	for _, sha := range []string{a, b} {
		done := runner.ackNext(t, protocol.ActionEnable, protocol.AckOK, "")
		if status, res := client.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha, "props": map[string]any{"of": sha[:6]}}); status != 200 {
			t.Fatalf("enable %s = %d %v", sha, status, res)
		}
		<-done
		front.expect(t, protocol.ActionRoute)
	}
	_, before := client.apiRaw(t, "GET", "/api/v1/routes", nil)

	// SIGKILL: no shutdown path runs.
	if err := p.stop(t, syscall.SIGKILL); err == nil {
		t.Fatal("tron survived SIGKILL?")
	}
	startProc(t, bin, env, addr)

	_, after := client.apiRaw(t, "GET", "/api/v1/routes", nil)
	if string(after) != string(before) {
		t.Errorf("routes after the crash = %s, want %s", after, before)
	}
	status, known := client.api(t, "GET", "/api/v1/known_funcs", nil)
	list, _ := known["func-bundles"].([]any)
	if status != 200 || len(list) != 2 {
		t.Fatalf("known_funcs after the crash = %d %v", status, known)
	}
	for _, e := range list {
		if e.(map[string]any)["enabled"] != true {
			t.Errorf("bundle not enabled after the crash: %v", e)
		}
	}

	// The nodes heartbeat to a Tron that does not know them: resend-awake, then they get
	// everything again.
	runner.heartbeat(t)
	runner.expect(t, protocol.ActionResendAwake)
	runner.awake(t)
	runner.expect(t, protocol.ActionTronInfo)
	checkRunnerAnnouncementProps(t, runner, a, b)
	front.heartbeat(t)
	front.expect(t, protocol.ActionResendAwake)
	front.awake(t)
	routes := front.expect(t, protocol.ActionRoute).Data.(*protocol.Route).Routes
	if len(routes) != 2 || routes[0].SHA != b || routes[1].SHA != a {
		t.Errorf("frontend route after the crash = %s, want %s then %s", fmtRoutes(routes), b, a)
	}
}

// checkRunnerAnnouncementProps is checkRunnerAnnouncement for props {"of": sha[:6]}.
func checkRunnerAnnouncementProps(t *testing.T, n *fakeNode, shas ...string) {
	t.Helper()
	all := n.expect(t, protocol.ActionAllBundles).Data.(*protocol.AllBundles)
	var got []string
	for _, r := range all.Bundles {
		got = append(got, r.SHA)
	}
	if !slices.Equal(got, shas) {
		t.Errorf("all-bundles = %v, want %v", got, shas)
	}
	for _, sha := range shas {
		e := n.expect(t, protocol.ActionEnable).Data.(*protocol.Enable)
		if e.SHA != sha || e.Props["of"] != sha[:6] {
			t.Errorf("enable = %s %v, want %s with its props", e.SHA, e.Props, sha)
		}
	}
}
