// The gilmour Kind and its instances.

package gilmour

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/runner/exec"
	"github.com/funcatron/funcatron/runner/kind"
)

// DefaultHealthInterval is how often the node is pinged (the seed's 10 s).
const DefaultHealthInterval = 10 * time.Second

// Kind starts gilmour bundles. Its zero value is ready to use.
type Kind struct {
	// HealthInterval is the period of the node's health check and of the Redis check;
	// zero means DefaultHealthInterval. Tests shorten it.
	HealthInterval time.Duration
}

var _ kind.Kind = Kind{}

// instance is one started gilmour bundle.
type instance struct {
	cfg   *bundles.GilmourConfig
	spec  *kind.Spec
	log   *slog.Logger
	rdb   *redis.Client
	resp  *responses
	pub   *publisher
	ident string // this instance's name in gilmour.known_host.health
	every time.Duration

	node  *nodeSide // nil without a node
	proxy *proxyAPI // nil without a node

	busDown atomic.Bool // the last Redis command failed; cleared by the next good check
	cancel  context.CancelFunc
	loops   sync.WaitGroup
}

// Start connects to Redis (an unreachable one fails the enable), starts the node process
// and its proxy API, subscribes the node's topics, and registers the instance's health.
func (k Kind) Start(ctx context.Context, s *kind.Spec) (kind.Instance, error) {
	if s.Bundle == nil || s.Bundle.Gilmour == nil {
		return nil, fmt.Errorf("bundle %s has no gilmour section", s.SHA)
	}
	cfg := s.Bundle.Gilmour
	rdb, err := dialBus(ctx, cfg.Redis)
	if err != nil {
		return nil, err
	}
	in := &instance{cfg: cfg, spec: s, log: s.Log, rdb: rdb, ident: newIdent(), every: k.HealthInterval}
	if in.log == nil {
		in.log = slog.Default()
	}
	if in.every <= 0 {
		in.every = DefaultHealthInterval
	}
	// Waiters: the HTTP calls in flight plus as many from the node's proxy API, and room
	// for the steps of a parallel composition.
	in.resp = newResponses(rdb, 2*cfg.Concurrency+256)
	in.pub = &publisher{rdb: rdb, resp: in.resp}
	if err := in.start(ctx); err != nil {
		in.Stop(context.Background())
		return nil, err
	}
	return in, nil
}

// start starts what Start's instance runs beside its Redis connection.
func (in *instance) start(ctx context.Context) error {
	life, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	in.node = newNodeSide(in)
	if in.cfg.Node != nil {
		if err := in.node.startProcess(ctx); err != nil {
			return err
		}
	}
	if err := in.rdb.HSet(ctx, knownHostsKey, in.ident, "true").Err(); err != nil {
		return fmt.Errorf("registering the health ident in Redis: %v", err)
	}
	if err := in.node.apply(ctx, true); err != nil {
		return fmt.Errorf("subscribing the node's topics: %v", err)
	}
	in.loops.Add(1)
	go func() {
		defer in.loops.Done()
		in.healthLoop(life)
	}()
	return nil
}

// newIdent is a Gilmour health ident: <hostname>-pid-<pid>-uuid-<uuid>.
func newIdent() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-pid-%d-uuid-%s", host, os.Getpid(), uuid.NewString())
}

func (in *instance) Concurrency() int       { return in.cfg.Concurrency }
func (in *instance) Timeout() time.Duration { return routeTimeout(in.cfg) }

// Health is dirty once the node's socket failed its check, unavailable while Redis or the
// node does not answer, else ok.
func (in *instance) Health() kind.Health {
	switch {
	case in.node.dirty.Load():
		return kind.HealthDirty
	case in.busDown.Load() || (in.node.proc != nil && !(in.node.healthy.Load() && in.node.proc.Ready())):
		return kind.HealthUnavailable
	}
	return kind.HealthOK
}

// noteBus marks Redis down after a command failed for that reason.
func (in *instance) noteBus(err error) {
	var re *requestError
	if errors.As(err, &re) && re.busy {
		in.busDown.Store(true)
	}
}

// Stop unsubscribes, removes the health ident, waits for the node's calls in flight
// (bounded by ctx), then stops the node and closes the connections.
func (in *instance) Stop(ctx context.Context) error {
	if in.cancel != nil {
		in.cancel()
	}
	in.loops.Wait()
	if in.node != nil {
		in.node.close(ctx)
	}
	hctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := in.rdb.HDel(hctx, knownHostsKey, in.ident).Err(); err != nil {
		in.log.Warn("removing the gilmour health ident", "err", err)
	}
	if in.proxy != nil {
		in.proxy.close()
	}
	var err error
	if in.node != nil && in.node.proc != nil {
		err = in.node.proc.Stop(ctx)
	}
	in.resp.close()
	in.rdb.Close()
	return err
}

// nodeConfig is how exec starts the node: the proxy API listens in the bundle's private
// directory, and the node's env gets GILMOUR_PROXY and GILMOUR_NODE_ID.
func (in *instance) nodeConfig() exec.NodeConfig {
	n := in.cfg.Node
	// Timeout bounds the wait for a free connection: each call has its own deadline, and
	// subscriptions added at run time may have up to the longest.
	return exec.NodeConfig{Command: n.Command, Env: n.Env, Health: n.HealthCheck, StartTimeout: n.StartTimeout,
		Timeout: bundles.MaxGilmourTimeout, Concurrency: in.cfg.Concurrency,
		Prepare: func(dir string) ([]string, error) {
			p, err := startProxy(in, dir)
			if err != nil {
				return nil, err
			}
			in.proxy = p
			return []string{"GILMOUR_PROXY=" + p.sock, "GILMOUR_NODE_ID=" + p.id}, nil
		}}
}
