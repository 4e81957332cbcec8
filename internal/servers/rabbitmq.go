package servers

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/wait"
)

// rabbitServerBin is Debian's server script that runs as the calling user; the wrapper in
// /usr/sbin drops to the rabbitmq user, which cannot write our temp dirs.
const rabbitServerBin = "/usr/lib/rabbitmq/bin/rabbitmq-server"

// RabbitMQ is a private RabbitMQ node with the STOMP plugin, listening on loopback only.
// Its node name, data dir and ports are its own, so tests never touch a system broker.
type RabbitMQ struct {
	AMQPPort  int
	STOMPPort int
	DistPort  int
	Dir       string // config, data and logs live here

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}

	loginMu  sync.Mutex // not mu: Start holds mu while its readiness check reads the login
	user     string     // the login of URL and of the readiness check: guest until SetLogin
	password string
}

// NewRabbitMQ starts a node whose files live under dir (testenv.StartRabbitMQ is the test's
// wrapper, testenv.MainWithRabbitMQ a package's). Close stops it.
func NewRabbitMQ(dir string) (*RabbitMQ, error) {
	if _, err := os.Stat(rabbitServerBin); err != nil {
		return nil, fmt.Errorf("%s not found: run scripts/deps.sh (package rabbitmq-server)", rabbitServerBin)
	}
	var lastErr error
	for range 3 { // a free port can be taken in the seconds between finding it and binding it
		ports, err := FreePorts(3)
		if err != nil {
			return nil, err
		}
		r := &RabbitMQ{AMQPPort: ports[0], STOMPPort: ports[1], DistPort: ports[2], Dir: dir, user: "guest", password: "guest"}
		if err := r.writeConfig(); err != nil {
			return nil, err
		}
		if lastErr = r.Start(); lastErr == nil {
			return r, nil
		}
		r.Close()
		// A port taken meanwhile: a listener's (eaddrinuse), or the distribution port, which
		// is also what rabbitmqctl of a node whose dist port is 10000 lower binds.
		if !strings.Contains(lastErr.Error(), "eaddrinuse") && !strings.Contains(lastErr.Error(), "dist_port_already_used") {
			break
		}
		os.RemoveAll(filepath.Join(dir, "mnesia")) // the failed node's name and data go with its ports
	}
	return nil, lastErr
}

// URL is the AMQP URL of the node with its login: guest (allowed from loopback) until
// SetLogin names another user.
func (r *RabbitMQ) URL() string {
	r.loginMu.Lock()
	u := url.UserPassword(r.user, r.password)
	r.loginMu.Unlock()
	return fmt.Sprintf("amqp://%s@127.0.0.1:%d/", u.String(), r.AMQPPort)
}

// SetLogin makes URL, and the readiness check of Start and Restart, log in as user: for a
// node whose guest was deleted (internal/stack runs scripts/broker-users.sh).
func (r *RabbitMQ) SetLogin(user, password string) {
	r.loginMu.Lock()
	r.user, r.password = user, password
	r.loginMu.Unlock()
}

// writeConfig writes the node's configuration. max_message_size is the system's one
// message bound (protocol.DefaultMaxMessageBytes, docs/security.md "Bounded input"): the
// broker refuses a larger publish, so no consumer is ever handed one.
//
// advanced.config empties the STOMP plugin's default_user, which is guest/guest when
// rabbitmq.conf says nothing (rabbitmq.conf has no way to unset it): a STOMP CONNECT
// without a login is then refused instead of becoming guest (docs/security.md "What a
// bundle can still reach on the runner's host"). Every frontend logs in as itself.
func (r *RabbitMQ) writeConfig() error {
	conf := fmt.Sprintf(`listeners.tcp.default = 127.0.0.1:%d
stomp.listeners.tcp.1 = 127.0.0.1:%d
log.console = false
log.file.level = warning
max_message_size = %d
`, r.AMQPPort, r.STOMPPort, protocol.DefaultMaxMessageBytes)
	if err := os.WriteFile(filepath.Join(r.Dir, "rabbitmq.conf"), []byte(conf), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "advanced.config"), []byte(stompNoDefaultUser), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(r.Dir, "enabled_plugins"), []byte("[rabbitmq_stomp].\n"), 0o644)
}

// stompNoDefaultUser is the advanced.config (Erlang terms) that leaves the STOMP plugin
// without a default login.
const stompNoDefaultUser = "[{rabbitmq_stomp, [{default_user, []}]}].\n"

func (r *RabbitMQ) env() []string {
	d := r.Dir
	return append(cleanEnv(),
		"HOME="+d, // the Erlang cookie goes here
		"RABBITMQ_NODENAME="+r.NodeName(),
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		fmt.Sprintf("RABBITMQ_DIST_PORT=%d", r.DistPort),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(d, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(d, "enabled_plugins"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(d, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(d, "log"),
		"RABBITMQ_FEATURE_FLAGS_FILE="+filepath.Join(d, "feature_flags"),
		"RABBITMQ_PID_FILE="+filepath.Join(d, "rabbit.pid"),
		"RABBITMQ_PLUGINS_EXPAND_DIR="+filepath.Join(d, "plugins-expand"),
		"RABBITMQ_GENERATED_CONFIG_DIR="+filepath.Join(d, "generated"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(d, "advanced.config"),
	)
}

// Start starts the node (again, after Stop or Kill: same ports, same data) and waits until
// both the AMQP and the STOMP listener accept connections.
func (r *RabbitMQ) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return errors.New("rabbitmq already running")
	}
	logf, err := os.OpenFile(filepath.Join(r.Dir, "server.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(rabbitServerBin)
	cmd.Env = r.env()
	cmd.Dir = r.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", rabbitServerBin, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	r.cmd, r.done = cmd, done
	if err := r.waitReady(done, 60*time.Second); err != nil {
		out, _ := os.ReadFile(filepath.Join(r.Dir, "server.out"))
		return fmt.Errorf("%w\n--- rabbitmq output ---\n%s", err, tail(out, 3000))
	}
	return nil
}

func (r *RabbitMQ) waitReady(exited <-chan struct{}, within time.Duration) error {
	what := fmt.Sprintf("rabbitmq on ports %d/%d", r.AMQPPort, r.STOMPPort)
	return wait.Ready(exited, within, what, func() bool { return r.amqpReady() && portOpen(r.STOMPPort) })
}

// amqpReady is a full AMQP handshake, not only an open port: the listener opens before the
// node accepts logins.
func (r *RabbitMQ) amqpReady() bool {
	c, err := amqp.DialConfig(r.URL(), amqp.Config{Dial: amqp.DefaultDial(time.Second)})
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Stop shuts the node down cleanly (SIGTERM) and waits for it.
func (r *RabbitMQ) Stop() { r.signal(syscall.SIGTERM, 30*time.Second) }

// Kill kills the node at once (SIGKILL to its whole process group).
func (r *RabbitMQ) Kill() { r.signal(syscall.SIGKILL, 10*time.Second) }

// Restart stops the node cleanly and starts it again on the same ports and data.
func (r *RabbitMQ) Restart() error {
	r.Stop()
	return r.Start()
}

// Close stops the node; safe to call more than once.
func (r *RabbitMQ) Close() { r.Stop() }

func (r *RabbitMQ) signal(sig syscall.Signal, grace time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	stopGroup(r.cmd.Process.Pid, r.done, sig, grace)
	r.cmd, r.done = nil, nil
}

// stopGroup sends sig to the process group of pid, escalating to SIGKILL after grace.
func stopGroup(pid int, done <-chan struct{}, sig syscall.Signal, grace time.Duration) {
	syscall.Kill(-pid, sig)
	select {
	case <-done:
	case <-time.After(grace):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
	// Children that outlived the leader (erl_child_setup, inet_gethost) go too.
	syscall.Kill(-pid, syscall.SIGKILL)
}

func portOpen(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// cleanEnv is the environment for servers we start: PATH and locale, nothing of the test's.
func cleanEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}
	if env[0] == "PATH=" {
		env[0] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	return env
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
