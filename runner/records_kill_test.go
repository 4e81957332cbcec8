package runner

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/stack"
	"github.com/funcatron/funcatron/internal/testenv"
)

var (
	runnerBinOnce sync.Once
	runnerBin     string
	runnerBinErr  error
)

// buildRunner builds cmd/runner once for the tests that kill -9 a runner process.
func buildRunner(t *testing.T) string {
	t.Helper()
	runnerBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "runner-bin-")
		if err != nil {
			runnerBinErr = err
			return
		}
		runnerBin = filepath.Join(dir, "runner")
		if out, err := exec.Command("go", "build", "-o", runnerBin, "../cmd/runner").CombinedOutput(); err != nil {
			runnerBinErr = err
			t.Logf("%s", out)
		}
	})
	if runnerBinErr != nil {
		t.Fatalf("building cmd/runner: %v", runnerBinErr)
	}
	return runnerBin
}

// startRunnerProc starts cmd/runner as a process of its own reporting to tr, and returns
// it with its inbox once the Tron got its awake.
func startRunnerProc(t *testing.T, tr *tron) (*stack.Proc, string) {
	t.Helper()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "bus-key")
	if err := os.WriteFile(keyFile, harnessKey, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &stack.Proc{
		Name: "runner", Bin: buildRunner(t), LogPath: filepath.Join(dir, "runner.log"),
		Args: []string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--bus-key-file", keyFile,
			"--tron-queue", tr.queue, "--bundle-uids", stack.BundleUIDs, "--log-level", "debug"},
		Env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "FUNCATRON_RABBIT_URL=" + rabbit.URL()},
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			b, _ := os.ReadFile(p.LogPath)
			t.Logf("runner process log:\n%s", b)
		}
	})
	a := tr.wait(30*time.Second, "the runner process's awake", func(m protocol.Message) bool {
		_, ok := m.(*protocol.Awake)
		return ok
	}).(*protocol.Awake)
	return p, a.From
}

// TestRecordsKillMidBatch: kill -9 a runner process holding a records message some of whose
// answers it has published and some not: the broker delivers the message again to another
// runner, every request of it gets an answer, and the first answer per request-id (the
// frontend's rule) is all the client needs: the duplicates are exactly the answers the
// dead runner had sent.
func TestRecordsKillMidBatch(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	proc, inbox := startRunnerProc(t, tr)
	host, path := uniq(t)+".example", "/kill"
	sha, queue := tr.serveFn(inbox, host, path, nil)
	fe := newFrontend(t)

	var svcs []*protocol.Service
	for range 4 {
		svcs = append(svcs, service(host, "GET", path+"/hello/fast", nil))
	}
	svcs = append(svcs, service(host, "GET", path+"/slow?ms=5000", nil), service(host, "GET", path+"/slow?ms=5000", nil))
	ids := fe.publishRecords(queue, svcs...)
	fast, slow := ids[:4], ids[4:]
	testenv.WaitFor(t, 20*time.Second, "the fast answers from the first runner", func() bool {
		got, _ := fe.counts()
		for _, id := range fast {
			if got[id] == 0 {
				return false
			}
		}
		return true
	})
	proc.Kill()
	got, _ := fe.counts()
	for _, id := range slow {
		if got[id] != 0 {
			t.Fatalf("a slow request was answered before the kill: the batch was not partly answered")
		}
	}

	r2 := startRunner(t, tr)
	tr.enableOK(r2.Inbox(), sha, host, path, nil)
	got = waitAnswered(t, fe, queue, ids)
	testenv.WaitFor(t, 20*time.Second, "the second runner's answers to the fast requests", func() bool {
		got, _ = fe.counts()
		for _, id := range fast {
			if got[id] < 2 {
				return false
			}
		}
		return true
	})
	for _, id := range fast {
		if got[id] != 2 {
			t.Errorf("fast request %s: %d answers, want 2 (one per runner)", id, got[id])
		}
	}
	for _, id := range slow {
		if got[id] != 1 {
			t.Errorf("slow request %s: %d answers, want 1 (the second runner's)", id, got[id])
		}
	}
	// The first answer per request-id: a complete 200 for each request.
	for i, id := range ids {
		a := fe.answer(id, time.Second)
		if a.Answer.Status != 200 || (i < 4) != strings.Contains(string(a.Answer.Body), "fast") {
			t.Errorf("request %d: first answer %d %q", i, a.Answer.Status, a.Answer.Body)
		}
	}
}
