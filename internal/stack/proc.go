package stack

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/funcatron/funcatron/internal/wait"
)

// Proc is one daemon of the stack (the Tron or a runner) run as a real process from its
// binary, so fault tests can kill -9 it and start it again on the same data.
type Proc struct {
	Name    string
	Bin     string
	Args    []string
	Env     []string
	LogPath string // stdout and stderr, appended across restarts

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts the process (again, after Kill or Stop).
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s already running", p.Name)
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Env = p.Env
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a kill reaches the bundle processes a runner started too;
	// Pdeathsig so nothing outlives a crashed test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// Running tells whether the process is alive.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// PID is the current process's id (0 when none runs).
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Exited is closed when the current process exits (nil when none was started).
func (p *Proc) Exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Kill kills the process and its group at once (kill -9: no clean shutdown).
func (p *Proc) Kill() { p.signal(syscall.SIGKILL, 10*time.Second) }

// Stop asks the process to shut down cleanly (SIGTERM) and kills it after grace.
func (p *Proc) Stop(grace time.Duration) { p.signal(syscall.SIGTERM, grace) }

func (p *Proc) signal(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	pid := p.cmd.Process.Pid
	// The daemon first, so it can stop its children itself; the group after it.
	syscall.Kill(pid, sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	p.cmd, p.done = nil, nil
}

// reap forgets a process that exited by itself, so Start can start it again.
func (p *Proc) reap() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	select {
	case <-p.done:
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // what it left of its group
		p.cmd, p.done = nil, nil
	default:
	}
}

// waitFor waits until cond holds, the process exits, or within passes; errors name the
// process's log.
func waitFor(p *Proc, within time.Duration, what string, cond func() bool) error {
	err := wait.Ready(p.Exited(), within, p.Name+": "+what, cond)
	if err == nil {
		return nil
	}
	if last := p.lastLogLine(); last != "" && !p.Running() {
		return fmt.Errorf("%w: %s (log: %s)", err, last, p.LogPath) // why it exited, usually
	}
	return fmt.Errorf("%w (log: %s)", err, p.LogPath)
}

// lastLogLine is the last non-empty line of the process's log.
func (p *Proc) lastLogLine() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

var errNoBinary = errors.New("binary not built")
