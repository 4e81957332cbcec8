// One warm process of an exec bundle in http mode: started, checked for readiness,
// restarted with backoff when it exits, stopped with SIGTERM then SIGKILL.

package exec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	osexec "os/exec"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/funcatron/funcatron/internal/wait"
)

// Restart backoff of a worker whose process exited: doubling from min to max, back to min
// once a process lived longer than backoffReset.
const (
	minBackoff   = 100 * time.Millisecond
	maxBackoff   = 5 * time.Second
	backoffReset = 10 * time.Second
	readyPoll    = 20 * time.Millisecond
)

// worker is one process of an http-mode bundle and the keep-alive client to its socket.
type worker struct {
	id     int
	sock   string
	client *fasthttp.HostClient
	inst   *httpInstance
	log    *slog.Logger

	ready    atomic.Bool
	inflight atomic.Int64
}

func newWorker(inst *httpInstance, id int, sock string) *worker {
	w := &worker{id: id, sock: sock, inst: inst, log: inst.log.With("worker", id)}
	cfg := inst.cfg
	w.client = &fasthttp.HostClient{
		Addr:                   "bundle",
		Dial:                   func(string) (net.Conn, error) { return w.dial(time.Second) },
		MaxConns:               cfg.Concurrency,
		MaxConnWaitTimeout:     cfg.Timeout,
		MaxIdleConnDuration:    30 * time.Second,
		DisablePathNormalizing: true,
		// A request is never sent twice to a bundle: a retry could repeat a side effect.
		RetryIfErr:                    func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		MaxResponseBodySize:           maxBodyBytes,
	}
	return w
}

// maxBodyBytes bounds a bundle's response body (a larger one is a 502).
const maxBodyBytes = 64 << 20

// supervise keeps the worker's process running until ctx ends, then stops it. The outcome
// of the first start (nil once ready) goes to first; a first start that fails ends
// supervise, since the enable it belongs to fails.
func (w *worker) supervise(ctx context.Context, first chan<- workerErr) {
	backoff := minBackoff
	for {
		p, err := w.start()
		if err == nil {
			err = w.waitReady(ctx, p)
		}
		if first != nil {
			first <- workerErr{w.id, err}
			first = nil
			if err != nil {
				if p != nil {
					stopGroup(p.cmd, p.exited, 0)
				}
				return
			}
		}
		if err == nil {
			w.setReady(true)
			err = w.wait(ctx, p)
		} else if p != nil {
			stopGroup(p.cmd, p.exited, 0)
		}
		if ctx.Err() != nil {
			return
		}
		w.inst.restarted()
		w.log.Warn("bundle process ended; restarting", "err", err, "backoff", backoff)
		if p != nil && time.Since(p.started) > backoffReset {
			backoff = minBackoff
		}
		if !wait.Pause(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// wait returns when the process exits (its error) or, once ctx ends, after stopping it.
func (w *worker) wait(ctx context.Context, p *proc) error {
	select {
	case <-p.exited:
		w.setReady(false)
		killGroup(p.cmd) // its children go with it
		w.client.CloseIdleConnections()
		return fmt.Errorf("process exited: %v", p.err)
	case <-ctx.Done():
		w.setReady(false)
		stopGroup(p.cmd, p.exited, w.inst.grace)
		w.client.CloseIdleConnections()
		return ctx.Err()
	}
}

func (w *worker) setReady(v bool) {
	w.ready.Store(v)
	w.inst.readinessChanged()
}

// workerErr is the outcome of a worker's first start.
type workerErr struct {
	id  int
	err error
}

// proc is a started process; exited is closed after Wait returned, with err its result.
type proc struct {
	cmd     *osexec.Cmd
	exited  chan struct{}
	err     error
	stderr  *tailBuffer
	started time.Time
}

// start starts the worker's process on a fresh socket path.
func (w *worker) start() (*proc, error) {
	cfg := w.inst.cfg
	if err := os.Remove(w.sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing old socket: %w", err)
	}
	sb := w.inst.sb
	cmd := sb.command(cfg, append(baseEnv(cfg, sb), "FUNCATRON_LISTEN="+w.sock))
	p := &proc{cmd: cmd, exited: make(chan struct{}), stderr: newTailBuffer(5), started: time.Now()}
	stdout := sb.out.writer("stdout", nil)
	stderr := sb.out.writer("stderr", p.stderr)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := spawn(cmd); err != nil {
		stdout.Close()
		stderr.Close()
		return nil, fmt.Errorf("starting %s: %w", cfg.Command[0], err)
	}
	go func() {
		p.err = await(cmd)
		stdout.Close()
		stderr.Close()
		close(p.exited)
	}()
	return p, nil
}

// waitReady polls until the socket accepts and the health path (if any) answers 2xx,
// failing when the process exits or start-timeout passes.
func (w *worker) waitReady(ctx context.Context, p *proc) error {
	cfg := w.inst.cfg
	deadline := time.Now().Add(cfg.StartTimeout)
	problem := "its socket never accepted a connection"
	t := time.NewTicker(readyPoll)
	defer t.Stop()
	for {
		select {
		case <-p.exited:
			return exitProblem(p)
		default:
		}
		ok, why := w.probe(cfg.Health)
		if ok {
			return nil
		}
		if why != "" {
			problem = why
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s: %s", cfg.StartTimeout, problem)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.exited:
			return exitProblem(p)
		case <-t.C:
		}
	}
}

// exitProblem describes a process that exited during start-up, with its last stderr lines.
func exitProblem(p *proc) error {
	msg := fmt.Sprintf("the process exited during start-up (%v)", p.err)
	if tail := p.stderr.String(); tail != "" {
		msg += ": " + tail
	}
	return errors.New(msg)
}

// probe checks readiness once; why says what is missing.
func (w *worker) probe(health string) (ok bool, why string) {
	c, err := w.dial(200 * time.Millisecond)
	if err != nil {
		return false, ""
	}
	c.Close()
	if health == "" {
		return true, ""
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(health)
	req.Header.SetHost(defaultHost)
	if err := w.client.DoTimeout(req, resp, time.Second); err != nil {
		return false, fmt.Sprintf("health check %s failed: %v", health, err)
	}
	if s := resp.StatusCode(); s < 200 || s > 299 {
		return false, fmt.Sprintf("health check %s answered %d", health, s)
	}
	return true, ""
}

// dial connects to the worker's socket. Isolated, the socket's listener must run as the
// bundle's uid (SO_PEERCRED): the socket dir is the bundle's, so it could put a link to
// another socket of the host there, and the runner, root, must not talk to that.
func (w *worker) dial(timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("unix", w.sock, timeout)
	if err != nil || !w.inst.sb.isolated() {
		return c, err
	}
	if uid, ok := peerUID(c); !ok || uid != w.inst.sb.lease.uid {
		c.Close()
		return nil, fmt.Errorf("the socket %s is not served by the bundle's uid", w.sock)
	}
	return c, nil
}

// peerUID is the uid of the process that listens on the other end of a unix socket.
func peerUID(c net.Conn) (uint32, bool) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return 0, false
	}
	return cred.Uid, true
}
