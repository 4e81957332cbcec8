// Conn: one AMQP connection kept alive across broker restarts, with its declarations.
package amqpbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Defaults of Options.
const (
	DefaultName            = "funcatron"
	DefaultMinBackoff      = 100 * time.Millisecond
	DefaultMaxBackoff      = 5 * time.Second
	DefaultHeartbeat       = 10 * time.Second
	DefaultDialTimeout     = 5 * time.Second
	DefaultPublishChannels = 4
)

// closeTimeout bounds the connection.close handshake in Close: a broker that does not
// answer does not hold a shutting-down daemon.
const closeTimeout = 2 * time.Second

// Options configures a Conn. The zero value is usable: every field has a default.
type Options struct {
	// Logger receives the connection's logs, to which it adds component=amqpbus: give it
	// a logger without a component of its own (one component per record). Default:
	// slog.Default().
	Logger *slog.Logger
	// Name is advertised to the broker as connection_name, shown by rabbitmqctl and the
	// management UI. Default: "funcatron".
	Name string
	// MinBackoff is the first wait before reconnecting. Default: 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the wait between reconnection attempts. Default: 5s.
	MaxBackoff time.Duration
	// Heartbeat is the AMQP heartbeat interval; a silent broker is noticed after about two
	// of them. Default: 10s.
	Heartbeat time.Duration
	// DialTimeout bounds one TCP connect plus handshake attempt. Default: 5s.
	DialTimeout time.Duration
	// PublishChannels is how many confirm-mode channels the publishers share (see
	// publish.go). Default: 4.
	PublishChannels int
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Logger = o.Logger.With("component", "amqpbus")
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.PublishChannels <= 0 {
		o.PublishChannels = DefaultPublishChannels
	}
	return o
}

// Conn keeps one AMQP connection to RabbitMQ. When the broker or the network goes away it
// reconnects by itself (exponential backoff with jitter, capped at MaxBackoff), re-runs
// every declaration made through Declare, and lets every Consume loop re-subscribe; the
// caller does nothing. A Conn is safe for concurrent use.
type Conn struct {
	brokers []address // shuffled once by Dial; the supervisor moves through them
	at      int       // index in brokers of the one to dial next; the dialing goroutine's only
	opts    Options
	log     *slog.Logger
	pub     *publisher // to queues (the default exchange): answers, control messages
	xpub    *publisher // to named exchanges (events, logs, configuration): see publisherFor

	mu    sync.Mutex
	cur   *session      // nil while disconnected
	ready chan struct{} // closed when cur becomes non-nil; replaced when it is lost
	decls []Declaration // what to re-declare after a reconnect, in declaration order

	closing   chan struct{} // closed by Close
	closeOnce sync.Once
	done      chan struct{} // closed when the supervisor has exited
}

// session is one live AMQP connection; gen counts connections since Dial (1 is the first).
type session struct {
	conn    *amqp.Connection
	gen     uint64
	broker  string // its broker's name (address.name)
	closed  <-chan *amqp.Error
	lost    chan struct{} // closed by the supervisor once it has noticed closed
	blocked atomic.Bool
}

// address is one broker of the list Dial was given.
type address struct {
	url  string
	name string // host:port/vhost, for logs (never the password)
}

// Dial connects to urls, one AMQP URL or several separated by commas (a comma in a password
// is percent-encoded, %2C: SplitURLs), and returns once connected. Several URLs are the
// nodes of one RabbitMQ cluster (spec/protocol.md §9): Dial shuffles them once, so that a
// fleet spreads over the nodes, connects to the first that answers, and from then on moves
// to the next one whenever a connection attempt fails or the connection is lost (a lost
// connection makes its node suspect: the next attempt goes to another node). The order is
// kept across failovers, so the fleet stays spread.
//
// If no broker can be reached, Dial keeps trying (each attempt on the next of the list),
// with backoff, until ctx ends (then it returns the last error): a daemon
// bounds its start with ctx, or passes a context without deadline to wait for the broker
// as long as it takes. Refused credentials or vhost and a malformed URL fail at once
// (configuration errors do not heal by waiting). After Dial returns, reconnection is
// automatic until Close; ctx only bounds the first connection.
func Dial(ctx context.Context, urls string, opts Options) (*Conn, error) {
	brokers, err := parseBrokers(urls)
	if err != nil {
		return nil, err
	}
	rand.Shuffle(len(brokers), func(i, j int) { brokers[i], brokers[j] = brokers[j], brokers[i] })
	opts = opts.withDefaults()
	c := &Conn{
		brokers: brokers,
		opts:    opts,
		log:     opts.Logger,
		ready:   make(chan struct{}),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	c.pub = newPublisher(c, opts.PublishChannels)
	c.xpub = newPublisher(c, exchangeChannels)
	s, err := c.connectFirst(ctx)
	if err != nil {
		return nil, err
	}
	c.setSession(s)
	go c.supervise(s)
	return c, nil
}

// parseBrokers parses every URL of a comma-separated list.
func parseBrokers(urls string) ([]address, error) {
	list := SplitURLs(urls)
	if len(list) == 0 {
		return nil, errors.New("no RabbitMQ URL given")
	}
	out := make([]address, 0, len(list))
	for _, u := range list {
		uri, err := parseURI(u)
		if err != nil {
			return nil, err
		}
		out = append(out, address{url: u, name: fmt.Sprintf("%s:%d%s", uri.Host, uri.Port, uri.Vhost)})
	}
	return out, nil
}

// SplitURLs splits a comma-separated list of broker URLs, dropping empty items and the
// spaces around each (`--rabbit-url a,b` and `--rabbit-url a --rabbit-url b` are the same).
func SplitURLs(urls string) []string {
	var out []string
	for _, u := range strings.Split(urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// Broker is the host:port/vhost of the broker the Conn is connected to; "" while
// disconnected.
func (c *Conn) Broker() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil {
		return c.cur.broker
	}
	return ""
}

// Connected tells whether the Conn currently holds a live connection.
func (c *Conn) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur != nil && !c.cur.conn.IsClosed()
}

// Close closes the connection and stops reconnecting. Consume loops return ErrClosed,
// publishes fail with ErrClosed. Safe to call more than once.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { close(c.closing) })
	<-c.done
	return nil
}

func (c *Conn) connectFirst(ctx context.Context) (*session, error) {
	b := c.newBackoff()
	for {
		name := c.brokers[c.at].name
		s, err := c.connect(1)
		if err == nil {
			return s, nil
		}
		if authFailure(err) {
			return nil, fmt.Errorf("connecting to RabbitMQ at %s: %w", name, err)
		}
		c.log.Warn("connecting to RabbitMQ failed; retrying", "broker", name, "err", err)
		c.failover()
		if !b.wait(ctx, nil) {
			return nil, fmt.Errorf("connecting to RabbitMQ at %s: %w (last error: %v)", name, ctx.Err(), err)
		}
	}
}

// supervise owns the connection from Dial to Close: it waits for the current one to die,
// then reconnects. It is the only goroutine that replaces c.cur.
func (c *Conn) supervise(s *session) {
	defer close(c.done)
	for {
		c.log.Info("connected to RabbitMQ", "broker", s.broker, "generation", s.gen)
		select {
		case <-c.closing:
			c.clearSession()
			if err := s.conn.CloseDeadline(time.Now().Add(closeTimeout)); err != nil {
				c.log.Debug("closing the RabbitMQ connection", "err", err)
			}
			return
		case err := <-s.closed:
			c.clearSession()
			c.log.Warn("lost the RabbitMQ connection; reconnecting", "broker", s.broker, "err", err)
		}
		c.failover()
		if s = c.reconnect(s.gen + 1); s == nil {
			return
		}
		c.setSession(s)
	}
}

// reconnect dials until it succeeds (the new session) or Close is called (nil).
func (c *Conn) reconnect(gen uint64) *session {
	b := c.newBackoff()
	for attempt := 1; ; attempt++ {
		if !b.wait(context.Background(), c.closing) {
			return nil
		}
		name := c.brokers[c.at].name
		s, err := c.connect(gen)
		if err == nil {
			return s
		}
		c.failover()
		level := slog.LevelDebug
		if attempt%10 == 1 {
			level = slog.LevelWarn // the first failure, then every tenth: the outage stays visible without flooding
		}
		c.log.Log(context.Background(), level, "reconnecting to RabbitMQ failed", "broker", name, "attempt", attempt, "err", err)
	}
}

// failover makes the next broker of the list the one to dial (with a single broker, the
// same one again). Only the goroutine that dials calls it (connectFirst, then supervise).
func (c *Conn) failover() { c.at = (c.at + 1) % len(c.brokers) }

// connect opens one connection to the current broker and re-runs the remembered
// declarations on it.
func (c *Conn) connect(gen uint64) (*session, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(c.opts.Name)
	b := c.brokers[c.at]
	ac, err := amqp.DialConfig(b.url, amqp.Config{
		Heartbeat:  c.opts.Heartbeat,
		Properties: props,
		Dial:       amqp.DefaultDial(c.opts.DialTimeout),
	})
	if err != nil {
		return nil, err
	}
	s := &session{conn: ac, gen: gen, broker: b.name, closed: ac.NotifyClose(make(chan *amqp.Error, 1)), lost: make(chan struct{})}
	go s.watchBlocked(ac.NotifyBlocked(make(chan amqp.Blocking, 1)), c.log)
	if err := c.redeclare(s); err != nil {
		ac.Close()
		return nil, err
	}
	return s, nil
}

// watchBlocked tracks connection.blocked; it exits when the connection closes (the
// library closes the notification channel then).
func (s *session) watchBlocked(ch <-chan amqp.Blocking, log *slog.Logger) {
	for b := range ch {
		s.blocked.Store(b.Active)
		log.Warn("RabbitMQ flow control", "blocked", b.Active, "reason", b.Reason)
	}
}

func (c *Conn) setSession(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur = s
	close(c.ready)
}

func (c *Conn) clearSession() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil {
		close(c.cur.lost)
		c.cur = nil
		c.ready = make(chan struct{})
	}
}

// session returns the live connection, waiting for one while ctx allows. A connection
// that has died but that the supervisor has not replaced yet is waited out too.
func (c *Conn) session(ctx context.Context) (*session, error) {
	for {
		select {
		case <-c.closing:
			return nil, ErrClosed
		default:
		}
		c.mu.Lock()
		s, wait := c.cur, c.ready
		c.mu.Unlock()
		if s != nil {
			if !s.conn.IsClosed() {
				return s, nil
			}
			wait = s.lost
		}
		select {
		case <-wait:
		case <-c.closing:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the RabbitMQ connection: %w", ctx.Err())
		}
	}
}

// channel opens a channel on the live connection, waiting for one while ctx allows.
func (c *Conn) channel(ctx context.Context) (*amqp.Channel, *session, error) {
	for {
		s, err := c.session(ctx)
		if err != nil {
			return nil, nil, err
		}
		ch, err := s.conn.Channel()
		if err == nil {
			return ch, s, nil
		}
		if !s.conn.IsClosed() {
			return nil, nil, fmt.Errorf("opening a channel: %w", err)
		}
		// the connection died between session and Channel: wait for the next one
	}
}

func (c *Conn) newBackoff() *backoff {
	return &backoff{min: c.opts.MinBackoff, max: c.opts.MaxBackoff}
}
