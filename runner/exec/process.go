// Bundle processes: the one place where they are started (for every kind), with a clean
// environment, their own process group, the sandbox's uid, and a stop that leaves neither
// orphans nor zombies.

package exec

import (
	osexec "os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// defaultPath is PATH for bundle processes when the runner itself has none.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// baseEnv is the environment every bundle process gets (spec/bundles.md §4): PATH, HOME,
// FUNCATRON_PROPS, FUNCATRON_BUNDLE and the manifest's env, nothing else of the runner's.
// The manifest cannot override the FUNCATRON_ variables or HOME. Secrets (props) go in the
// environment, never in a command line: /proc/<pid>/cmdline is world-readable, environ is
// readable only by the process's own uid (and root).
func baseEnv(cfg *execConfig, sb *sandbox) []string {
	env := make([]string, 0, len(cfg.Env)+6)
	keys := make([]string, 0, len(cfg.Env))
	for k := range cfg.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "HOME" || k == "PATH" || strings.HasPrefix(k, "FUNCATRON_") {
			continue
		}
		env = append(env, k+"="+cfg.Env[k])
	}
	env = append(env, cfg.Extra...)
	return append(env,
		"PATH="+sb.path,
		"HOME="+sb.home,
		"FUNCATRON_PROPS="+string(cfg.Props),
		"FUNCATRON_BUNDLE="+cfg.SHA,
	)
}

// command builds the osexec.Cmd of cfg.Command (its program resolved by newSandbox) in
// the sandbox's bundle directory: its own process group (a stop or a worker's exit reaches
// its children), killed with the runner (Pdeathsig), and, isolated, under the sandbox's
// uid and gid with no supplementary groups.
func (sb *sandbox) command(cfg *execConfig, env []string) *osexec.Cmd {
	cmd := &osexec.Cmd{Path: sb.prog, Args: append([]string{sb.prog}, cfg.Command[1:]...), Dir: sb.bundle, Env: env}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if sb.isolated() {
		id := sb.lease.uid
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: id, Gid: id, Groups: []uint32{}}
	}
	// A grandchild holding stdout open must not keep Wait from returning.
	cmd.WaitDelay = time.Second
	return cmd
}

// spawn starts cmd. Every bundle process of every kind is started here: it is registered
// with the reaper from before it can exit until await returned, so the reaper never takes
// its exit status from os/exec.
func spawn(cmd *osexec.Cmd) error {
	reaper.gate.RLock()
	defer reaper.gate.RUnlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	reaper.register(cmd.Process.Pid)
	return nil
}

// await is cmd.Wait for a cmd started by spawn.
func await(cmd *osexec.Cmd) error {
	err := cmd.Wait()
	reaper.unregister(cmd.Process.Pid)
	return err
}

// stopGroup ends the process group of a started cmd: SIGTERM, then SIGKILL after grace.
// exited is closed once await returned (the caller owns it); stopGroup returns after
// that, so the process is reaped. Children left in the group get SIGKILL as well.
func stopGroup(cmd *osexec.Cmd, exited <-chan struct{}, grace time.Duration) {
	pid := cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// killGroup kills a process group at once (a CGI script past its time, or done: what it
// left in its group; a worker that exited: its children).
func killGroup(cmd *osexec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// tailBuffer keeps the last few lines a process wrote.
type tailBuffer struct {
	lines []string
	max   int
	mu    sync.Mutex
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(line) > 200 {
		line = line[:200] + "..."
	}
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = t.lines[1:]
	}
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, " | ")
}
