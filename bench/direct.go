// The two reference rows: an nginx of our own that answers `return 200` (the ceiling) and
// proxies everything else straight to the function process over its unix socket (what a
// user would run without Funcatron).

package main

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/wait"
)

// ceilingPath is the location answered by nginx itself.
const ceilingPath = "/ceiling"

// daemon is a process this program started, in its own process group.
type daemon struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startDaemon(cmd *exec.Cmd, logPath string) (*daemon, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	d := &daemon{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(d.done) }()
	return d, nil
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// stop sends SIGTERM, then SIGKILL to the group after 10 s.
func (d *daemon) stop() {
	if d == nil {
		return
	}
	syscall.Kill(d.pid(), syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
	}
	syscall.Kill(-d.pid(), syscall.SIGKILL)
	<-d.done
}

// direct is the function process and the nginx in front of it.
type direct struct {
	fn, nginx *daemon
	port      int
}

func (d *direct) url(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", d.port, path) }

func (d *direct) stop() {
	if d != nil {
		d.nginx.stop()
		d.fn.stop()
	}
}

// startDirect starts the bundle's function binary (unpacked under dir) on a unix socket, as
// the runner would, and an nginx with `workers` workers in front of it.
func startDirect(dir, fnBin string, workers int) (d *direct, err error) {
	d = &direct{}
	defer func() {
		if err != nil {
			d.stop()
			d = nil
		}
	}()
	sock := filepath.Join(dir, "fn.sock")
	fn := exec.Command(fnBin)
	fn.Dir = filepath.Dir(filepath.Dir(fnBin)) // the bundle's root, as the runner runs it
	fn.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "FUNCATRON_LISTEN=" + sock,
		`FUNCATRON_PROPS={"greeting":"Hello"}`}
	if d.fn, err = startDaemon(fn, filepath.Join(dir, "fn.log")); err != nil {
		return d, err
	}
	if err := waitSocket(sock, d.fn.done, 10*time.Second); err != nil {
		return d, err
	}
	return d, d.startNginx(dir, sock, workers)
}

func (d *direct) startNginx(dir, sock string, workers int) error {
	bin, err := nginxBinary()
	if err != nil {
		return err
	}
	for _, sub := range []string{"logs", "tmp"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o755)
	}
	ports, err := servers.FreePorts(1)
	if err != nil {
		return err
	}
	d.port = ports[0]
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(directConf(dir, sock, d.port, workers)), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "logs", "error.log"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if d.nginx, err = startDaemon(cmd, filepath.Join(dir, "logs", "nginx.out")); err != nil {
		return err
	}
	return waitHTTP(d.url(ceilingPath), d.nginx.done, 15*time.Second)
}

// directConf is the nginx configuration of the reference rows: the frontend's settings
// where they matter for speed (workers, connections, keepalive, body buffer, access log),
// and a keep-alive upstream with buffers big enough that a 64 KiB answer stays in memory.
func directConf(dir, sock string, port, workers int) string {
	user := ""
	if os.Geteuid() == 0 {
		// Workers keep the master's user (else nobody, who cannot open a socket in our temp dir).
		user = "user root;\n"
	}
	return user + fmt.Sprintf(`worker_processes %[4]d;
daemon off;
master_process on;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log info;
events {
    worker_connections 4096;
}
http {
    access_log %[1]s/logs/access.log;
    server_tokens off;
    keepalive_requests 10000;
    client_body_temp_path %[1]s/tmp/client_body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;

    upstream function {
        server unix:%[2]s;
        keepalive 64;
    }

    server {
        listen 127.0.0.1:%[3]d;
        server_name _;
        client_max_body_size 10m;
        client_body_buffer_size 64k;

        location = %[5]s {
            return 200;
        }

        location / {
            proxy_pass http://function;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffer_size 16k;
            proxy_buffers 8 16k;
        }
    }
}
`, dir, sock, port, workers, ceilingPath)
}

// nginxBinary finds nginx on PATH or where Debian puts it.
func nginxBinary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", errors.New("nginx not found: run scripts/deps.sh (package nginx)")
}

// waitSocket waits until a unix socket accepts connections.
func waitSocket(path string, exited <-chan struct{}, within time.Duration) error {
	c := http.Client{Timeout: time.Second, Transport: &http.Transport{
		DialContext: unixDialer(path),
	}}
	return wait.Ready(exited, within, "the function on "+path, func() bool {
		resp, err := c.Get("http://fn/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// unixDialer dials the unix socket path whatever address it is asked for.
func unixDialer(path string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		return d.DialContext(ctx, "unix", path)
	}
}

// waitHTTP waits until url answers 200.
func waitHTTP(url string, exited <-chan struct{}, within time.Duration) error {
	c := http.Client{Timeout: time.Second}
	return wait.Ready(exited, within, url, func() bool {
		resp, err := c.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// unzip extracts a bundle zip into dir, keeping executable bits.
func unzip(zipPath, dir string) error {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, f := range zr.File {
		dst := filepath.Join(dir, filepath.FromSlash(f.Name))
		if !strings.HasPrefix(dst, filepath.Clean(dir)+string(filepath.Separator)) {
			return fmt.Errorf("%s: entry %q leaves the directory", zipPath, f.Name)
		}
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := extract(f, dst); err != nil {
			return err
		}
	}
	return nil
}

func extract(f *zip.File, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if f.Mode()&0o111 != 0 {
		mode = 0o755
	}
	r, err := f.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}
