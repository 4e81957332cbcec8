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
	"unsafe"

	"github.com/funcatron/funcatron/runner/kind"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER of prctl(2).
const prSetChildSubreaper = 36

// reaper state, one per process (the subreaper flag is per process too).
//
// How it keeps off os/exec's children: every process started through spawn is registered
// (its pid) from before it can exit until its os/exec Wait returned. spawn holds gate for
// reading across cmd.Start and the registration; a reaping round holds it for writing, so
// a round never sees a child that is started but not yet registered. A round peeks at
// exited children with waitid(P_ALL, WEXITED|WNOHANG|WNOWAIT), which leaves them waitable,
// and reaps (wait4 on that pid) only an unregistered one; when the first exited child is
// os/exec's (it hides the others from the peek), the round lists the runner's children
// from /proc/self/task/*/children instead. Registered pids are never waited for here, so
// os/exec's Wait always gets its exit status.
//
// Which unregistered children are the reaper's: those running as a bundle uid (only
// spawn starts processes under those; anything else the runner's process starts, e.g. a
// test's servers, is left alone), and every one when the runner is PID 1 (in its image,
// where it is the init of its container). A live unregistered bundle child is an orphan
// (its parent exited: bundle processes are killed with their parents) and gets SIGKILL.
var reaper reaperState

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
		reaper.waited = map[int]bool{}
		reaper.ranges = map[kind.UIDRange]int{}
		reaper.pid1 = os.Getpid() == 1
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

// reapOrphans is one round: reap every exited child that is the reaper's, kill every live
// one (an orphan).
func reapOrphans() {
	reaper.gate.Lock()
	defer reaper.gate.Unlock()
	for range 10000 {
		pid := peekExited()
		if pid <= 0 {
			return // no exited child at all
		}
		if mine, _ := reaper.mine(pid); !mine {
			break
		}
		reapPid(pid)
	}
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

// peekExited is the pid of an exited child, left waitable (0: none, -1: no children).
func peekExited() int {
	var info [128]byte // siginfo_t; si_pid is at offset 16 on 64-bit Linux
	const pAll, wexited, wnohang, wnowait = 0, 4, 1, 0x01000000
	_, _, e := syscall.Syscall6(syscall.SYS_WAITID, pAll, 0, uintptr(unsafe.Pointer(&info[0])), wexited|wnohang|wnowait, 0, 0)
	if e != 0 {
		return -1
	}
	return int(*(*int32)(unsafe.Pointer(&info[16])))
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
