// Node: an exec http-mode process group for kinds whose bundle serves what a bus brings
// (zbus, gilmour), started and supervised exactly like an exec bundle in http mode.

package exec

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/runner/kind"
	"github.com/valyala/fasthttp"
)

// Node is a bundle's warm HTTP processes (spec/bundles.md §4, http mode): clean
// environment, unix sockets, readiness, restarts with backoff, SIGTERM then SIGKILL on
// Stop. Another kind drives it with Do.
type Node struct{ h *httpInstance }

// StartNode starts cfg's processes (its Mode is ignored: always http) in s's bundle
// directory, with s's sha, props, log, grace and restart hook, and returns once every
// process is ready, like an exec enable.
func StartNode(ctx context.Context, s *kind.Spec, cfg *bundles.ExecConfig) (*Node, error) {
	if cfg == nil || len(cfg.Command) == 0 {
		return nil, fmt.Errorf("bundle %s names no node command", s.SHA)
	}
	c := &execConfig{ExecConfig: *cfg, Dir: s.Dir, SHA: s.SHA, Props: s.PropsJSON}
	c.Mode = bundles.ModeHTTP
	env := execEnv{log: s.Log, grace: s.Grace, onRestart: s.OnRestart}
	if env.log == nil {
		env.log = slog.Default()
	}
	h, err := startHTTP(ctx, c, env)
	if err != nil {
		return nil, err
	}
	return &Node{h: h}, nil
}

// Do sends req (its method, URI, headers and body as the caller built them; Host is
// "localhost" when unset) to a ready process and reads the response into resp, within the
// node's timeout or ctx's deadline when sooner. Errors: fasthttp.ErrTimeout (the process,
// or a free slot, did not come in time), ErrNotRunning (no process ready in time), or why
// the connection failed (the process crashed).
func (n *Node) Do(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response) error {
	if len(req.Header.Host()) == 0 {
		req.Header.SetHost("localhost")
	}
	_, err := n.h.do(ctx, req, resp)
	return err
}

// Health is ok while a process is ready, unavailable while all are restarting.
func (n *Node) Health() kind.Health { return n.h.Health() }

// Stop stops the processes (SIGTERM, SIGKILL after the grace period) and waits for them.
func (n *Node) Stop(ctx context.Context) error { return n.h.Stop(ctx) }
