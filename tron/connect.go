// This file connects the Tron to RabbitMQ through internal/amqpbus.

package tron

import (
	"context"
	"fmt"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/version"
)

// busConn is a connected bus: run consumes its inbox until ctx ends (nil for a bus that
// consumes by itself, as bus.Memory does), close releases it (nil for a bus given in
// Options, which its owner closes).
type busConn struct {
	bus.Bus
	conn  *amqpbus.Conn // nil for a bus given in Options
	run   func(ctx context.Context) error
	close func() error
}

// connect returns the bus to use: Options.Bus, or a new connection to RabbitMQ with the
// base topology (exchanges, dead letters) and the Tron queue declared. It blocks until the
// broker is reached or ctx ends (amqpbus.Dial retries with backoff); the admin API serves
// meanwhile, and /healthz says the bus is down.
func (t *Tron) connect(ctx context.Context) (*busConn, error) {
	if t.opts.Bus != nil {
		return &busConn{Bus: t.opts.Bus}, nil
	}
	conn, err := amqpbus.Dial(ctx, t.opts.RabbitURL, amqpbus.Options{Logger: t.opts.Logger, Name: "funcatron-tron"})
	if err != nil {
		return nil, fmt.Errorf("connecting to RabbitMQ: %w", err)
	}
	if err := amqpbus.DeclareBase(ctx, conn, t.opts.QueueType); err != nil {
		conn.Close()
		return nil, fmt.Errorf("declaring the exchanges and dead letters: %w", err)
	}
	b, err := amqpbus.NewBus(ctx, conn, amqpbus.BusOptions{
		Inbox: amqpbus.TronQueue(t.opts.TronQueue, t.opts.QueueType), QueueType: t.opts.QueueType,
		Version: version.Version, Logger: t.opts.Logger,
		Signer: t.keys, Verifier: t.verifier,
		OnRefused:       func(re *protocol.RefusedError) { t.metrics.refused.WithLabelValues(re.Reason).Inc() },
		MaxMessageBytes: t.opts.MaxMessageBytes,
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("declaring the Tron queue %s: %w", t.opts.TronQueue, err)
	}
	return &busConn{
		Bus:  b,
		conn: conn,
		run:  b.Run,
		close: func() error {
			b.Close()
			return conn.Close()
		},
	}, nil
}
