// Node: one warm http-mode process for another kind (the gilmour kind's node), supervised
// exactly like an exec worker.

package exec

import (
	"context"
	"errors"
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
	// Prepare, when set, is called with the bundle's private directory before the process
	// starts; only the runner and the bundle's processes can reach that directory, so a
	// socket the runner serves for the bundle goes there (mode 0666 is then private
	// enough). It returns more environment for the process (NAME=value).
	Prepare func(dir string) ([]string, error)
}

// Node is one process started by StartNode: the same clean environment, process group,
// readiness check, restart with backoff and stop as an exec http-mode worker.
type Node struct {
	h *httpInstance
	w *worker
}

// ErrNodeNotReady is Do's error while the process is not ready (starting or restarting).
var ErrNodeNotReady = errors.New("the node process is not ready")

// StartNode starts the process in s's bundle directory ("started like exec http mode",
// spec/bundles.md §5-6), with the isolation every bundle process gets (a uid of s.UIDs,
// the private directory, the bounded output, the reaper), and returns once it is ready,
// or fails like an exec enable does (exit status and last stderr lines, socket never
// accepting, health status).
func StartNode(ctx context.Context, s *kind.Spec, cfg NodeConfig) (*Node, error) {
	ec := configOf(s, bundles.ExecConfig{
		Command: cfg.Command, Mode: bundles.ModeHTTP, Workers: 1, Concurrency: cfg.Concurrency,
		Timeout: cfg.Timeout, StartTimeout: cfg.StartTimeout, Env: maps.Clone(cfg.Env), Health: cfg.Health,
	})
	inst, err := start(ctx, s, ec, cfg.Prepare)
	if err != nil {
		return nil, err
	}
	h := inst.(*httpInstance)
	// The worker reports its first start a moment before it marks itself ready.
	if h.pick(ctx) == nil {
		h.Stop(context.Background())
		return nil, ctx.Err()
	}
	return &Node{h: h, w: h.workers[0]}, nil
}

// Ready reports whether the process is running and passed its readiness check.
func (n *Node) Ready() bool { return n.w.ready.Load() }

// Socket is the path of the unix socket the process serves (its FUNCATRON_LISTEN).
func (n *Node) Socket() string { return n.w.sock }

// Do sends req to the process and reads its response until deadline, at once failing with
// ErrNodeNotReady while the process is not ready. A request is never retried; on a
// timeout the connection is closed (fasthttp.ErrTimeout).
func (n *Node) Do(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	if !n.Ready() {
		return ErrNodeNotReady
	}
	n.w.inflight.Add(1)
	defer n.w.inflight.Add(-1)
	req.Header.SetHost("node")
	return n.w.client.DoDeadline(req, resp, deadline)
}

// Stop stops the process (SIGTERM, SIGKILL after the grace period) and removes its HOME
// and socket.
func (n *Node) Stop(ctx context.Context) error { return n.h.Stop(ctx) }
