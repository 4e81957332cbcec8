package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/funcatron/funcatron/internal/protocol"
)

// ErrDown is returned by a Memory bus while its network is Down, like a broker outage.
var ErrDown = errors.New("bus: broker unreachable")

// Memory is an in-process stand-in for the broker, for unit tests of Tron and runner logic:
// named inboxes, each consumed by one Bus from Connect. Messages go through the real
// codecs on the way, so a test also sees what the wire would carry. A message to a queue
// nobody consumes is refused with ErrUnroutable, as the AMQP bus's mandatory publish is.
type Memory struct {
	mu          sync.Mutex
	inboxes     map[string]*memoryBus
	routeQueues []string
	events      []Event
	down        bool
}

// Event is a message published to an exchange (funcatron.events, funcatron.logging).
type Event struct {
	Exchange, Key string
	Body          []byte
}

// NewMemory returns an empty in-memory network.
func NewMemory() *Memory { return &Memory{inboxes: make(map[string]*memoryBus)} }

// Connect returns a Bus consuming inbox, stamping messages with version. Its messages
// arrive unsigned (SignedBy "").
func (n *Memory) Connect(inbox, version string) Bus { return n.ConnectAs(inbox, version, "") }

// ConnectAs is Connect for a node holding the key of role: its messages arrive with
// SignedBy = role, as the AMQP bus marks a message its Verifier verified with that key.
// Memory checks no signatures; tests of signing run against RabbitMQ.
func (n *Memory) ConnectAs(inbox, version, role string) Bus {
	b := &memoryBus{net: n, inbox: inbox, version: version, role: role, queue: make(chan delivery, 1024), done: make(chan struct{})}
	n.mu.Lock()
	n.inboxes[inbox] = b
	n.mu.Unlock()
	go b.loop()
	return b
}

// SetDown makes every Send and Publish fail with ErrDown (true) or work again (false).
func (n *Memory) SetDown(down bool) {
	n.mu.Lock()
	n.down = down
	n.mu.Unlock()
}

// RouteQueues lists the route queues declared so far, in order.
func (n *Memory) RouteQueues() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.routeQueues)
}

// Events lists what was published to exchanges so far, in order.
func (n *Memory) Events() []Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.events)
}

// Inject delivers a raw body to inbox as if a sender had published it (for tests of
// malformed input). It reports whether anybody consumes inbox.
func (n *Memory) Inject(inbox, contentType string, body []byte) bool {
	n.mu.Lock()
	b := n.inboxes[inbox]
	n.mu.Unlock()
	if b == nil {
		return false
	}
	return b.enqueue(delivery{contentType: contentType, body: body})
}

func (n *Memory) isDown() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.down
}

type delivery struct {
	contentType string
	body        []byte
	signedBy    string
}

type memoryBus struct {
	net      *Memory
	inbox    string
	version  string
	role     string
	handlers Handlers
	receipts Receipts
	queue    chan delivery
	done     chan struct{}
	close    sync.Once
}

var _ Bus = (*memoryBus)(nil)

func (b *memoryBus) Inbox() string { return b.inbox }

func (b *memoryBus) Send(ctx context.Context, m protocol.Message, to ...Destination) (*Receipt, error) {
	if b.net.isDown() {
		return nil, ErrDown
	}
	protocol.Stamp(m, b.inbox, b.version)
	r := b.receipts.Open(m.Head().MsgID)
	var errs []error
	for _, d := range to {
		body, err := protocol.Encode(d.Codec, m)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("encoding %s for %s: %w", m.Head().Action, d.Queue, err)
		}
		b.net.mu.Lock()
		dst := b.net.inboxes[d.Queue]
		b.net.mu.Unlock()
		if dst == nil || !dst.enqueue(delivery{contentType: string(d.Codec), body: body, signedBy: b.role}) {
			errs = append(errs, &SendError{Queue: d.Queue, Err: fmt.Errorf("sending %s to queue %q: %w", m.Head().Action, d.Queue, ErrUnroutable)})
		}
	}
	if len(errs) == len(to) {
		r.Close()
		return nil, errors.Join(errs...)
	}
	return r, errors.Join(errs...)
}

func (b *memoryBus) enqueue(d delivery) bool {
	select {
	case <-b.done:
		return false
	case b.queue <- d:
		return true
	}
}

// loop handles deliveries one at a time, in order, like the AMQP bus's sequential inbox.
func (b *memoryBus) loop() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for {
		select {
		case <-b.done:
			return
		case d := <-b.queue:
			b.handle(ctx, d)
		}
	}
}

func (b *memoryBus) handle(ctx context.Context, d delivery) {
	m, err := protocol.Decode(d.contentType, d.body)
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) && pe.Code == protocol.CodeUnknownAction {
			return // dropped, as the AMQP bus drops it
		}
		b.handlers.Undecodable(err)
		return
	}
	c, _ := protocol.CodecOf(d.contentType, d.body)
	msg := Wrap(m, c)
	msg.SignedBy = d.signedBy
	b.receipts.Deliver(msg)
	b.handlers.Dispatch(ctx, msg)
}

func (b *memoryBus) OnType(action string, fn Handler) { b.handlers.On(action, fn) }

func (b *memoryBus) OnUndecodable(fn func(error)) { b.handlers.OnUndecodable(fn) }

func (b *memoryBus) Publish(ctx context.Context, exchange, key string, body []byte) error {
	if b.net.isDown() {
		return ErrDown
	}
	b.net.mu.Lock()
	b.net.events = append(b.net.events, Event{Exchange: exchange, Key: key, Body: slices.Clone(body)})
	b.net.mu.Unlock()
	return nil
}

func (b *memoryBus) DeclareRouteQueue(ctx context.Context, name string) error {
	if b.net.isDown() {
		return ErrDown
	}
	b.net.mu.Lock()
	defer b.net.mu.Unlock()
	if !slices.Contains(b.net.routeQueues, name) {
		b.net.routeQueues = append(b.net.routeQueues, name)
	}
	return nil
}

func (b *memoryBus) Connected() bool { return !b.net.isDown() }

func (b *memoryBus) Close() error {
	b.close.Do(func() {
		close(b.done)
		b.net.mu.Lock()
		if b.net.inboxes[b.inbox] == b {
			delete(b.net.inboxes, b.inbox)
		}
		b.net.mu.Unlock()
	})
	return nil
}
