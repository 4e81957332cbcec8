// The runner's RabbitMQ transport: internal/amqpbus for route queues and the control bus.

package runner

import (
	"context"
	"fmt"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/version"
)

// transport is a connected broker: the route-queue side, the control bus, the loop that
// consumes the bus's inbox, and how to close it all.
type transport struct {
	broker broker
	bus    bus.Bus
	runBus func(ctx context.Context) error
	close  func()
}

// connect dials RabbitMQ, declares the Tron queue (and the dead-letter topology, which is
// idempotent) and creates the control bus on the runner's inbox.
func (r *Runner) connect(ctx context.Context) (*transport, error) {
	conn, err := amqpbus.Dial(ctx, r.opts.RabbitURL, amqpbus.Options{
		Logger: r.log, Name: "funcatron-runner " + r.inbox,
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to RabbitMQ at %s: %w", redact(r.opts.RabbitURL), err)
	}
	decls := append(amqpbus.Base(), amqpbus.TronQueue(r.opts.TronQueue))
	if err := conn.Declare(ctx, decls...); err != nil {
		conn.Close()
		return nil, fmt.Errorf("declaring the Tron queue: %w", err)
	}
	b, err := amqpbus.NewBus(ctx, conn, amqpbus.BusOptions{
		Inbox: amqpbus.RunnerInbox(r.id), Version: version.Version, Logger: r.log,
		MaxMessageBytes: r.opts.MaxMessageBytes,
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &transport{
		broker: &amqpBroker{conn: conn},
		bus:    b,
		runBus: b.Run,
		close:  func() { b.Close(); conn.Close() },
	}, nil
}

// amqpBroker is the broker of route queues over an amqpbus.Conn.
type amqpBroker struct {
	conn *amqpbus.Conn
}

func (a *amqpBroker) declare(ctx context.Context, queue string) error {
	return a.conn.Declare(ctx, amqpbus.RouteQueue(queue))
}

func (a *amqpBroker) consume(ctx context.Context, queue string, prefetch int, handle func(delivery)) error {
	spec := amqpbus.ConsumeSpec{Queue: amqpbus.RouteQueue(queue), Prefetch: prefetch}
	return a.conn.Consume(ctx, spec, func(_ context.Context, d *amqpbus.Delivery) {
		handle(amqpDelivery{d})
	})
}

func (a *amqpBroker) publish(ctx context.Context, queue string, body []byte) error {
	return a.conn.Publish(ctx, amqpbus.Publishing{Key: queue, ContentType: protocol.ContentTypeJSON, Body: body})
}

// amqpDelivery adapts *amqpbus.Delivery to delivery.
type amqpDelivery struct{ d *amqpbus.Delivery }

func (a amqpDelivery) contentType() string            { return a.d.ContentType }
func (a amqpDelivery) body() []byte                   { return a.d.Body }
func (a amqpDelivery) settle(o amqpbus.Outcome) error { return a.d.Settle(o) }
