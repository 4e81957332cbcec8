// This file is the Tron's life cycle: New loads the store and the state and binds the admin
// listener; Run connects to the bus and serves until its context ends.

package tron

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sync/errgroup"

	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/logging"
	"github.com/funcatron/funcatron/internal/options"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/rtconfig"
)

// Tron is the control plane: admin API, bundle store, membership, route tables.
type Tron struct {
	opts     *Options
	log      *slog.Logger
	store    *store
	signer   *signer
	keys     busKeys
	verifier *protocol.Verifier // kept across reconnects: it remembers processed msg-ids
	token    string
	codec    protocol.Codec
	ln       net.Listener
	srv      *fasthttp.Server
	table    []route
	uploads  chan struct{} // one per add_func body being received (--max-uploads)
	metrics  *metrics
	events   *bus.Replay[Event]
	logs     *bus.Replay[logging.Record] // logs.go
	tronHost protocol.HostPort
	baseURL  string // http://<advertise>
	bus      atomic.Pointer[busRef]
	ran      atomic.Bool
	streams  *eventStreams                     // sse.go
	config   atomic.Pointer[rtconfig.Endpoint] // config.go; nil while the bus is down
	// runCtx is Run's context, set before anything is served: the admin API's operations
	// run under it (never under fasthttp's RequestCtx, which is recycled after a handler).
	runCtx context.Context

	// ctl serializes the changes of the enabled set and the messages that announce them, so
	// every node sees the changes in order. Lock order: ctl, then mu.
	ctl sync.Mutex
	// mu guards the fields below; it is never held while sending.
	mu         sync.Mutex
	bundles    map[string]bundleMeta
	state      state
	nodes      map[string]*node
	routeStats map[string]*protocol.RouteStats
	runners    map[string]int  // route queue → its consumers, as last counted (served.go)
	warned     map[string]bool // sender + "\x00" + what: logged once
}

type busRef struct{ b bus.Bus }

// New checks the options, opens the data dir (store, state, secrets) and binds the admin
// listener, so Addr is known before Run. Run must be called to serve and to release the
// listener.
func New(opts *Options) (*Tron, error) {
	if opts == nil {
		opts = NewOptions()
	}
	o := *opts
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	t := &Tron{
		opts: &o, log: o.Logger.With("component", "tron"),
		nodes: map[string]*node{}, routeStats: map[string]*protocol.RouteStats{}, warned: map[string]bool{},
		events: bus.NewReplay[Event](o.EventBuffer), logs: newLogs(),
	}
	t.codec = o.Codec
	t.metrics = newMetrics(t)
	if o.Logs != nil {
		t.metrics.reg.MustRegister(o.Logs.Shipper.Metrics()...)
	}
	t.streams = newEventStreams(t.metrics.reg)
	if err := t.openData(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", o.Listen, err)
	}
	t.ln = lingerListener{ln}
	if err := t.setAdvertise(); err != nil {
		ln.Close()
		return nil, err
	}
	t.srv = t.newServer()
	return t, nil
}

// openData creates the data dir and loads secrets, the store and the state.
func (t *Tron) openData() error {
	dir := t.opts.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating data dir %s: %w", dir, err)
	}
	if err := removeTemps(dir); err != nil {
		return err
	}
	var err error
	if t.token, err = loadToken(t.opts, t.log); err != nil {
		return options.Invalid(err) // as the runner's key: a refused secret is a bad option
	}
	if t.signer, err = loadSigner(dir, t.opts.URLTTL); err != nil {
		return err
	}
	if err = t.loadBusKeys(); err != nil {
		return options.Invalid(err)
	}
	t.verifier = t.newVerifier()
	st, metas, err := openStore(filepath.Join(dir, "bundles"), metaLimit(t.opts.MaxManifestBytes), t.log)
	if err != nil {
		return err
	}
	t.store = st
	t.bundles = make(map[string]bundleMeta, len(metas))
	for _, m := range metas {
		t.bundles[m.SHA] = m
	}
	if t.state, err = loadState(dir); err != nil {
		return err
	}
	return t.dropMissingEnabled()
}

// dropMissingEnabled removes from the state enabled bundles whose file is gone (disk damage):
// they cannot be served, and saying so beats announcing a route nobody can download.
func (t *Tron) dropMissingEnabled() error {
	kept := t.state.Enabled[:0]
	for _, e := range t.state.Enabled {
		if _, ok := t.bundles[e.SHA]; ok {
			kept = append(kept, e)
			continue
		}
		t.log.Error("an enabled bundle is missing from the store; disabling it", "sha", e.SHA)
	}
	if len(kept) == len(t.state.Enabled) {
		return nil
	}
	t.state.Enabled = kept
	t.state.routesChanged()
	return saveState(t.opts.DataDir, t.state)
}

// setAdvertise computes tron-host and the base of download URLs.
func (t *Tron) setAdvertise() error {
	adv := t.opts.Advertise
	if adv == "" {
		host, _, _ := net.SplitHostPort(t.opts.Listen)
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			name, err := os.Hostname()
			if err != nil {
				return fmt.Errorf("finding the host name to advertise (set --advertise): %w", err)
			}
			host = name
		}
		_, port, _ := net.SplitHostPort(t.ln.Addr().String())
		adv = net.JoinHostPort(host, port)
	}
	host, port, err := options.SplitHostPort(adv)
	if err != nil {
		return fmt.Errorf("advertise address %q: %w", adv, err)
	}
	t.tronHost = protocol.HostPort{Host: host, Port: protocol.Port(port)}
	t.baseURL = "http://" + net.JoinHostPort(host, strconv.Itoa(port))
	return nil
}

// Addr is the admin API's address (the real port after ":0").
func (t *Tron) Addr() net.Addr { return t.ln.Addr() }

// TronHost is what runners are told in tron-host.
func (t *Tron) TronHost() protocol.HostPort { return t.tronHost }

// nodeID names this Tron in its log records and configuration answers: "tron@" and the
// address runners are told (two Trons on one broker advertise different ones).
func (t *Tron) nodeID() string {
	return "tron@" + net.JoinHostPort(t.tronHost.Host, strconv.Itoa(int(t.tronHost.Port)))
}

// Run connects to the bus, handles control messages and serves the admin API until ctx
// ends; then it shuts down and returns nil, or the first error that stopped it.
func (t *Tron) Run(ctx context.Context) error {
	if !t.ran.CompareAndSwap(false, true) {
		return errors.New("tron: Run called twice")
	}
	g, ctx := errgroup.WithContext(ctx)
	t.runCtx = ctx
	g.Go(func() error { return t.serveHTTP(ctx) })
	g.Go(func() error { return t.runBus(ctx) })
	g.Go(func() error { return t.sweep(ctx) })
	g.Go(func() error { return t.watchServed(ctx) })
	err := g.Wait()
	t.log.Info("tron stopped")
	return err
}

// serveHTTP serves the admin API until ctx ends, then shuts the server down.
func (t *Tron) serveHTTP(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- t.srv.Serve(t.ln) }()
	t.log.Info("admin API listening", "addr", t.ln.Addr().String(), "advertise", t.baseURL)
	select {
	case err := <-errc:
		return fmt.Errorf("serving the admin API: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.srv.ShutdownWithContext(sctx); err != nil {
		t.log.Warn("admin API shutdown", "err", err)
	}
	<-errc
	return nil
}

// runBus connects to the bus (unless one was given), registers the handlers, consumes the
// Tron queue until ctx ends, then closes what it opened.
func (t *Tron) runBus(ctx context.Context) error {
	bc, err := t.connect(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	t.handle(bc)
	t.bus.Store(&busRef{bc.Bus})
	t.log.Info("bus connected", "queue", bc.Inbox())
	if l := t.opts.Logs; l != nil {
		defer l.Shipper.Start(t.nodeID(), bc.Publish)()
	}
	if bc.conn != nil {
		cfgCtx, stopCfg := context.WithCancel(ctx)
		cfgDone := make(chan struct{})
		go func() { defer close(cfgDone); t.serveConfig(cfgCtx, bc.conn) }()
		logsDone := make(chan struct{})
		go func() { defer close(logsDone); t.serveLogs(cfgCtx, bc.conn) }()
		defer func() { stopCfg(); <-cfgDone; <-logsDone }()
	}
	if bc.run != nil {
		err = bc.run(ctx)
	} else {
		<-ctx.Done()
	}
	t.bus.Store(nil)
	if bc.close != nil {
		if cerr := bc.close(); cerr != nil {
			t.log.Warn("closing the bus", "err", cerr)
		}
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("consuming the Tron queue: %w", err)
	}
	return nil
}

// getBus returns the bus, or nil before it is connected.
func (t *Tron) getBus() bus.Bus {
	if r := t.bus.Load(); r != nil {
		return r.b
	}
	return nil
}

func (t *Tron) countBundles() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.bundles)
}

func (t *Tron) countEnabled() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.state.Enabled)
}

// warnOnce logs msg once per sender and subject, so a misbehaving node cannot flood the log.
func (t *Tron) warnOnce(sender, subject, msg string, args ...any) {
	key := sender + "\x00" + subject
	t.mu.Lock()
	seen := t.warned[key]
	if !seen {
		if len(t.warned) > 10000 { // bound the memory a stream of senders can take
			clear(t.warned)
		}
		t.warned[key] = true
	}
	t.mu.Unlock()
	if !seen {
		t.log.Warn(msg, append([]any{"sender", sender}, args...)...)
	}
}
