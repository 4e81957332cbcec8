// The runner as child subreaper: orphans of bundle processes become the runner's children;
// the reaper kills those still alive and reaps the dead, without touching the processes
// os/exec waits for itself.

package exec

import (
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/funcatron/funcatron/runner/kind"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER of prctl(2).
const prSetChildSubreaper = 36

// reaper state, one per process (the subreaper flag is per process too).
//
// How it keeps off os/exec's children: every process started through spawn is registered
// (its pid) from before it can exit until its os/exec Wait returned. spawn holds gate for
// reading across cmd.Start and the registration; a reaping round holds it for writing, so
// a round never sees a child that is started but not yet registered. A round lists the
// runner's children (/proc/self/task/*/children, every thread's) and reaps with
// wait4(pid, WNOHANG) only unregistered ones, by pid: it never waits for "any child"
// (wait4(-1) or waitid(P_ALL) without WNOWAIT would take os/exec's statuses), so os/exec's
// Wait always gets its exit status. Listing the children rather than peeking with
// waitid(P_ALL, WNOWAIT) also finds the live orphans, and an exited child os/exec has not
// reaped yet does not hide the others.
//
// Which unregistered children are the reaper's: those running as a bundle uid (only
// spawn starts processes under those; anything else the runner's process starts, e.g. a
// test's servers, is left alone), and every one when the runner is PID 1 (in its image,
// where it is the init of its container). A live unregistered bundle child is an orphan
// (its parent exited: bundle processes are killed with their parents) and gets SIGKILL.
var reaper = reaperState{waited: map[int]bool{}, ranges: map[kind.UIDRange]int{}}

type reaperState struct {
	once   sync.Once
	gate   sync.RWMutex
	mu     sync.Mutex
	waited map[int]bool          // pids whose os/exec Wait is pending
	ranges map[kind.UIDRange]int // uid ranges of the started sandboxes (counted)
	pid1   bool
}

// startReaper makes the process a child subreaper and starts the reaping loop, once.
func startReaper() {
	reaper.once.Do(func() {
		reaper.mu.Lock()
		reaper.pid1 = os.Getpid() == 1
		reaper.mu.Unlock()
		_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
		go reapLoop()
	})
}

// reapLoop runs a round on every SIGCHLD, and every few seconds in case one was missed.
func reapLoop() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGCHLD)
	t := time.NewTicker(5 * time.Second)
	for {
		select {
		case <-sig:
		case <-t.C:
		}
		reapOrphans()
	}
}

// watchRange counts r among the ranges whose uids are the reaper's (add -1 to forget).
func watchRange(r kind.UIDRange, add int) {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	reaper.ranges[r] += add
	if reaper.ranges[r] <= 0 {
		delete(reaper.ranges, r)
	}
}

// reapOrphans is one round: among the runner's children, reap every exited one that is
// the reaper's and kill every live bundle orphan (its SIGCHLD brings the round that reaps
// it).
func reapOrphans() {
	reaper.gate.Lock()
	defer reaper.gate.Unlock()
	for _, pid := range children() {
		mine, bundle := reaper.mine(pid)
		if bundle {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if mine {
			reapPid(pid)
		}
	}
}

// mine reports whether pid, a child of the runner, is the reaper's to reap, and whether
// it is a bundle process (an orphan to kill when alive).
func (r *reaperState) mine(pid int) (mine, bundle bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.waited[pid] {
		return false, false
	}
	if uids, ok := procUIDs(pid); ok {
		for rg := range r.ranges {
			if rg.Contains(uids[0]) || rg.Contains(uids[1]) {
				bundle = true
			}
		}
	}
	return bundle || r.pid1, bundle
}

// register notes that os/exec waits for pid; unregister, once its Wait returned.
func (r *reaperState) register(pid int) {
	r.mu.Lock()
	r.waited[pid] = true
	r.mu.Unlock()
}

func (r *reaperState) unregister(pid int) {
	r.mu.Lock()
	delete(r.waited, pid)
	r.mu.Unlock()
}

// reapPid reaps pid if it has exited (never blocks).
func reapPid(pid int) {
	var ws syscall.WaitStatus
	_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
}

// children lists the runner's child processes (of every thread).
func children() []int {
	files, _ := filepath.Glob("/proc/self/task/*/children")
	var pids []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(s); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
