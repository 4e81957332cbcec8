// Publishing with publisher confirms over a small pool of shared confirm-mode channels.
package amqpbus

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Publishing is one message to publish.
type Publishing struct {
	// Exchange is where the message goes; "" is the default exchange, where Key names the
	// destination queue (spec/protocol.md §2).
	Exchange string
	Key      string
	// ContentType is protocol.ContentTypeJSON or protocol.ContentTypeEDN for bus messages.
	ContentType string
	Body        []byte
	// Persistent asks the broker to write the message to disk (delivery mode 2): with a
	// durable queue it survives a broker restart. Control messages to the Tron queue are
	// persistent, everything else transient (spec/protocol.md §4).
	Persistent bool
	// Expiration is the message's TTL in its queue (0: none), rounded up to whole
	// milliseconds. An expired message is dead-lettered by queues that have a dead-letter
	// exchange, never delivered late.
	Expiration    time.Duration
	ReplyTo       string
	CorrelationID string
	MessageID     string
	Headers       amqp.Table
	// Mandatory makes a message that reaches no queue an error (ErrUnroutable) instead of
	// being silently dropped by the broker: use it for point-to-point messages to queues
	// that may be gone (a frontend's or runner's inbox).
	Mandatory bool
}

// publishIDHeader carries a publisher-local id on mandatory messages, so a returned
// message can be matched with its publisher.
const publishIDHeader = "x-funcatron-publish-id"

// Publish sends p and returns once the broker confirmed it: nil means the broker took
// responsibility for the message (enqueued it; for persistent messages to durable
// queues, on disk). Errors: ErrNacked, ErrUnroutable (mandatory only), ErrUnconfirmed
// (the connection or channel died first: the message may or may not be enqueued),
// ErrBlocked, ErrClosed, or ctx's error — while disconnected, Publish waits for the
// reconnection as long as ctx allows. Publish never retries: the caller decides.
//
// Publish is safe for concurrent use; concurrent publishers share a few confirm-mode
// channels and each waits only for its own confirm.
func (c *Conn) Publish(ctx context.Context, p Publishing) error {
	pd, err := c.publisherFor(p.Exchange).start(ctx, p)
	if err == nil {
		err = pd.wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("publishing to %s: %w", target(p.Exchange, p.Key), err)
	}
	return nil
}

// exchangeChannels is how many confirm-mode channels the publishes to named exchanges
// share: one (their publishers are few and sequential: the log shipper, events, the
// configuration RPC).
const exchangeChannels = 1

// publisherFor is the pool a publish to exchange goes on. Publishing to an exchange that
// does not exist closes the channel with 404 NOT_FOUND, failing every publish in flight on
// it: a runner started on a fresh broker before any Tron ships its logs to a
// funcatron.logging only the Tron declares. Such publishes get channels of their own, so
// their channel errors never take the confirms of answers and control messages (to the
// default exchange, which always exists) with them; TestMissingExchangeSparesQueuePublishes
// counted 421 of 2000 answers unconfirmed (their requests requeued) when they shared.
func (c *Conn) publisherFor(exchange string) *publisher {
	if exchange == "" {
		return c.pub
	}
	return c.xpub
}

func target(exchange, key string) string {
	if exchange == "" {
		return fmt.Sprintf("queue %q", key)
	}
	return fmt.Sprintf("exchange %q key %q", exchange, key)
}

// publisher spreads publishes over a fixed number of slots, each holding one
// confirm-mode channel of the current connection (opened lazily, reopened after it or the
// connection died).
type publisher struct {
	c     *Conn
	slots []*pubSlot
	next  atomic.Uint64
	ids   atomic.Uint64
}

type pubSlot struct {
	cur  atomic.Pointer[pubChan] // fast path: no lock while the channel lives
	lock chan struct{}           // a mutex a waiter can give up on: held while reopening
}

// pubChan is one confirm-mode channel and the listener of its returns.
type pubChan struct {
	ch   *amqp.Channel
	gen  uint64
	rets *returns
}

func newPublisher(c *Conn, n int) *publisher {
	p := &publisher{c: c, slots: make([]*pubSlot, n)}
	for i := range p.slots {
		p.slots[i] = &pubSlot{lock: make(chan struct{}, 1)}
	}
	return p
}

// pending is a message sent and not yet confirmed.
type pending struct {
	dc *amqp.DeferredConfirmation
	pc *pubChan
	id uint64 // mandatory messages only
}

// start sends p on one of the channels and returns without waiting for the confirm.
func (p *publisher) start(ctx context.Context, pub Publishing) (*pending, error) {
	slot := p.slots[p.next.Add(1)%uint64(len(p.slots))]
	pc, err := slot.get(ctx, p.c)
	if err != nil {
		return nil, err
	}
	msg := amqp.Publishing{
		Headers:       pub.Headers,
		ContentType:   pub.ContentType,
		DeliveryMode:  amqp.Transient,
		CorrelationId: pub.CorrelationID,
		ReplyTo:       pub.ReplyTo,
		Expiration:    expiration(pub.Expiration),
		MessageId:     pub.MessageID,
		Timestamp:     time.Now(),
		Body:          pub.Body,
	}
	if pub.Persistent {
		msg.DeliveryMode = amqp.Persistent
	}
	var id uint64
	if pub.Mandatory {
		id = p.ids.Add(1)
		msg.Headers = make(amqp.Table, len(pub.Headers)+1)
		maps.Copy(msg.Headers, pub.Headers)
		msg.Headers[publishIDHeader] = int64(id)
		pc.rets.expect(id)
	}
	for {
		dc, err := pc.ch.PublishWithDeferredConfirmWithContext(ctx, pub.Exchange, pub.Key, pub.Mandatory, false, msg)
		if err == nil {
			return &pending{dc: dc, pc: pc, id: id}, nil
		}
		pc.rets.forget(id)
		if !pc.ch.IsClosed() {
			return nil, err
		}
		// The channel died before the message left: nothing was sent, so sending it on
		// the next channel (of this or the next connection) cannot duplicate it.
		if pc, err = slot.get(ctx, p.c); err != nil {
			return nil, err
		}
		if id != 0 {
			pc.rets.expect(id)
		}
	}
}

// wait waits for the broker's confirm (and, for a mandatory message, for its return).
func (pd *pending) wait(ctx context.Context) error {
	select {
	case <-pd.dc.Done():
	case <-ctx.Done():
		pd.pc.rets.forget(pd.id)
		return fmt.Errorf("waiting for the broker's confirm: %w", ctx.Err())
	}
	if !pd.dc.Acked() {
		pd.pc.rets.forget(pd.id)
		if pd.pc.ch.IsClosed() {
			if reason := pd.pc.rets.closeReason(ctx); reason != nil {
				return fmt.Errorf("%w: %w", ErrUnconfirmed, reason)
			}
			return ErrUnconfirmed
		}
		return ErrNacked
	}
	if pd.id == 0 {
		return nil
	}
	ret, err := pd.pc.rets.result(ctx, pd.id)
	if err != nil {
		return err
	}
	if ret != nil {
		return fmt.Errorf("%w: %d %s", ErrUnroutable, ret.ReplyCode, ret.ReplyText)
	}
	return nil
}

// get returns the slot's live channel, opening one on the current connection if needed.
func (sl *pubSlot) get(ctx context.Context, c *Conn) (*pubChan, error) {
	for {
		s, err := c.session(ctx)
		if err != nil {
			return nil, err
		}
		pc, err := sl.open(ctx, s)
		if err == nil || !s.conn.IsClosed() {
			return pc, err
		}
		// the connection died under us: wait for the next one
	}
}

func (sl *pubSlot) open(ctx context.Context, s *session) (*pubChan, error) {
	if s.blocked.Load() {
		return nil, ErrBlocked
	}
	if pc := sl.cur.Load(); pc != nil && pc.gen == s.gen && !pc.ch.IsClosed() {
		return pc, nil
	}
	select {
	case sl.lock <- struct{}{}:
		defer func() { <-sl.lock }()
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a publishing channel: %w", ctx.Err())
	}
	if pc := sl.cur.Load(); pc != nil && pc.gen == s.gen && !pc.ch.IsClosed() {
		return pc, nil // another publisher reopened it while we waited
	}
	pc, err := openPubChan(s)
	if err != nil {
		return nil, err
	}
	if old := sl.cur.Swap(pc); old != nil {
		old.ch.Close() // already closed unless only its connection was replaced
	}
	return pc, nil
}

func openPubChan(s *session) (*pubChan, error) {
	ch, err := s.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("opening a publishing channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, fmt.Errorf("putting a channel in confirm mode: %w", err)
	}
	return &pubChan{ch: ch, gen: s.gen, rets: listenReturns(ch)}, nil
}

// expiration renders a TTL as the AMQP expiration property: whole milliseconds, at least 1.
func expiration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return strconv.FormatInt(int64(ms), 10)
}
