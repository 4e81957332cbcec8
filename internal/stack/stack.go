// Package stack brings up a whole Funcatron on one machine: a private RabbitMQ (with STOMP)
// and Redis, the Tron and runners as real processes from their binaries, and the nginx
// frontend from the repository's configuration, everything on loopback under one
// directory. `make run` (cmd/devstack), the integration suite and `make bench` all use it,
// so what the tests prove is what a user runs.
package stack

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/funcatron/funcatron/internal/buskey"
	"github.com/funcatron/funcatron/internal/servers"
)

// Options says what to bring up. Zero values give one runner, one nginx worker, free ports.
type Options struct {
	// Dir holds every server's data and logs (e.g. .run/ or a test's temp dir).
	Dir string
	// BinDir holds the tron and runner binaries (see Build).
	BinDir string
	// Runners is how many runners to start; default 1.
	Runners int
	// NginxWorkers is nginx's worker_processes; default 1.
	NginxWorkers int
	// TronPort is the Tron's admin API port; 0 picks a free one.
	TronPort int
	// HTTPPort is the frontend's port; 0 picks a free one.
	HTTPPort int
	// RunnerPort is the first runner's /healthz and /metrics port (the runner's default is
	// 4000), the next runner's RunnerPort+1, and so on; 0 picks free ones (tests).
	RunnerPort int
	// BrokerNodes is how many clustered RabbitMQ nodes to start (servers.NewRabbitCluster);
	// 0 or 1: a single node. Every daemon gets every node's URL, nginx every node in
	// RABBIT_HOSTS (spec/protocol.md §9). TronArgs "--queue-type", "quorum" makes the
	// queues replicated.
	BrokerNodes int
	// Redis starts a redis-server too (for the gilmour and zbus kinds).
	Redis bool
	// TronArgs and RunnerArgs are extra flags, e.g. a short --heartbeat-period in tests.
	TronArgs, RunnerArgs []string
	// NginxEnv is more environment for nginx (FUNCATRON_TIMEOUT, ...).
	NginxEnv map[string]string
}

// Stack is a running system.
type Stack struct {
	opts   Options
	Rabbit *servers.RabbitMQ // the broker, or the cluster's first node
	// Cluster is the broker's nodes when Options.BrokerNodes > 1, else nil.
	Cluster *servers.RabbitCluster
	Redis   *servers.Redis
	Nginx   *servers.Nginx
	Tron    *Proc
	Runners []*Proc
	Token   string // the Tron's admin token
	TronURL string // http://127.0.0.1:<port>
	// BusKeyFile and FrontendKeyFile are the keys that sign control messages
	// (spec/protocol.md §7): the Tron gets both, each runner the bus key only, nginx the
	// frontend key only.
	BusKeyFile, FrontendKeyFile string
	// BrokerUsers are the per-role RabbitMQ logins (RoleTron, RoleRunner, RoleFrontend);
	// guest is deleted. Rabbit.URL() logs in as the Tron's user.
	BrokerUsers map[string]BrokerUser
	client      http.Client
	moreNginx   []*servers.Nginx // StartFrontend's
}

// Build builds the tron, runner and funcatron binaries of the repository into dir.
func Build(dir string) error {
	// -trimpath as in the Makefile: the tests run the binaries a user runs.
	cmd := exec.Command("go", "build", "-trimpath", "-o", dir+"/", "./cmd/tron", "./cmd/runner", "./cmd/funcatron")
	cmd.Dir = servers.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the binaries: %v\n%s", err, out)
	}
	return nil
}

// Start brings the stack up and returns once the Tron, every runner and every nginx worker
// have met on the bus. On error, whatever was started is stopped again.
func Start(o Options) (s *Stack, err error) {
	if o.Runners == 0 {
		o.Runners = 1
	}
	for _, name := range []string{"tron", "runner"} {
		if _, err := os.Stat(filepath.Join(o.BinDir, name)); err != nil {
			return nil, fmt.Errorf("%s in %s: %w (run stack.Build first)", name, o.BinDir, errNoBinary)
		}
	}
	s = &Stack{opts: o, client: http.Client{Timeout: 30 * time.Second}}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()
	if err = s.startBroker(); err != nil {
		return s, err
	}
	if o.Redis {
		if s.Redis, err = servers.NewRedis(s.dir("redis")); err != nil {
			return s, err
		}
	}
	if err = s.makeKeys(); err != nil {
		return s, err
	}
	if err = s.startTron(); err != nil {
		return s, err
	}
	for range o.Runners {
		if _, err = s.StartRunner(); err != nil {
			return s, err
		}
	}
	if err = s.startNginx(); err != nil {
		return s, err
	}
	return s, nil
}

// startBroker starts the node or the cluster, with the per-role users (cluster-wide), and
// makes every node's URL log in as the Tron's user.
func (s *Stack) startBroker() (err error) {
	if s.opts.BrokerNodes > 1 {
		if s.Cluster, err = servers.NewRabbitCluster(s.dir("rabbitmq"), s.opts.BrokerNodes); err != nil {
			return err
		}
		s.Rabbit = s.Cluster.Nodes[0]
	} else if s.Rabbit, err = servers.NewRabbitMQ(s.dir("rabbitmq")); err != nil {
		return err
	}
	if s.BrokerUsers, err = brokerUsers(s.Rabbit, s.dir("secrets")); err != nil {
		return err
	}
	tron := s.BrokerUsers[RoleTron]
	for _, n := range s.brokerNodes() {
		n.SetLogin(tron.Name, tron.Password)
	}
	return nil
}

// brokerNodes is the cluster's nodes, or the one node.
func (s *Stack) brokerNodes() []*servers.RabbitMQ {
	if s.Cluster != nil {
		return s.Cluster.Nodes
	}
	return []*servers.RabbitMQ{s.Rabbit}
}

// dir makes and returns a subdirectory of the stack's directory.
func (s *Stack) dir(name string) string {
	d := filepath.Join(s.opts.Dir, name)
	os.MkdirAll(d, 0o755)
	return d
}

func (s *Stack) startTron() error {
	port := s.opts.TronPort
	if port == 0 {
		ports, err := servers.FreePorts(1)
		if err != nil {
			return err
		}
		port = ports[0]
	}
	dir := s.dir("tron")
	tokenFile := filepath.Join(dir, "admin-token")
	if err := s.ensureToken(tokenFile); err != nil {
		return err
	}
	s.TronURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	s.Tron = &Proc{
		Name: "tron", Bin: filepath.Join(s.opts.BinDir, "tron"), LogPath: filepath.Join(dir, "tron.log"),
		Args: append([]string{"--listen", fmt.Sprintf("127.0.0.1:%d", port),
			"--data-dir", filepath.Join(dir, "data"), "--token-file", tokenFile,
			"--bus-key-file", s.BusKeyFile, "--frontend-key-file", s.FrontendKeyFile}, s.opts.TronArgs...),
		Env: s.daemonEnv(RoleTron),
	}
	return s.StartTron()
}

// StartTron starts the Tron process (again) and waits until its API answers with the bus up.
func (s *Stack) StartTron() error {
	if err := s.Tron.Start(); err != nil {
		return err
	}
	return waitFor(s.Tron, 30*time.Second, "healthy /healthz", func() bool {
		resp, err := s.client.Get(s.TronURL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// makeKeys keeps the bus keys of an earlier run of the same directory (keys/), or makes
// them (mode 0600, in a directory of mode 0700).
func (s *Stack) makeKeys() error {
	dir := filepath.Join(s.opts.Dir, "keys")
	s.BusKeyFile, s.FrontendKeyFile = filepath.Join(dir, "bus-key"), filepath.Join(dir, "frontend-key")
	for _, path := range []string{s.BusKeyFile, s.FrontendKeyFile} {
		if _, err := os.Stat(path); err == nil {
			continue
		}
		if err := buskey.Create(path); err != nil {
			return fmt.Errorf("creating the key %s: %w", path, err)
		}
	}
	return nil
}

// ensureToken keeps the admin token of an earlier run of the same directory, or makes one.
func (s *Stack) ensureToken(path string) error {
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
		s.Token = string(b)
		return nil
	}
	buf := make([]byte, 24)
	rand.Read(buf)
	s.Token = hex.EncodeToString(buf)
	return os.WriteFile(path, []byte(s.Token), 0o600)
}

// StartRunner starts one more runner and waits until the Tron counts it.
func (s *Stack) StartRunner() (*Proc, error) {
	i := len(s.Runners)
	ports := []int{s.opts.RunnerPort + i}
	if s.opts.RunnerPort == 0 {
		var err error
		if ports, err = servers.FreePorts(1); err != nil {
			return nil, err
		}
	}
	dir := s.dir("runner-" + strconv.Itoa(i))
	p := &Proc{
		Name: "runner-" + strconv.Itoa(i), Bin: filepath.Join(s.opts.BinDir, "runner"),
		LogPath: filepath.Join(dir, "runner.log"),
		Args: append(append([]string{"--listen", fmt.Sprintf("127.0.0.1:%d", ports[0]),
			"--data-dir", filepath.Join(dir, "data"), "--bus-key-file", s.BusKeyFile}, bundleUIDArgs()...), s.opts.RunnerArgs...),
		Env: s.daemonEnv(RoleRunner),
	}
	before, err := s.NodeCount("runner")
	if err != nil {
		return nil, err
	}
	if err := p.Start(); err != nil {
		return nil, err
	}
	s.Runners = append(s.Runners, p)
	return p, waitFor(p, 30*time.Second, "its awake at the Tron", func() bool {
		n, err := s.NodeCount("runner")
		return err == nil && n > before
	})
}

func (s *Stack) startNginx() (err error) {
	s.Nginx, err = s.newFrontend("nginx", nil, s.opts.HTTPPort, 0)
	return err
}

// StartFrontend starts one more nginx frontend on the stack's broker, with the stack's keys
// and workers, in the directory name under the stack's and on a free port, with env over
// Options.NginxEnv, and returns once its workers are awake at the Tron. `make bench` runs
// one with FUNCATRON_FRAMING=catalogue next to the default one, so both framings are
// measured on the same broker and runners. Close stops it.
func (s *Stack) StartFrontend(name string, env map[string]string) (*servers.Nginx, error) {
	before, err := s.NodeCount("frontend")
	if err != nil {
		return nil, err
	}
	n, err := s.newFrontend(name, env, 0, before)
	if n != nil {
		s.moreNginx = append(s.moreNginx, n)
	}
	return n, err
}

// newFrontend starts an nginx frontend under s.dir(name) and waits until the Tron counts
// its workers on top of the before frontends it knew.
func (s *Stack) newFrontend(name string, extra map[string]string, port, before int) (*servers.Nginx, error) {
	workers := max(s.opts.NginxWorkers, 1)
	front := s.BrokerUsers[RoleFrontend]
	env := map[string]string{"FUNCATRON_FRONTEND_KEY_FILE": s.FrontendKeyFile,
		"RABBIT_USER": front.Name, "RABBIT_PWD": front.Password}
	if s.Cluster != nil {
		env["RABBIT_HOSTS"] = s.Cluster.STOMPHosts()
	}
	maps.Copy(env, s.opts.NginxEnv)
	maps.Copy(env, extra)
	n, err := servers.NewNginx(s.dir(name), servers.NginxOptions{
		RabbitPort: s.Rabbit.STOMPPort, Workers: workers, Env: env, Port: port,
	})
	if err != nil && strings.Contains(err.Error(), "Address already in use") {
		return nil, fmt.Errorf("the frontend's HTTP port %d is taken by another program: stop it, or pick another port "+
			"(make run: FUNCATRON_RUN_HTTP_PORT=8081)\n%w", port, err)
	}
	if err != nil {
		return nil, err
	}
	return n, waitFor(s.Tron, 30*time.Second, "every nginx worker's awake", func() bool {
		n, err := s.NodeCount("frontend")
		return err == nil && n >= before+workers
	})
}

// RunnerURL is runner p's base URL (/healthz, /metrics).
func RunnerURL(p *Proc) string {
	for i, a := range p.Args {
		if a == "--listen" && i+1 < len(p.Args) {
			return "http://" + p.Args[i+1]
		}
	}
	return ""
}

// FrontURL is the frontend's base URL.
func (s *Stack) FrontURL() string { return s.Nginx.URL() }

// Close stops everything, nginx first so no request arrives at a stopped runner.
func (s *Stack) Close() {
	if s.Nginx != nil {
		s.Nginx.Stop()
	}
	for _, n := range s.moreNginx {
		n.Stop()
	}
	for _, r := range s.Runners {
		r.Stop(10 * time.Second)
	}
	if s.Tron != nil {
		s.Tron.Stop(10 * time.Second)
	}
	if s.Redis != nil {
		s.Redis.Close()
	}
	if s.Cluster != nil {
		s.Cluster.Close()
	} else if s.Rabbit != nil {
		s.Rabbit.Close()
	}
}

// BundleUIDs is the --bundle-uids of the stack's runners when it runs as root (tests, and
// `make run` as root; the runner refuses to run bundles as root). Runners share it: their
// uid leases are host-wide. Not root, the runners run bundles as the user, and warn.
const BundleUIDs = "61000-61999"

func bundleUIDArgs() []string {
	if os.Geteuid() != 0 {
		return nil
	}
	return []string{"--bundle-uids", BundleUIDs}
}

// daemonEnv is baseEnv plus the broker URL of role. The URL holds a password, so it goes in
// the environment, which only the daemon's uid can read (/proc/<pid>/environ), never on the
// command line, which every process of the host, a bundle's too, can read
// (/proc/<pid>/cmdline).
func (s *Stack) daemonEnv(role string) []string {
	return append(baseEnv(), "FUNCATRON_RABBIT_URL="+s.BrokerURL(role))
}

// baseEnv is the daemons' environment: PATH, plus HOME, which Go's build cache and the
// samples' interpreters expect. Their options come as flags, secrets in the environment
// (daemonEnv; nginx's RABBIT_PWD).
func baseEnv() []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	return []string{"PATH=" + path, "HOME=" + os.Getenv("HOME"), "LANG=C.UTF-8"}
}
