// Bus: the Grav-like bus API of internal/bus over a Conn.
package amqpbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/protocol"
)

// DefaultBusPrefetch is the prefetch of a Bus inbox: messages are still handled one at a
// time, in order; prefetch only saves round trips.
const DefaultBusPrefetch = 16

// BusOptions configures a Bus.
type BusOptions struct {
	// Inbox is the queue the bus consumes and puts in every message's `from`: a
	// RunnerInbox, or the TronQueue. Required.
	Inbox QueueSpec
	// Version goes into every message's `version`.
	Version string
	// Logger: default slog.Default().
	Logger *slog.Logger
	// Prefetch of the inbox; default DefaultBusPrefetch.
	Prefetch int
	// Signer signs every message Send publishes (spec/protocol.md §7); nil: unsigned.
	Signer Signer
	// Verifier checks every inbox message before its body is decoded; nil: none is checked.
	// A refused message is acked and dropped (never requeued, never dead-lettered: a forger
	// must not fill the dead letters), logged rate-limited and passed to OnRefused.
	Verifier Verifier
	// OnRefused counts refused messages (metrics by reason).
	OnRefused func(*protocol.RefusedError)
	// QueueType is the type of the route queues DeclareRouteQueue declares (the Tron's
	// --queue-type); "" is classic.
	QueueType protocol.QueueType
	// MaxMessageBytes: a larger body is dead-lettered and reported to OnUndecodable without
	// being decoded (spec/protocol.md §7); default protocol.DefaultMaxMessageBytes.
	MaxMessageBytes int
}

// Bus implements bus.Bus over RabbitMQ. It consumes its inbox sequentially (control
// messages are seen in the order sent) from Run, and publishes with confirms.
type Bus struct {
	conn     *Conn
	inbox    QueueSpec
	version  string
	prefetch int
	maxBytes int
	qtype    protocol.QueueType
	log      *slog.Logger
	handlers bus.Handlers
	receipts bus.Receipts
	unknown  onceSet
	signer   Signer
	verifier Verifier
	refused  func(*protocol.RefusedError)
	refusals rateLog

	life   context.Context // cancelled by Close
	kill   context.CancelFunc
	mu     sync.Mutex
	closed bool
	runs   sync.WaitGroup
}

var _ bus.Bus = (*Bus)(nil)

// NewBus declares the inbox (so messages sent to it from now on are kept) and returns a
// Bus that does not consume yet: register the handlers (OnType, OnUndecodable), then call
// Run. Consuming from NewBus on would hand messages already waiting in a durable inbox
// (the Tron's, after a Tron restart) to a bus without handlers, which would drop them.
func NewBus(ctx context.Context, conn *Conn, opts BusOptions) (*Bus, error) {
	if opts.Inbox.Name == "" {
		return nil, errors.New("creating a bus: no inbox queue")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = DefaultBusPrefetch
	}
	if err := conn.declareNow(ctx, []Declaration{opts.Inbox}); err != nil {
		return nil, fmt.Errorf("creating a bus: %w", err)
	}
	life, kill := context.WithCancel(context.Background())
	return &Bus{
		conn:     conn,
		inbox:    opts.Inbox,
		version:  opts.Version,
		prefetch: opts.Prefetch,
		maxBytes: opts.MaxMessageBytes,
		qtype:    opts.QueueType,
		log:      opts.Logger.With("component", "amqpbus", "inbox", opts.Inbox.Name),
		signer:   opts.Signer,
		verifier: opts.Verifier,
		refused:  opts.OnRefused,
		life:     life,
		kill:     kill,
	}, nil
}

// Run consumes the inbox until ctx ends or Close is called (then it returns nil), across
// reconnects. It returns an error only if the broker refuses the inbox for good (see
// Conn.Consume) or the Conn was closed (ErrClosed).
func (b *Bus) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.runs.Add(1)
	b.mu.Unlock()
	defer b.runs.Done()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(b.life, cancel)()
	spec := ConsumeSpec{Queue: b.inbox, Prefetch: b.prefetch, Sequential: true}
	return b.conn.Consume(ctx, spec, b.handle)
}

// Close stops consuming and waits for Run to return. It does not close the Conn, which
// other consumers (a runner's route queues) may share: its owner closes it after.
func (b *Bus) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.kill()
	b.runs.Wait()
	return nil
}

// Inbox is the queue this bus consumes.
func (b *Bus) Inbox() string { return b.inbox.Name }

// Connected tells whether the Conn currently reaches the broker.
func (b *Bus) Connected() bool { return b.conn.Connected() }

// OnType registers fn for received messages of one action.
func (b *Bus) OnType(action string, fn bus.Handler) { b.handlers.On(action, fn) }

// OnUndecodable registers fn for bodies that do not decode (they are dead-lettered).
func (b *Bus) OnUndecodable(fn func(err error)) { b.handlers.OnUndecodable(fn) }

// DeclareRouteQueue declares the route queue name (RouteQueue, of BusOptions.QueueType) and
// keeps it declared across reconnects.
func (b *Bus) DeclareRouteQueue(ctx context.Context, name string) error {
	return b.conn.Declare(ctx, RouteQueue(name, b.qtype))
}

// Publish sends a JSON event to a topic exchange, transient, and waits for the confirm.
// An event nobody is bound to is dropped by the broker, which is normal for events. The
// exchange must exist (DeclareBase): publishing to a missing one is a channel error, on
// the channel of publishes to exchanges, never one of Send's or the answers' (publisherFor).
func (b *Bus) Publish(ctx context.Context, exchange, routingKey string, body []byte) error {
	return b.conn.Publish(ctx, Publishing{
		Exchange: exchange, Key: routingKey, ContentType: protocol.ContentTypeJSON, Body: body,
	})
}

// Send stamps m (protocol.Stamp with this inbox and version), encodes it once per codec,
// publishes it to every destination at once (mandatory, persistent where asked) and waits
// for all the broker's confirms. The receipt is opened before publishing, so a reply that
// arrives at once is not missed; close it when done.
//
// A destination whose queue does not exist fails with ErrUnroutable. With several
// destinations Send returns the receipt when at least one of them got the message, and
// then also an error (errors.Join) naming those that did not: the caller keeps waiting on
// the receipt for the replies of the others. With none delivered, the receipt is nil.
func (b *Bus) Send(ctx context.Context, m protocol.Message, to ...bus.Destination) (*bus.Receipt, error) {
	if len(to) == 0 {
		return nil, errors.New("sending: no destination")
	}
	protocol.Stamp(m, b.inbox.Name, b.version)
	h := m.Head()
	bodies, err := encodeFor(m, to)
	if err != nil {
		return nil, err
	}
	r := b.receipts.Open(h.MsgID)
	pend := make([]*pending, len(to))
	errs := make([]error, len(to))
	for i, d := range to {
		c := codecOrJSON(d.Codec)
		var hdrs amqp.Table
		if hdrs, errs[i] = signTable(b.signer, d, h, bodies[c]); errs[i] != nil {
			continue
		}
		pend[i], errs[i] = b.conn.pub.start(ctx, Publishing{
			Key: d.Queue, ContentType: string(c), Body: bodies[c], Persistent: d.Persistent,
			ReplyTo: b.inbox.Name, MessageID: h.MsgID, Mandatory: true, Headers: hdrs,
		})
	}
	sent := 0
	for i, d := range to {
		if errs[i] == nil && pend[i] != nil {
			errs[i] = pend[i].wait(ctx)
		}
		if errs[i] != nil {
			errs[i] = &bus.SendError{Queue: d.Queue, Err: fmt.Errorf("sending %s to queue %q: %w", h.Action, d.Queue, errs[i])}
		} else {
			sent++
		}
	}
	if sent == 0 {
		r.Close()
		return nil, errors.Join(errs...)
	}
	return r, errors.Join(errs...)
}

// encodeFor encodes m once for each distinct codec of the destinations.
func encodeFor(m protocol.Message, to []bus.Destination) (map[protocol.Codec][]byte, error) {
	bodies := make(map[protocol.Codec][]byte, 2)
	for _, d := range to {
		c := codecOrJSON(d.Codec)
		if _, done := bodies[c]; done {
			continue
		}
		body, err := protocol.Encode(c, m)
		if err != nil {
			return nil, fmt.Errorf("encoding %s as %s: %w", m.Head().Action, c, err)
		}
		bodies[c] = body
	}
	return bodies, nil
}

// codecOrJSON: protocol.Encode writes JSON for an unset codec; say so in the content type.
func codecOrJSON(c protocol.Codec) protocol.Codec {
	if c == "" {
		return protocol.JSON
	}
	return c
}

// handle settles each inbox delivery once, from the outcome of receive.
func (b *Bus) handle(ctx context.Context, d *Delivery) {
	if err := d.Settle(b.receive(ctx, d)); err != nil {
		b.log.Warn("settling an inbox message", "err", err)
	}
}

// receive verifies and decodes a delivery, hands it to its receipt and its handlers, and
// says how to settle it.
func (b *Bus) receive(ctx context.Context, d *Delivery) Outcome {
	// The size first: it is the cheapest check, and spares the signature's HMAC over a
	// body that would be refused anyway.
	if err := protocol.CheckSize(d.Body, b.maxBytes); err != nil {
		return b.undecodable(d, err)
	}
	var vd protocol.Verified
	if b.verifier != nil {
		var err error
		if vd, err = b.verifier.Verify(d.Queue, routingKeyOf(d), headerReader(d.Headers), d.Body); err != nil {
			return b.refuse(d, err)
		}
	}
	m, err := protocol.Decode(d.ContentType, d.Body)
	if err != nil {
		return b.undecodable(d, err)
	}
	if b.verifier != nil {
		if err := b.verifier.Matches(vd, m.Head()); err != nil {
			return b.refuse(d, err)
		}
	}
	c, _ := protocol.CodecOf(d.ContentType, d.Body) // it decoded: the content type is known
	msg := bus.Wrap(m, c)
	msg.SignedBy = vd.Role
	b.receipts.Deliver(msg)
	o := b.dispatch(ctx, msg)
	if b.verifier != nil {
		b.verifier.Processed(vd)
	}
	return o
}

// refuse drops a message that failed verification: acked (a forged message must not come
// back, nor fill the dead letters), counted, logged rate-limited.
func (b *Bus) refuse(d *Delivery, err error) Outcome {
	re := protocol.Refusal(err)
	if re == nil {
		re = &protocol.RefusedError{Reason: protocol.RefusedBadSignature, Msg: err.Error()}
	}
	b.refusals.warn(b.log, re, "reply_to", d.ReplyTo, "size", len(d.Body))
	if b.refused != nil {
		b.refused(re)
	}
	return Ack
}

// undecodable: an unknown action is forward compatibility (logged once per sender and
// action, dropped); anything else is dead-lettered and reported (spec/protocol.md §1).
func (b *Bus) undecodable(d *Delivery, err error) Outcome {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Code == protocol.CodeUnknownAction {
		sender := senderOf(d, pe)
		if b.unknown.first(sender + "\x00" + pe.Action) {
			b.log.Warn("dropping messages of an unknown action (logged once per sender and action)",
				"action", pe.Action, "sender", sender)
		}
		return Ack
	}
	b.log.Warn("dead-lettering an undecodable message", "err", err,
		"content_type", d.ContentType, "size", len(d.Body), "reply_to", d.ReplyTo)
	b.handlers.Undecodable(err)
	return DeadLetter
}

// dispatch runs the handlers; a handler that panics does not take the daemon down: the
// message is dead-lettered (kept for inspection) and the panic logged with its stack.
func (b *Bus) dispatch(ctx context.Context, msg bus.Message) (o Outcome) {
	defer func() {
		if p := recover(); p != nil {
			b.log.Error("bus handler panicked; message dead-lettered", "action", msg.Type,
				"msg_id", msg.UUID, "panic", p, "stack", string(debug.Stack()))
			o = DeadLetter
		}
	}()
	if !b.handlers.Dispatch(ctx, msg) && msg.ParentID == "" {
		b.log.Debug("no handler for message", "action", msg.Type, "msg_id", msg.UUID)
	}
	return Ack
}

// senderOf names who sent a message for the unknown-action log: its `from`, else the
// AMQP reply-to, else "unknown".
func senderOf(d *Delivery, pe *protocol.Error) string {
	switch {
	case pe.From != "":
		return pe.From
	case d.ReplyTo != "":
		return d.ReplyTo
	}
	return "unknown"
}

// onceSet remembers keys seen, up to onceSetMax (then it starts over: a key may be logged
// again, memory stays bounded whatever senders do).
type onceSet struct {
	mu   sync.Mutex
	seen map[string]struct{}
}

const onceSetMax = 1024

// first reports whether key is new.
func (s *onceSet) first(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[key]; ok {
		return false
	}
	if s.seen == nil || len(s.seen) >= onceSetMax {
		s.seen = make(map[string]struct{})
	}
	s.seen[key] = struct{}{}
	return true
}
