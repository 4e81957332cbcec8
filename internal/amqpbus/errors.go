// Errors of the transport, and which broker errors are worth retrying.
package amqpbus

import (
	"errors"

	"github.com/funcatron/funcatron/internal/bus"
	amqp "github.com/rabbitmq/amqp091-go"
)

var (
	// ErrClosed is returned by a Conn (and what uses it) after Close.
	ErrClosed = errors.New("amqpbus: connection closed")
	// ErrNacked means the broker refused the message (a nack): it was not enqueued.
	ErrNacked = errors.New("amqpbus: broker nacked the message")
	// ErrUnconfirmed means the channel or connection went away before the broker's
	// confirm arrived: the message may or may not have been enqueued. Retrying can
	// duplicate it (consumers are at-least-once anyway).
	ErrUnconfirmed = errors.New("amqpbus: connection lost before the broker confirmed the message")
	// ErrUnroutable means a mandatory message reached no queue (the queue does not exist);
	// the broker returned it and it was not enqueued anywhere. It is bus.ErrUnroutable, so
	// code written against bus.Bus tells it apart the same way on every implementation.
	ErrUnroutable = bus.ErrUnroutable
	// ErrBlocked means the broker blocks publishing on this connection (a resource alarm).
	ErrBlocked = errors.New("amqpbus: broker blocks publishing (resource alarm)")
)

// permanent tells whether a broker error will recur if the same operation is retried:
// a declaration with arguments that contradict the existing queue (406), or missing
// permissions (403). Everything else (connection loss, a locked exclusive queue whose old
// owner the broker has not noticed gone yet, a binding to an exchange not declared yet)
// is retried.
func permanent(err error) bool {
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		return false
	}
	return ae.Code == amqp.PreconditionFailed || ae.Code == amqp.AccessRefused
}

// authFailure tells whether a dial failed because the broker refused the credentials or
// the vhost: Dial gives up on those at once instead of retrying a configuration error.
func authFailure(err error) bool {
	if errors.Is(err, amqp.ErrCredentials) || errors.Is(err, amqp.ErrVhost) {
		return true
	}
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.AccessRefused
}
