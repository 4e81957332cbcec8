// Bundle uids: leasing one of --bundle-uids per started instance, finding and killing
// every process of a uid.

package exec

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/funcatron/funcatron/internal/wait"
	"github.com/funcatron/funcatron/runner/kind"
)

// uidLockDir holds one lock file per bundle uid in use. The lease of a uid is an flock on
// its file, so two runners on one host (or two in one process, as in tests) never lease
// the same uid, and a runner that dies releases its leases with its file descriptors.
// Under /run: only root (or CAP_DAC_OVERRIDE) writes there, so a bundle cannot plant it.
var uidLockDir = "/run/funcatron/bundle-uids"

// uidLease is one uid of the range, held until release.
type uidLease struct {
	uid  uint32
	lock *os.File
}

// leaseUID takes the lowest uid of r that no runner holds and no process runs as (a uid
// freed while processes of it remain, zombies included, is not reused before they are
// gone). A uid no runner holds but under which processes run is what a runner that died
// (kill -9, OOM) left behind: those processes are killed, logged on log, and the uid is
// leased once they are gone. The range must therefore be the runners' alone.
func leaseUID(r kind.UIDRange, log *slog.Logger) (*uidLease, error) {
	if err := os.MkdirAll(uidLockDir, 0o700); err != nil {
		return nil, fmt.Errorf("bundle uids: creating %s: %w", uidLockDir, err)
	}
	busy := uidsRunning(r)
	for uid := r.First; uid <= r.Last && uid >= r.First; uid++ {
		l, ok := tryLock(uid)
		if !ok {
			continue
		}
		if !busy[uid] {
			return l, nil
		}
		log.Warn("killing the processes a dead runner left under a bundle uid", "uid", uid, "pids", pidsOf(uid))
		if killUID(uid, time.Second) == nil {
			return l, nil
		}
		l.release()
	}
	return nil, fmt.Errorf("every uid of --bundle-uids %s is in use (one per started bundle)", r)
}

// tryLock takes the lock of uid, if no one holds it.
func tryLock(uid uint32) (*uidLease, bool) {
	f, err := os.OpenFile(filepath.Join(uidLockDir, strconv.FormatUint(uint64(uid), 10)), os.O_CREATE|os.O_RDWR|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return &uidLease{uid: uid, lock: f}, true
}

// release gives the uid back; its processes must be gone (killUID) first.
func (l *uidLease) release() {
	if l != nil && l.lock != nil {
		l.lock.Close()
		l.lock = nil
	}
}

// killUID kills every process of uid (SIGKILL, whatever its session or group: this is
// how children that escaped with setsid are found) and waits until none is left, zombies
// included (the reaper reaps them once they are the runner's), up to within.
func killUID(uid uint32, within time.Duration) error {
	var pids []int
	gone := wait.Until(within, func() bool { // the kernel finishes the kills; nothing to wait on
		if pids = pidsOf(uid); len(pids) == 0 {
			return true
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		reapOrphans()
		return false
	})
	if !gone {
		return fmt.Errorf("processes %v of bundle uid %d still exist after %s", pids, uid, within)
	}
	return nil
}

// pidsOf lists the processes (zombies too) whose real, effective or saved uid is uid.
func pidsOf(uid uint32) []int {
	var pids []int
	eachProcess(func(pid int, uids [3]uint32) {
		if uids[0] == uid || uids[1] == uid || uids[2] == uid {
			pids = append(pids, pid)
		}
	})
	return pids
}

// uidsRunning is the set of uids of r some process runs as.
func uidsRunning(r kind.UIDRange) map[uint32]bool {
	busy := map[uint32]bool{}
	eachProcess(func(_ int, uids [3]uint32) {
		for _, u := range uids {
			if r.Contains(u) {
				busy[u] = true
			}
		}
	})
	return busy
}

// eachProcess calls fn with every process of /proc and its real, effective and saved uid.
func eachProcess(fn func(pid int, uids [3]uint32)) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if uids, ok := procUIDs(pid); ok {
			fn(pid, uids)
		}
	}
}

// procUIDs reads the Uid line of /proc/<pid>/status (world-readable, also for zombies).
func procUIDs(pid int) (uids [3]uint32, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return uids, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, found := bytes.CutPrefix(sc.Bytes(), []byte("Uid:"))
		if !found {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) < 3 {
			return uids, false
		}
		for i := range 3 {
			n, err := strconv.ParseUint(string(f[i]), 10, 32)
			if err != nil {
				return uids, false
			}
			uids[i] = uint32(n)
		}
		return uids, true
	}
	return uids, false
}
