// Node: warm http-mode processes for another kind (the gilmour node, the zbus command
// server), isolated and supervised exactly like an exec bundle's workers.

package exec

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/runner/kind"
)

// NodeConfig is the process a kind wants kept warm.
type NodeConfig struct {
	Command      []string          // as in exec: a file of the bundle or a program on PATH
	Env          map[string]string // added to the clean environment (FUNCATRON_* and HOME are the runner's)
	Health       string            // a path that must answer 2xx before the process counts as ready, or ""
	StartTimeout time.Duration
	Timeout      time.Duration // the longest call; bounds the wait for a free connection
	Concurrency  int           // the most calls in flight
	Workers      int           // processes kept warm; default 1
	// Prepare, when set, is called with the bundle's private directory before the process
	// starts; only the runner and the bundle's processes can reach that directory, so a
	// socket the runner serves for the bundle goes there (mode 0666 is then private
	// enough). It returns more environment for the process (NAME=value).
	Prepare func(dir string) ([]string, error)
}

// NodeConfigOf is the node settings of a manifest's exec-like section (zbus's command,
// workers, env, health, timeouts).
func NodeConfigOf(c *bundles.ExecConfig) NodeConfig {
	return NodeConfig{Command: c.Command, Env: c.Env, Health: c.Health, StartTimeout: c.StartTimeout,
		Timeout: c.Timeout, Concurrency: c.Concurrency, Workers: c.Workers}
}

// Node is the processes started by StartNode: the same clean environment, isolation,
// process group, readiness check, restart with backoff and stop as an exec http-mode
// bundle's workers. Another kind drives it with Do.
type Node struct{ h *httpInstance }

// StartNode starts the processes in s's bundle directory ("started like exec http mode",
// spec/bundles.md §5-6), with the isolation every bundle process gets (a uid of s.UIDs,
// the private directory, the bounded output, the reaper), and returns once they are
// ready, or fails like an exec enable does (exit status and last stderr lines, socket
// never accepting, health status).
func StartNode(ctx context.Context, s *kind.Spec, cfg NodeConfig) (*Node, error) {
	if len(cfg.Command) == 0 {
		return nil, fmt.Errorf("bundle %s names no node command", s.SHA)
	}
	ec := configOf(s, bundles.ExecConfig{
		Command: cfg.Command, Mode: bundles.ModeHTTP, Workers: max(cfg.Workers, 1), Concurrency: cfg.Concurrency,
		Timeout: cfg.Timeout, StartTimeout: cfg.StartTimeout, Env: maps.Clone(cfg.Env), Health: cfg.Health,
	})
	inst, err := start(ctx, s, ec, cfg.Prepare)
	if err != nil {
		return nil, err
	}
	h := inst.(*httpInstance)
	// A worker reports its first start a moment before it marks itself ready.
	if h.pick(ctx) == nil {
		h.Stop(context.Background())
		return nil, ctx.Err()
	}
	return &Node{h: h}, nil
}

// Ready reports whether a process is running and passed its readiness check.
func (n *Node) Ready() bool { return n.h.Health() == kind.HealthOK }

// Health is ok while a process is ready, unavailable while all are restarting.
func (n *Node) Health() kind.Health { return n.h.Health() }

// Socket is the path of the unix socket the first process serves (its FUNCATRON_LISTEN).
func (n *Node) Socket() string { return n.h.workers[0].sock }

// Do sends req (its method, URI, headers and body as the caller built them; Host is
// defaultHost when unset) to the ready process with the fewest calls in flight and reads
// the response into resp, within the node's timeout or ctx's deadline when sooner. As for
// an exec bundle's request, it waits for a process while none is ready (one restarting)
// and fails with ErrNotRunning when none became ready in time; a caller that must answer
// at once checks Ready first. A request is never retried; on a timeout
// (fasthttp.ErrTimeout) the connection is closed.
func (n *Node) Do(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response) error {
	if len(req.Header.Host()) == 0 {
		req.Header.SetHost(defaultHost)
	}
	_, err := n.h.do(ctx, req, resp)
	return err
}

// Stop stops the processes (SIGTERM, SIGKILL after the grace period) and removes their
// HOME and sockets.
func (n *Node) Stop(ctx context.Context) error { return n.h.Stop(ctx) }
