// What every bundle kind offers the runner: start an instance, serve calls, stop.

package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
)

// call is one dispatched request: the decoded service message, the operation the bundle's
// router matched, and the path below the bundle's basePath.
type call struct {
	svc      *protocol.Service
	op       string
	path     string // uri minus basePath, always starting with "/"
	basePath string
}

// instance is one started bundle (one sha with one set of props) as a kind runs it.
//
// serve always fills out: a bundle that fails yields a 502 or 504 answer, never an error,
// so every request gets an answer. It may be called concurrently, at most concurrency()
// times at once (the route queue's prefetch bounds it). stop is called once, after the
// runner stopped sending calls and the calls in flight finished (or their time ran out).
type instance interface {
	serve(ctx context.Context, c *call, out *protocol.AnswerBody)
	concurrency() int
	timeout() time.Duration
	stop(ctx context.Context) error
}

// execConfig is the `x-funcatron.exec` section of a manifest with props already applied
// (spec/bundles.md §4), plus what the runner adds.
type execConfig struct {
	Command      []string
	Mode         string // "http" or "cgi"
	Workers      int
	Concurrency  int
	Timeout      time.Duration
	StartTimeout time.Duration
	Env          map[string]string
	Health       string // path answered 2xx when ready; "" = socket accepting is enough

	Dir   string // the unpacked bundle
	SHA   string
	Props []byte // the props as JSON
}

// Defaults of execConfig where the manifest leaves a field out (spec/bundles.md §4).
const (
	defaultWorkers      = 1
	defaultConcurrency  = 32
	defaultTimeout      = 30 * time.Second
	defaultStartTimeout = 10 * time.Second
)

func (c *execConfig) withDefaults() {
	if c.Mode == "" {
		c.Mode = "http"
	}
	if c.Workers <= 0 {
		c.Workers = defaultWorkers
	}
	if c.Concurrency <= 0 {
		c.Concurrency = defaultConcurrency
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = defaultStartTimeout
	}
}

// startExec starts an exec bundle in the mode its manifest names.
// ctx bounds the start.
func startExec(ctx context.Context, cfg *execConfig, env execEnv) (instance, error) {
	cfg.withDefaults()
	switch cfg.Mode {
	case "http":
		return startHTTP(ctx, cfg, env)
	case "cgi":
		return startCGI(cfg, env)
	}
	return nil, fmt.Errorf("exec mode %q: want http or cgi", cfg.Mode)
}
