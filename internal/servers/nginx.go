package servers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/funcatron/funcatron/internal/buskey"
	"github.com/funcatron/funcatron/internal/wait"
)

// NginxOptions configures a frontend nginx started by NewNginx (or testenv.StartNginx).
type NginxOptions struct {
	// RabbitHost is the RabbitMQ STOMP host; default 127.0.0.1.
	RabbitHost string
	// RabbitPort is the RabbitMQ STOMP port; required.
	RabbitPort int
	// InstanceID is the frontend's INSTANCEID; default "test-<listen port>". Worker n's node id
	// is InstanceID-n.
	InstanceID string
	// Workers is worker_processes; default 1.
	Workers int
	// MaxBody is client_max_body_size; default 10m.
	MaxBody string
	// LogLevel is the error_log level; default info.
	LogLevel string
	// AccessLog is "off" or a path; default <prefix>/logs/access.log.
	AccessLog string
	// Port is the HTTP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Env is more environment for nginx, e.g. TRON_QUEUE, FUNCATRON_TIMEOUT,
	// FUNCATRON_HEARTBEAT, DEV_MODE, HOST, PORT_80 (frontend.md "Configuration"),
	// FUNCATRON_FRONTEND_KEY_FILE. Without the key file (which the frontend requires), a new
	// key is made in the prefix: Nginx.FrontendKeyFile names it.
	Env map[string]string
}

// Nginx is a running frontend nginx (master and workers) in its own prefix dir.
type Nginx struct {
	Port   int    // HTTP port on 127.0.0.1
	Prefix string // conf, pid, logs and temp files
	Conf   string // the rendered nginx.conf
	// FrontendKeyFile is the frontend key nginx signs and verifies control messages with.
	FrontendKeyFile string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// NewNginx renders the repository's nginx configuration (scripts/render-nginx.sh) for a
// free port (or o.Port) and prefix, the directory nginx runs in, starts nginx and waits until
// it answers HTTP (testenv.StartNginx is the test's wrapper). A missing nginx or Lua module is
// an error naming the packages to install. Stop it with Stop.
func NewNginx(prefix string, o NginxOptions) (*Nginx, error) {
	bin, err := nginxBinary()
	if err != nil {
		return nil, err
	}
	if o.RabbitPort == 0 {
		return nil, errors.New("NginxOptions.RabbitPort is required")
	}
	keyFile, err := frontendKey(prefix, &o)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // a free port can be taken between finding it and binding it
		port := o.Port
		if port == 0 {
			ports, err := FreePorts(1)
			if err != nil {
				return nil, err
			}
			port = ports[0]
		}
		n := &Nginx{Port: port, Prefix: prefix, FrontendKeyFile: keyFile}
		if err := n.render(o); err != nil {
			return nil, err
		}
		lastErr = n.start(bin, o)
		if lastErr == nil {
			return n, nil
		}
		if o.Port != 0 || !strings.Contains(lastErr.Error(), "Address already in use") {
			break
		}
	}
	return nil, lastErr
}

// frontendKey returns o's FUNCATRON_FRONTEND_KEY_FILE, or makes a key in prefix and puts
// it in (a copy of) o.Env.
func frontendKey(prefix string, o *NginxOptions) (string, error) {
	if k := o.Env["FUNCATRON_FRONTEND_KEY_FILE"]; k != "" {
		return k, nil
	}
	path := filepath.Join(prefix, "frontend-key")
	if _, err := os.Stat(path); err != nil {
		if err := buskey.Create(path); err != nil {
			return "", fmt.Errorf("making a frontend key: %w", err)
		}
	}
	env := maps.Clone(o.Env)
	if env == nil {
		env = map[string]string{}
	}
	env["FUNCATRON_FRONTEND_KEY_FILE"] = path
	o.Env = env
	return path, nil
}

// RepoRoot is the repository root (where go.mod, nginx/ and frontend-lua/ are): the
// working directory or the nearest parent holding the nginx renderer (tests run in their
// package's directory, `make run` in the root), else where this source file was compiled
// from (a binary built with -trimpath knows only its module path there).
func RepoRoot() string {
	if dir, err := os.Getwd(); err == nil {
		for d := dir; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "scripts", "render-nginx.sh")); err == nil {
				return d
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// NginxConfigArgs returns the scripts/render-nginx.sh arguments for o, a listen port and a
// prefix (the one renderer: `make run` uses the script too).
func NginxConfigArgs(o NginxOptions, port int, prefix string) []string {
	args := []string{
		"--prefix", prefix,
		"--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--workers", strconv.Itoa(max(o.Workers, 1)),
		"--rabbit-host", orDefault(o.RabbitHost, "127.0.0.1"),
		"--rabbit-port", strconv.Itoa(o.RabbitPort),
		"--instance-id", orDefault(o.InstanceID, fmt.Sprintf("test-%d", port)),
		"--max-body", orDefault(o.MaxBody, "10m"),
		"--log-level", orDefault(o.LogLevel, "info"),
		"--out", filepath.Join(prefix, "nginx.conf"),
	}
	if o.AccessLog != "" {
		args = append(args, "--access-log", o.AccessLog)
	}
	// RABBIT_HOSTS (several brokers) is rendered too: with a rendered RABBIT_HOST, the
	// environment's would not reach Lua (scripts/render-nginx.sh).
	if hosts := o.Env["RABBIT_HOSTS"]; hosts != "" {
		args = append(args, "--rabbit-hosts", hosts)
	}
	return args
}

func (n *Nginx) render(o NginxOptions) error {
	script := filepath.Join(RepoRoot(), "scripts", "render-nginx.sh")
	cmd := exec.Command("bash", append([]string{script}, NginxConfigArgs(o, n.Port, n.Prefix)...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("rendering nginx.conf: %v: %s", err, out)
	}
	n.Conf = filepath.Join(n.Prefix, "nginx.conf")
	return nil
}

func (n *Nginx) start(bin string, o NginxOptions) error {
	os.Remove(n.ErrorLogPath())
	out, err := os.Create(filepath.Join(n.Prefix, "logs", "nginx.out"))
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "-p", n.Prefix, "-c", n.Conf, "-e", n.ErrorLogPath())
	cmd.Env = cleanEnv()
	for k, v := range o.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(done) }()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	if err := n.waitReady(done, cmd.Process.Pid, 15*time.Second); err != nil {
		n.Stop()
		stdout, _ := os.ReadFile(filepath.Join(n.Prefix, "logs", "nginx.out"))
		if cause := emergLine(n.ErrorLog() + "\n" + string(stdout)); cause != "" {
			// nginx exits at once when it cannot bind or load its config: say why first
			err = fmt.Errorf("nginx could not start: %s (error log: %s)", cause, n.ErrorLogPath())
		}
		return fmt.Errorf("%w\n--- nginx output ---\n%s\n--- error log ---\n%s", err,
			tail(stdout, 2000), tail([]byte(n.ErrorLog()), 4000))
	}
	return nil
}

// emergLine is the message of the first [emerg] line of nginx's log text, the cause ("bind()
// to 127.0.0.1:8080 failed (98: Address already in use)"; later ones say "still could not
// bind()"), or "".
func emergLine(log string) string {
	for _, line := range strings.Split(log, "\n") {
		if _, msg, ok := strings.Cut(line, "[emerg] "); ok {
			if _, after, ok := strings.Cut(msg, ": "); ok && strings.Contains(msg, "#") {
				msg = after // drop "12#12: "
			}
			return strings.TrimSpace(msg)
		}
	}
	return ""
}

// waitReady polls until nginx answers HTTP on its port (any status: the listener may still be
// connecting to RabbitMQ) from a worker of master, the process it started: another server
// on a taken port answers too, and must not count as ready.
func (n *Nginx) waitReady(exited <-chan struct{}, master int, within time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	var last error
	err := wait.Ready(exited, within, fmt.Sprintf("nginx on port %d", n.Port), func() bool {
		var ok bool
		ok, last = n.answersFrom(client, master)
		return ok
	})
	if err != nil && last != nil {
		return fmt.Errorf("%w (bad config, missing module or port in use?): %v", err, last)
	}
	return err
}

// answersFrom tells whether /__funcatron/health is answered by a worker whose parent is
// master.
func (n *Nginx) answersFrom(client *http.Client, master int) (bool, error) {
	resp, err := client.Get(n.URL() + "/__funcatron/health")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var h struct {
		PID int `json:"pid"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&h); err != nil || h.PID == 0 {
		return false, fmt.Errorf("port %d answers, but not as this nginx: %d %s", n.Port, resp.StatusCode, resp.Header.Get("Server"))
	}
	if ppid := parentPID(h.PID); ppid != master {
		return false, fmt.Errorf("port %d answers from pid %d, not a worker of nginx %d", n.Port, h.PID, master)
	}
	return true, nil
}

// parentPID is pid's parent process id from /proc (0 when unknown).
func parentPID(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// "pid (comm) state ppid ...": comm may hold spaces, so start after its ")"
	_, rest, _ := strings.Cut(string(b[bytes.LastIndexByte(b, ')')+1:]), " ")
	f := strings.Fields(rest)
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// URL is the base URL of the frontend, e.g. http://127.0.0.1:43117.
func (n *Nginx) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", n.Port) }

// ErrorLogPath is the path of nginx's error log.
func (n *Nginx) ErrorLogPath() string { return filepath.Join(n.Prefix, "logs", "error.log") }

// ErrorLog returns the error log's content so far.
func (n *Nginx) ErrorLog() string {
	b, _ := os.ReadFile(n.ErrorLogPath())
	return string(b)
}

// ErrorLogTail is the last max bytes of the error log, for a failed test's output.
func (n *Nginx) ErrorLogTail(max int) string { return tail([]byte(n.ErrorLog()), max) }

// Stop shuts nginx down gracefully (SIGQUIT: workers send `died`), killing it after 10 s.
// Safe to call more than once.
func (n *Nginx) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return
	}
	stopGroup(n.cmd.Process.Pid, n.done, syscall.SIGQUIT, 10*time.Second)
	n.cmd, n.done = nil, nil
}

func nginxBinary() (string, error) {
	const hint = "install the packages: apt-get install nginx libnginx-mod-http-lua lua-cjson lua-resty-core (or use OpenResty)"
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/openresty/nginx/sbin/nginx"} {
			if _, err := os.Stat(p); err == nil {
				bin = p
				break
			}
		}
	}
	if bin == "" {
		return "", fmt.Errorf("nginx not found: %s", hint)
	}
	if !strings.Contains(bin, "openresty") {
		if _, err := os.Stat("/usr/lib/nginx/modules/ngx_http_lua_module.so"); err != nil {
			return "", fmt.Errorf("nginx's Lua module (/usr/lib/nginx/modules/ngx_http_lua_module.so) not found: %s", hint)
		}
	}
	return bin, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
