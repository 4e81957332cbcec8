// This file counts a queue's consumers, which is how the Tron learns that no runner
// serves a route (spec/frontend.md "No runner, no wait").

package amqpbus

import (
	"context"
	"errors"

	amqp "github.com/rabbitmq/amqp091-go"
)

// QueueConsumers answers each queue's consumer count, from a passive queue.declare (which
// needs no permission and changes nothing). A queue that does not exist is absent from
// the answer. The broker drops a consumer as soon as its connection closes, and a vanished
// host's connection within the AMQP heartbeat timeout, so a count of 0 means nobody takes
// the queue's messages now.
func (c *Conn) QueueConsumers(ctx context.Context, names []string) (map[string]int, error) {
	out := make(map[string]int, len(names))
	var ch *amqp.Channel
	defer func() {
		if ch != nil {
			ch.Close()
		}
	}()
	for _, name := range names {
		if ch == nil || ch.IsClosed() {
			var err error
			if ch, _, err = c.channel(ctx); err != nil {
				return out, err
			}
		}
		q, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
		var ae *amqp.Error
		switch {
		case err == nil:
			out[name] = q.Consumers
		case errors.As(err, &ae) && ae.Code == amqp.NotFound:
			// the channel is closed by the refusal; the next name opens another
		default:
			return out, err
		}
	}
	return out, nil
}

// QueueConsumers is Conn.QueueConsumers on the bus's connection.
func (b *Bus) QueueConsumers(ctx context.Context, names []string) (map[string]int, error) {
	return b.conn.QueueConsumers(ctx, names)
}
