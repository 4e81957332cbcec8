package servers

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/funcatron/funcatron/internal/wait"
)

// Redis is a private redis-server on a free loopback port, without persistence.
type Redis struct {
	Port int
	Dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// NewRedis starts a redis-server whose files live under dir (testenv.StartRedis is the
// test's wrapper). Close stops it.
func NewRedis(dir string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found: run scripts/deps.sh (package redis-server)")
	}
	ports, err := FreePorts(1)
	if err != nil {
		return nil, err
	}
	r := &Redis{Port: ports[0], Dir: dir, done: make(chan struct{})}
	logf, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		return nil, err
	}
	r.cmd = exec.Command(bin, "--port", fmt.Sprint(r.Port), "--bind", "127.0.0.1",
		"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no")
	r.cmd.Env = cleanEnv()
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting redis-server: %w", err)
	}
	go func() { r.cmd.Wait(); logf.Close(); close(r.done) }()
	if err := r.waitReady(10 * time.Second); err != nil {
		r.Close()
		out, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
		return nil, fmt.Errorf("%w\n--- redis output ---\n%s", err, tail(out, 2000))
	}
	return r, nil
}

// Addr is host:port of the server; URL is its redis:// URL (database 0).
func (r *Redis) Addr() string { return fmt.Sprintf("127.0.0.1:%d", r.Port) }
func (r *Redis) URL() string  { return "redis://" + r.Addr() + "/0" }

// waitReady polls with PING until the server answers PONG.
func (r *Redis) waitReady(within time.Duration) error {
	return wait.Ready(r.done, within, "redis-server on "+r.Addr(), func() bool {
		c, err := net.DialTimeout("tcp", r.Addr(), 200*time.Millisecond)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		fmt.Fprint(c, "PING\r\n")
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.HasPrefix(line, "+PONG")
	})
}

// Close stops the server; safe to call more than once.
func (r *Redis) Close() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	stopGroup(r.cmd.Process.Pid, r.done, syscall.SIGTERM, 5*time.Second)
	r.cmd = nil
}
