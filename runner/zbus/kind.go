// The zbus Kind: starting an instance (Redis, the claim, the optional node, the loops)
// and stopping it.

package zbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/runner/exec"
	"github.com/funcatron/funcatron/runner/kind"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Kind starts zbus bundles. Its zero value has the defaults; tests shorten the times.
type Kind struct {
	// RetryInterval is the pause before a send to a remote twin is tried again (msgbusd:
	// 5 s).
	RetryInterval time.Duration
	// LeaseTTL is how long the msgbusd role outlives its holder's last renewal (renewed
	// every third of it). Default 6 s.
	LeaseTTL time.Duration
	// ScrubInterval is how often expired requests and due retries are looked for. Default 1 s.
	ScrubInterval time.Duration
	// MaxMessageBytes bounds a message taken from Redis or an endpoint. Default 4 MiB.
	MaxMessageBytes int
	// MaxAge is how old (or how far ahead) an endpoint message's now may be. Default 60 s.
	MaxAge time.Duration
}

var _ kind.Kind = Kind{}

// Defaults of Kind.
const (
	defaultRetryInterval = 5 * time.Second
	defaultLeaseTTL      = 6 * time.Second
	defaultScrub         = time.Second
	defaultMaxMessage    = 4 << 20
	defaultMaxAge        = 60 * time.Second
	// sendSlots bounds the HTTP sends to other twins in flight per instance.
	sendSlots = 16
	// sendTimeout bounds one HTTP send to another twin.
	sendTimeout = 5 * time.Second
)

func (k Kind) withDefaults() Kind {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&k.RetryInterval, defaultRetryInterval)
	def(&k.LeaseTTL, defaultLeaseTTL)
	def(&k.ScrubInterval, defaultScrub)
	def(&k.MaxAge, defaultMaxAge)
	if k.MaxMessageBytes <= 0 {
		k.MaxMessageBytes = defaultMaxMessage
	}
	return k
}

// instance is one enabled zbus bundle on this runner.
type instance struct {
	k       Kind
	cfg     *bundles.ZbusConfig
	twin    int64
	route   string // the deployment's identity in the claim: its route queue
	id      string // this instance's id in the lease
	log     *slog.Logger
	rdb     *redis.Client
	node    *exec.Node         // nil without a command
	served  map[string]string  // cmd -> node path
	sem     chan struct{}      // commands served at once
	sends   chan struct{}      // HTTP sends to other twins at once
	httpc   *http.Client       // to other twins
	life    context.Context    // ends on Stop
	cancel  context.CancelFunc // ends life
	wg      sync.WaitGroup     // every goroutine of the instance
	holder  atomic.Bool        // this instance holds the msgbusd role
	redisOK atomic.Bool        // the last Redis command of a loop worked
	refused atomic.Value       // string: why the claim was lost after Start
}

// Start connects to the bundle's Redis, claims it for this deployment (refused when
// another deployment serves it), starts the node if any, and starts the loops: the
// msgbusd role (taken when the lease is free) and the servers of serve.
func (k Kind) Start(ctx context.Context, s *kind.Spec) (kind.Instance, error) {
	if s.Bundle == nil || s.Bundle.Zbus == nil {
		return nil, fmt.Errorf("bundle %s has no zbus section", s.SHA)
	}
	in, err := k.newInstance(s)
	if err != nil {
		return nil, err
	}
	if err := in.connect(ctx); err != nil {
		in.rdb.Close()
		return nil, err
	}
	if in.cfg.Node != nil {
		if in.node, err = exec.StartNode(ctx, s, exec.NodeConfigOf(in.cfg.Node)); err != nil {
			in.rdb.Close()
			return nil, fmt.Errorf("zbus node: %w", err)
		}
	}
	in.run(in.roleLoop)
	in.startServers()
	return in, nil
}

func (k Kind) newInstance(s *kind.Spec) (*instance, error) {
	cfg := s.Bundle.Zbus
	k = k.withDefaults()
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	// Connections at once: the role's three takes and upkeep, the poppers, an HTTP call's
	// wait and a command's reply per slot, the sends, the endpoints.
	pool := 10 + min(cfg.Concurrency, maxPoppers) + 2*cfg.Concurrency + sendSlots
	rdb, err := newClient(cfg.Redis, pool)
	if err != nil {
		return nil, err
	}
	life, cancel := context.WithCancel(context.Background())
	in := &instance{
		k: k, cfg: cfg, twin: int64(cfg.Twin), route: s.Queue, id: uuid.NewString(),
		log: log.With("twin", cfg.Twin), rdb: rdb, served: map[string]string{},
		sem: make(chan struct{}, cfg.Concurrency), sends: make(chan struct{}, sendSlots),
		httpc: &http.Client{Timeout: sendTimeout, CheckRedirect: noRedirects},
		life:  life, cancel: cancel,
	}
	if in.route == "" {
		in.route = s.SHA
	}
	for _, e := range cfg.Serve {
		in.served[e.Cmd] = e.Path
	}
	in.redisOK.Store(true)
	return in, nil
}

// noRedirects keeps a twin's endpoint from sending our messages elsewhere.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// connect checks that Redis answers and takes the claim.
func (in *instance) connect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := in.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("zbus: Redis %s does not answer: %v", redactURL(in.cfg.Redis), err)
	}
	return in.claim(ctx)
}

// run starts f as a goroutine of the instance, with its life.
func (in *instance) run(f func(context.Context)) {
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		f(in.life)
	}()
}

// Concurrency is the zbus section's concurrency.
func (in *instance) Concurrency() int { return in.cfg.Concurrency }

// Timeout is the longest exp of the bundle's routes (an HTTP call waits that long for its
// replies), at least the node's timeout.
func (in *instance) Timeout() time.Duration {
	t := time.Second
	for _, rt := range in.cfg.Routes {
		t = max(t, time.Duration(rt.Exp)*time.Second)
	}
	if in.cfg.Node != nil {
		t = max(t, in.cfg.Node.Timeout)
	}
	return t
}

// Health is unavailable once another deployment took this Redis (it no longer takes the
// role), while Redis or the node fails; else ok.
func (in *instance) Health() kind.Health {
	if s, _ := in.refused.Load().(string); s != "" {
		return kind.HealthUnavailable
	}
	if !in.redisOK.Load() || in.node != nil && in.node.Health() != kind.HealthOK {
		return kind.HealthUnavailable
	}
	return kind.HealthOK
}

// Stop ends the loops (each notices within a pop timeout), gives the role up, and stops
// the node.
func (in *instance) Stop(ctx context.Context) error {
	in.cancel()
	in.wg.Wait()
	in.release()
	in.httpc.CloseIdleConnections()
	err := in.rdb.Close()
	if in.node != nil {
		err = errors.Join(err, in.node.Stop(ctx))
	}
	return err
}

// redisFailed notes a Redis error of a loop (for Health) and logs the first of a run.
func (in *instance) redisFailed(what string, err error) {
	if in.life.Err() != nil {
		return
	}
	if in.redisOK.Swap(false) {
		in.log.Warn("zbus: Redis failed; retrying", "during", what, "err", err)
	}
}

func (in *instance) redisWorks() {
	if !in.redisOK.Swap(true) {
		in.log.Info("zbus: Redis answers again")
	}
}
