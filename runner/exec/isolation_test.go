package exec

import (
	"context"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/funcatron/funcatron/internal/wait"
	"github.com/funcatron/funcatron/runner/kind"
)

// TestUIDLeases: two leases never share a uid, even of one range in one process. A uid
// that no one holds but under which a process runs (left by a runner that died) is leased
// only once that process is killed and gone; one whose process cannot be made to go (a
// zombie its parent does not reap) is not leased at all.
func TestUIDLeases(t *testing.T) {
	r := kind.UIDRange{First: 62900, Last: 62902} // a range of its own: no other test uses it
	log := testLog(t)
	a, err := leaseUID(r, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.release()
	b, err := leaseUID(r, log)
	if err != nil {
		t.Fatal(err)
	}
	if a.uid == b.uid {
		t.Fatalf("two leases of uid %d", a.uid)
	}
	// A process of b's uid outlives its lease, as if its runner had died.
	left := startAs(t, b.uid)
	waited := make(chan struct{})
	go func() { left.Wait(); close(waited) }()
	b.release()
	c, err := leaseUID(r, log)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-waited:
	default:
		t.Errorf("uid %d leased again while its process %d exists", c.uid, left.Process.Pid)
	}
	if c.uid != b.uid {
		t.Errorf("leased %d, want %d (the lowest, once its leftover is gone)", c.uid, b.uid)
	}
	// A zombie no one reaps keeps its uid from being leased.
	zombie := startAs(t, c.uid)
	c.release()
	zombie.Process.Signal(syscall.SIGKILL)
	testenv.WaitFor(t, 5*time.Second, "a zombie", func() bool {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", zombie.Process.Pid))
		return strings.Contains(string(st), ") Z ")
	})
	d, err := leaseUID(r, log)
	if err != nil || d.uid == c.uid {
		t.Errorf("lease %v, %v while a zombie of uid %d remains", d, err, c.uid)
	}
	if d != nil {
		d.release()
	}
	zombie.Wait()
}

// startAs starts `sleep 1000` as uid (and gid) outside any sandbox.
func startAs(t *testing.T, uid uint32) *osexec.Cmd {
	t.Helper()
	cmd := osexec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid, Groups: []uint32{}}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd
}

// TestUIDRangeExhausted: when every uid of the range is leased, the next start fails and
// says why.
func TestUIDRangeExhausted(t *testing.T) {
	r := kind.UIDRange{First: 62910, Last: 62910}
	a, err := leaseUID(r, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer a.release()
	if _, err := leaseUID(r, testLog(t)); err == nil || !strings.Contains(err.Error(), "62910-62910 is in use") {
		t.Errorf("second lease of a one-uid range: %v", err)
	}
}

// TestOutputBounds: a line over maxLineBytes is cut (and says so), lines over the rate are
// dropped and counted, and the count reaches the sink.
func TestOutputBounds(t *testing.T) {
	var mu sync.Mutex
	var got []kind.OutputLine
	c := newCapture(sinkFunc(func(l kind.OutputLine) { mu.Lock(); got = append(got, l); mu.Unlock() }), "sha", "q")
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now } // the clock stands still: only the burst passes
	w := c.writer("stdout", nil)
	fmt.Fprintf(w, "%s\nshort\n", strings.Repeat("x", 3*maxLineBytes))
	for i := range lineBurst + 10 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	w.Close()
	now = now.Add(time.Second) // refills lineRate tokens
	w = c.writer("stdout", nil)
	fmt.Fprintln(w, "later")
	w.Close()
	c.flush()
	if len(got) < 2 || !got[0].Truncated || len(got[0].Text) != maxLineBytes || got[1].Text != "short" || got[1].Truncated {
		t.Fatalf("first lines: %+v", got[:min(2, len(got))])
	}
	last := got[len(got)-1]
	if last.Text != "later" || last.Dropped != 12 || last.SHA != "sha" || last.Queue != "q" {
		t.Errorf("after the drops: %+v, want \"later\" reporting 12 dropped lines", last)
	}
	if n := len(got); n != lineBurst+1 {
		t.Errorf("%d lines passed, want the burst (%d) and one after the pause", n, lineBurst)
	}
}

type sinkFunc func(kind.OutputLine)

func (f sinkFunc) Line(l kind.OutputLine) { f(l) }

// TestForeignSocketRefused: a bundle that puts a link to another socket of the host (here
// one served by the runner's own uid) where its worker's socket should be does not get the
// runner to talk to it: the peer's uid is checked.
func TestForeignSocketRefused(t *testing.T) {
	inst, err := startTest(t, testConfig(fnDir(t)), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h := inst.(*httpInstance)
	foreign := filepath.Join(t.TempDir(), "root.sock")
	ln, err := net.Listen("unix", foreign)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	w := h.workers[0]
	if err := os.Remove(w.sock); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(foreign, w.sock); err != nil {
		t.Fatal(err)
	}
	w.client.CloseIdleConnections()
	var out protocol.AnswerBody
	inst.Serve(context.Background(), &kind.Call{Svc: service("h", "GET", "/pid", nil), Op: "pid", Path: "/pid", BasePath: "/"}, &out)
	if out.Status != 502 {
		t.Errorf("through a foreign socket: %d %s, want 502", out.Status, out.Body)
	}
	if _, err := w.dial(time.Second); err == nil || !strings.Contains(err.Error(), "not served by the bundle's uid") {
		t.Errorf("dial: %v", err)
	}
}

// TestSandboxPrivate: the sandbox's directory is reachable by the bundle's gid only, HOME
// and the socket dir are the bundle's and private, the bundle's files are the runner's.
func TestSandboxPrivate(t *testing.T) {
	inst, err := startTest(t, testConfig(fnDir(t)), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sb := inst.(*httpInstance).sb
	uid := sb.lease.uid
	check := func(p string, mode os.FileMode, owner, group uint32) {
		t.Helper()
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if st.Mode().Perm() != mode || sys.Uid != owner || sys.Gid != group {
			t.Errorf("%s: %v %d:%d, want %v %d:%d", p, st.Mode().Perm(), sys.Uid, sys.Gid, mode, owner, group)
		}
	}
	check(sb.dir, 0o750, 0, uid)
	check(sb.home, 0o700, uid, uid)
	check(sb.sockDir, 0o700, uid, uid)
	check(sb.bundle, 0o755, 0, 0)
	check(filepath.Join(sb.bundle, "bin", "fn"), 0o755, 0, 0)
	testenv.WaitFor(t, 5*time.Second, "the worker's socket", func() bool { _, err := os.Stat(filepath.Join(sb.sockDir, "w0.sock")); return err == nil })
}

// TestStartNodeIsolated: another kind's node process starts like an http-mode bundle,
// isolated, with the environment Prepare gives, after Prepare saw the private directory.
func TestStartNodeIsolated(t *testing.T) {
	dir := fnDir(t)
	cfg := testConfig(dir)
	s := &kind.Spec{SHA: "n", Queue: "test", Dir: dir, Log: testLog(t), Grace: time.Second, UIDs: testUIDs, PropsJSON: []byte("{}")}
	var seen string
	n, err := StartNode(context.Background(), s, NodeConfig{
		Command: cfg.Command, StartTimeout: cfg.StartTimeout, Timeout: cfg.Timeout, Concurrency: 4,
		Prepare: func(d string) ([]string, error) {
			seen = d
			return []string{"GILMOUR_PROXY=" + filepath.Join(d, "proxy.sock")}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(context.Background())
	var out protocol.AnswerBody
	n.h.Serve(context.Background(), &kind.Call{Svc: service("h", "GET", "/echo", nil), Op: "echo", Path: "/echo", BasePath: "/"}, &out)
	if out.Status != 200 || !strings.Contains(string(out.Body), "GILMOUR_PROXY="+filepath.Join(seen, "proxy.sock")) {
		t.Errorf("node /echo: %d %s; want GILMOUR_PROXY in %s", out.Status, out.Body, seen)
	}
	if sb := n.h.sb; seen != sb.dir || !sb.isolated() {
		t.Errorf("prepare saw %q, the sandbox is %q (isolated %v)", seen, sb.dir, sb.isolated())
	}
}

// pid1Var makes the test binary run pid1Scenario instead of the tests.
const pid1Var = "FUNCATRON_EXEC_TEST_PID1"

// TestReaperAsPID1: as PID 1 (the runner in its image), the reaper reaps every orphan,
// bundle or not, leaving no zombie, and os/exec still gets the exit status of the process
// it waits for. The test binary runs itself as PID 1 of a new PID namespace.
func TestReaperAsPID1(t *testing.T) {
	cmd := osexec.Command("unshare", "--pid", "--fork", "--mount-proc", os.Args[0])
	cmd.Env = append(os.Environ(), pid1Var+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "pid1 ok") {
		t.Errorf("as PID 1: %v\n%s", err, out)
	}
}

// pid1Scenario: a process that leaves an orphan behind and exits 3; the orphan exits later.
func pid1Scenario() int {
	if os.Getpid() != 1 {
		fmt.Println("not PID 1:", os.Getpid())
		return 1
	}
	startReaper()
	cmd := osexec.Command("sh", "-c", "sleep 0.3 & exit 3")
	if err := spawn(cmd); err != nil {
		fmt.Println(err)
		return 1
	}
	if err := await(cmd); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		fmt.Println("os/exec's exit status:", err)
		return 1
	}
	alone := wait.Until(10*time.Second, func() bool {
		others := 0
		eachProcess(func(pid int, _ [3]uint32) {
			if pid != 1 {
				others++
			}
		})
		return others == 0
	})
	if !alone {
		fmt.Println("processes (zombies?) left:", children())
		return 1
	}
	fmt.Println("pid1 ok")
	return 0
}

// TestWithoutIsolation: with no --bundle-uids the bundle runs as the runner's user, in the
// unpacked bundle itself, and is stopped as usual.
func TestWithoutIsolation(t *testing.T) {
	dir := fnDir(t)
	cfg := testConfig(dir)
	s := &kind.Spec{SHA: cfg.SHA, Queue: "test", Dir: dir, Log: testLog(t), Grace: time.Second, Bundle: &bundles.Bundle{Exec: &cfg.ExecConfig}, PropsJSON: cfg.Props}
	inst, err := Kind{}.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	var out protocol.AnswerBody
	inst.Serve(context.Background(), &kind.Call{Svc: service("h", "GET", "/pid", nil), Op: "pid", Path: "/pid", BasePath: "/"}, &out)
	pid, _ := strconv.Atoi(string(out.Body))
	uids, ok := procUIDs(pid)
	if out.Status != 200 || !ok || uids[0] != uint32(os.Getuid()) {
		t.Errorf("/pid: %d %q, uids %v; want a process of the runner's uid %d", out.Status, out.Body, uids, os.Getuid())
	}
	if sb := inst.(*httpInstance).sb; sb.bundle != dir {
		t.Errorf("runs in %s, want the unpacked bundle %s", sb.bundle, dir)
	}
	if err := inst.Stop(context.Background()); err != nil || !gone(pid) {
		t.Errorf("stop: %v; process %d gone: %v", err, pid, gone(pid))
	}
}

func gone(pid int) bool { return syscall.Kill(pid, 0) == syscall.ESRCH }
