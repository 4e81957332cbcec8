// Delivery: one received message, settled in exactly one place.
package amqpbus

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Outcome is how a delivery is settled.
type Outcome int

const (
	// Ack: done with it; the broker forgets it.
	Ack Outcome = iota
	// Requeue: give it back to the queue, to this or another consumer (Redelivered set).
	Requeue
	// DeadLetter: reject it without requeue; the queue's dead-letter exchange
	// (funcatron.dead) receives it with an x-death header.
	DeadLetter
)

func (o Outcome) String() string {
	switch o {
	case Ack:
		return "ack"
	case Requeue:
		return "requeue"
	case DeadLetter:
		return "dead-letter"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// ErrSettled is returned by Settle for a delivery that was already settled: settling
// twice would make the broker close the channel (unknown delivery tag).
var ErrSettled = errors.New("amqpbus: delivery already settled")

// Delivery is one message received by Consume.
type Delivery struct {
	Body          []byte
	ContentType   string
	Redelivered   bool
	ReplyTo       string
	CorrelationID string
	MessageID     string
	Headers       amqp.Table
	Exchange      string
	RoutingKey    string
	Queue         string // the queue it was consumed from

	raw     amqp.Delivery
	log     *slog.Logger
	settled atomic.Bool
}

func newDelivery(d amqp.Delivery, queue string, log *slog.Logger) *Delivery {
	return &Delivery{
		Body:          d.Body,
		ContentType:   d.ContentType,
		Redelivered:   d.Redelivered,
		ReplyTo:       d.ReplyTo,
		CorrelationID: d.CorrelationId,
		MessageID:     d.MessageId,
		Headers:       d.Headers,
		Exchange:      d.Exchange,
		RoutingKey:    d.RoutingKey,
		Queue:         queue,
		raw:           d,
		log:           log,
	}
}

// Settle acks, requeues or dead-letters the delivery; it is the only way a delivery is
// settled. It is safe to call from any goroutine. The first call wins: later calls return
// ErrSettled and do nothing.
//
// If the channel the delivery came on has died (the connection was lost), the broker has
// already put the message back in its queue and will deliver it again: settling is then
// impossible and needless, so Settle does nothing, logs at debug level and returns nil.
func (d *Delivery) Settle(o Outcome) error {
	if o < Ack || o > DeadLetter {
		return fmt.Errorf("settling a delivery of queue %q: unknown outcome %v", d.Queue, o)
	}
	if !d.settled.CompareAndSwap(false, true) {
		return ErrSettled
	}
	var err error
	switch o {
	case Ack:
		err = d.raw.Ack(false)
	case Requeue:
		err = d.raw.Reject(true)
	case DeadLetter:
		err = d.raw.Reject(false)
	}
	if errors.Is(err, amqp.ErrClosed) {
		d.log.Debug("delivery's channel is gone; the broker redelivers it", "queue", d.Queue, "outcome", o)
		return nil
	}
	if err != nil {
		return fmt.Errorf("settling a delivery of queue %q (%v): %w", d.Queue, o, err)
	}
	return nil
}

// Settled tells whether Settle was called.
func (d *Delivery) Settled() bool { return d.settled.Load() }
