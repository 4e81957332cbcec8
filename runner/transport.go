// The runner's RabbitMQ transport: internal/amqpbus for route queues and the control bus.

package runner

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/version"
)

// transport is a connected broker: the route-queue side, the control bus, the loop that
// consumes the bus's inbox, and how to close it all.
type transport struct {
	conn   *amqpbus.Conn // nil for a transport of tests without a broker
	broker broker
	bus    bus.Bus
	runBus func(ctx context.Context) error
	close  func()
}

// busLog is the logger given to internal/amqpbus, which adds its own component: the
// runner's context without the runner's component (one component per record).
func (r *Runner) busLog() *slog.Logger {
	return r.opts.Logger.With("inbox", r.inbox)
}

// connect dials RabbitMQ and creates the control bus on the runner's inbox.
//
// The runner declares neither the Tron queue nor the exchanges: they are the Tron's
// (spec/protocol.md §7 "Least privilege on the broker"). A runner's broker user may not
// configure them, so it cannot delete them either, nor read the Tron queue, which creating
// it (it dead-letters) would need. A runner that starts before the Tron ever did loses its
// first awake (the broker drops it, there being no queue); its heartbeats reach the Tron
// once it runs, and the Tron answers them with resend-awake.
func (r *Runner) connect(ctx context.Context) (*transport, error) {
	conn, err := amqpbus.Dial(ctx, r.opts.RabbitURL, amqpbus.Options{
		Logger: r.busLog(), Name: "funcatron-runner " + r.inbox,
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to RabbitMQ at %s: %w", amqpbus.RedactURL(r.opts.RabbitURL), err)
	}
	b, err := amqpbus.NewBus(ctx, conn, amqpbus.BusOptions{
		Inbox: amqpbus.RunnerInbox(r.id), Version: version.Version, Logger: r.busLog(),
		Signer: amqpbus.KeySigner(r.key), Verifier: r.verify,
		OnRefused:       func(re *protocol.RefusedError) { r.metrics.refused.WithLabelValues(re.Reason).Inc() },
		MaxMessageBytes: r.opts.MaxMessageBytes,
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &transport{
		conn:   conn,
		broker: &amqpBroker{conn: conn, specs: map[string]amqpbus.QueueSpec{}},
		bus:    b,
		runBus: b.Run,
		close:  func() { b.Close(); conn.Close() },
	}, nil
}

// newVerifier checks the runner inbox: only the runner key, never unsigned.
func newVerifier(key []byte, skew time.Duration) *protocol.Verifier {
	return &protocol.Verifier{Keys: []protocol.RoleKey{{Role: protocol.RoleRunner, Key: key}}, MaxSkew: skew}
}

// amqpBroker is the broker of route queues over an amqpbus.Conn.
type amqpBroker struct {
	conn  *amqpbus.Conn
	mu    sync.Mutex
	specs map[string]amqpbus.QueueSpec // each route queue as declare last declared it
}

// declare declares queue with the queue type of the enable (spec/protocol.md §9: the
// Tron's arguments exactly) and remembers it for consume, which declares it again on
// every subscription (after a failover, on the new node).
func (a *amqpBroker) declare(ctx context.Context, queue string, qt protocol.QueueType) error {
	spec := amqpbus.RouteQueue(queue, qt)
	if err := a.conn.Declare(ctx, spec); err != nil {
		return err
	}
	a.mu.Lock()
	a.specs[queue] = spec
	a.mu.Unlock()
	return nil
}

// spec is queue as declare last declared it (classic if it never did).
func (a *amqpBroker) spec(queue string) amqpbus.QueueSpec {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s, ok := a.specs[queue]; ok {
		return s
	}
	return amqpbus.RouteQueue(queue, protocol.QueueClassic)
}

func (a *amqpBroker) consume(ctx context.Context, queue string, prefetch int, handle func(delivery)) error {
	spec := amqpbus.ConsumeSpec{Queue: a.spec(queue), Prefetch: prefetch}
	return a.conn.Consume(ctx, spec, func(_ context.Context, d *amqpbus.Delivery) {
		handle(amqpDelivery{d})
	})
}

func (a *amqpBroker) publish(ctx context.Context, queue string, body []byte, records int) error {
	p := amqpbus.Publishing{Key: queue, ContentType: protocol.ContentTypeJSON, Body: body}
	if records > 0 {
		p.Headers = amqpbus.RecordsHeaders(records)
	}
	return a.conn.Publish(ctx, p)
}

// amqpDelivery adapts *amqpbus.Delivery to delivery.
type amqpDelivery struct{ d *amqpbus.Delivery }

func (a amqpDelivery) contentType() string            { return a.d.ContentType }
func (a amqpDelivery) body() []byte                   { return a.d.Body }
func (a amqpDelivery) recordCount() (int, error)      { return a.d.RecordCount() }
func (a amqpDelivery) settle(o amqpbus.Outcome) error { return a.d.Settle(o) }
