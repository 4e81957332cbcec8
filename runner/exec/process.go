// Bundle processes: a clean environment, their own process group, and a stop that leaves
// neither orphans nor zombies.

package exec

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	osexec "os/exec"
	"path/filepath"
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
// The manifest cannot override the FUNCATRON_ variables or HOME.
func baseEnv(cfg *execConfig, home string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	env := make([]string, 0, len(cfg.Env)+6)
	keys := make([]string, 0, len(cfg.Env))
	for k := range cfg.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "HOME" || strings.HasPrefix(k, "FUNCATRON_") {
			continue
		}
		if k == "PATH" {
			path = cfg.Env[k]
			continue
		}
		env = append(env, k+"="+cfg.Env[k])
	}
	return append(env,
		"PATH="+path,
		"HOME="+home,
		"FUNCATRON_PROPS="+string(cfg.Props),
		"FUNCATRON_BUNDLE="+cfg.SHA,
	)
}

// command builds the osexec.Cmd of cfg.Command in the bundle directory. The program is a
// file of the bundle (the bundles package checks that); a bare name the bundle lacks is
// looked up in PATH as a convenience.
func command(cfg *execConfig, env []string) (*osexec.Cmd, error) {
	if len(cfg.Command) == 0 {
		return nil, errors.New("the exec command is empty")
	}
	prog := filepath.Join(cfg.Dir, filepath.FromSlash(cfg.Command[0]))
	if _, err := os.Stat(prog); err != nil {
		if strings.Contains(cfg.Command[0], "/") {
			return nil, fmt.Errorf("the exec command %s is not in the bundle", cfg.Command[0])
		}
		p, lerr := osexec.LookPath(cfg.Command[0])
		if lerr != nil {
			return nil, fmt.Errorf("the exec command %s is neither in the bundle nor in PATH", cfg.Command[0])
		}
		prog = p
	}
	cmd := &osexec.Cmd{Path: prog, Args: append([]string{prog}, cfg.Command[1:]...), Dir: cfg.Dir, Env: env}
	// Its own process group, so a stop reaches its children too; killed with the runner.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// A grandchild holding stdout open must not keep Wait from returning.
	cmd.WaitDelay = time.Second
	return cmd, nil
}

// stopGroup ends the process group of a started cmd: SIGTERM, then SIGKILL after grace.
// exited is closed once cmd.Wait returned (the caller owns Wait); stopGroup returns after
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

// killGroup kills a process group at once (a CGI script past its time).
func killGroup(cmd *osexec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// logWriter turns a process's output into log lines. The tail of stderr is kept so that a
// process that dies during start-up can be described in the enable's ack.
type logWriter struct {
	pw   *io.PipeWriter
	done chan struct{}
	tail *tailBuffer
}

func newLogWriter(log *slog.Logger, stream string, tail *tailBuffer) *logWriter {
	pr, pw := io.Pipe()
	w := &logWriter{pw: pw, done: make(chan struct{}), tail: tail}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 0, 4096), 64<<10)
		for sc.Scan() {
			if tail != nil {
				tail.add(sc.Text())
			}
			log.Info(sc.Text(), "stream", stream)
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return w
}

func (w *logWriter) Write(p []byte) (int, error) { return w.pw.Write(p) }

// Close ends the log stream and waits until every line is logged.
func (w *logWriter) Close() error {
	w.pw.Close()
	<-w.done
	return nil
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
