// Consuming: a subscription that survives reconnects, with bounded concurrent handlers.
package amqpbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ConsumeSpec says what Consume consumes and how.
type ConsumeSpec struct {
	// Queue is declared (and bound) before every subscription, so it exists again after a
	// broker restart, and an exclusive inbox is re-created on the new connection.
	Queue QueueSpec
	// Prefetch is the most unsettled deliveries the broker hands this consumer at once;
	// unless Sequential, it is also the most handlers running at once. Default: 1.
	Prefetch int
	// Sequential handles deliveries one at a time, in arrival order, whatever Prefetch
	// (which then only saves round trips). Control inboxes need it.
	Sequential bool
	// Tag is the consumer tag shown by the broker. Default: "funcatron." + queue name.
	Tag string
}

// maxPrefetch is the largest prefetch count AMQP can carry (a short).
const maxPrefetch = 65535

// Handler handles one delivery. It must settle it (Delivery.Settle) before returning: a
// delivery a handler leaves unsettled is dead-lettered, and that is logged as an error.
type Handler func(ctx context.Context, d *Delivery)

// Consume consumes spec.Queue with manual acknowledgements and calls h for each delivery
// until ctx ends (then it returns nil) or the Conn is closed (ErrClosed). Each handler
// runs in a goroutine of its own, at most spec.Prefetch at once, or in Consume's goroutine
// when spec.Sequential. Consume survives reconnects: after the connection comes back it
// re-declares the queue, re-applies the prefetch and re-subscribes. Handlers still
// running from before a reconnect keep running (their deliveries can no longer be
// settled: the broker redelivers them) and keep holding their concurrency slot.
//
// Consume returns an error only for what retrying cannot fix: the broker refusing the
// queue's declaration (arguments contradicting the existing queue, or no permission).
// When ctx ends, Consume stops the subscription, waits for the running handlers (so their
// settlements reach the broker) and then closes its channel, which gives prefetched but
// unhandled deliveries back to the queue.
func (c *Conn) Consume(ctx context.Context, spec ConsumeSpec, h Handler) error {
	if spec.Queue.Name == "" {
		return errors.New("consuming: no queue name")
	}
	if spec.Prefetch <= 0 {
		spec.Prefetch = 1
	}
	if spec.Prefetch > maxPrefetch {
		return fmt.Errorf("consuming queue %q: prefetch %d above AMQP's %d", spec.Queue.Name, spec.Prefetch, maxPrefetch)
	}
	if spec.Tag == "" {
		spec.Tag = "funcatron." + spec.Queue.Name
	}
	cs := &consumer{
		c:     c,
		spec:  spec,
		h:     h,
		log:   c.log.With("queue", spec.Queue.Name),
		slots: make(chan struct{}, spec.Prefetch),
	}
	defer cs.running.Wait()
	return cs.run(ctx)
}

type consumer struct {
	c       *Conn
	spec    ConsumeSpec
	h       Handler
	log     *slog.Logger
	slots   chan struct{}  // one per running handler, across subscriptions
	running sync.WaitGroup // handlers running in their own goroutine
}

// errSubscriptionEnded: the delivery stream closed (connection or channel lost, or the
// broker cancelled the consumer because the queue was deleted).
var errSubscriptionEnded = errors.New("subscription ended")

func (cs *consumer) run(ctx context.Context) error {
	b := cs.c.newBackoff()
	for {
		err := cs.subscribe(ctx, b)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrClosed):
			return ErrClosed
		case permanent(err):
			return fmt.Errorf("consuming queue %q: %w", cs.spec.Queue.Name, err)
		}
		cs.log.Info("re-subscribing", "err", err)
		if !b.wait(ctx, cs.c.closing) {
			if ctx.Err() != nil {
				return nil
			}
			return ErrClosed
		}
	}
}

// subscribe opens a channel, declares the queue, subscribes and serves deliveries until
// the subscription ends or ctx does.
func (cs *consumer) subscribe(ctx context.Context, b *backoff) error {
	ch, _, err := cs.c.channel(ctx)
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.Qos(cs.spec.Prefetch, 0, false); err != nil {
		return fmt.Errorf("setting prefetch %d: %w", cs.spec.Prefetch, err)
	}
	if err := cs.spec.Queue.declare(ch); err != nil {
		return err
	}
	deliveries, err := ch.Consume(cs.spec.Queue.Name, cs.spec.Tag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("subscribing to queue %q: %w", cs.spec.Queue.Name, err)
	}
	b.reset()
	cs.log.Debug("subscribed", "prefetch", cs.spec.Prefetch, "sequential", cs.spec.Sequential)
	return cs.serve(ctx, ch, deliveries)
}

func (cs *consumer) serve(ctx context.Context, ch *amqp.Channel, deliveries <-chan amqp.Delivery) error {
	for {
		select {
		case <-ctx.Done():
			if err := ch.Cancel(cs.spec.Tag, false); err != nil {
				cs.log.Debug("cancelling the subscription", "err", err)
			}
			cs.running.Wait() // settle in-flight deliveries before the channel closes
			return ctx.Err()
		case raw, ok := <-deliveries:
			if !ok {
				return errSubscriptionEnded
			}
			cs.dispatch(ctx, newDelivery(raw, cs.spec.Queue.Name, cs.log))
		}
	}
}

// dispatch runs the handler inline (Sequential) or in a goroutine once a slot is free.
func (cs *consumer) dispatch(ctx context.Context, d *Delivery) {
	if cs.spec.Sequential {
		cs.handle(ctx, d)
		return
	}
	select {
	case cs.slots <- struct{}{}:
	case <-ctx.Done():
		return // unsettled: the broker requeues it when the channel closes
	}
	cs.running.Add(1)
	go func() {
		defer func() { <-cs.slots; cs.running.Done() }()
		cs.handle(ctx, d)
	}()
}

func (cs *consumer) handle(ctx context.Context, d *Delivery) {
	defer func() {
		if d.Settled() {
			return
		}
		cs.log.Error("handler returned without settling its delivery; dead-lettering it")
		if err := d.Settle(DeadLetter); err != nil {
			cs.log.Error("dead-lettering an unsettled delivery", "err", err)
		}
	}()
	cs.h(ctx, d)
}
