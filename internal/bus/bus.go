// Package bus is the Go-side message bus API of Funcatron, after Grav (seeds/grav.txt,
// spec/protocol.md §6): components send and receive Messages, wait on Receipts for replies,
// and register handlers by type; they never touch AMQP channels. internal/amqpbus implements
// it over RabbitMQ; Memory (memory.go) implements it in-process for unit tests of logic.
//
// This package does no network I/O and must not import an AMQP client.
package bus

import (
	"context"
	"errors"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
)

// Message is one message on the bus. UUID, ParentID, ReplyTo, Type and Timestamp are views of
// the protocol fields msg-id, ack-id, from, action and at; Data is the decoded message.
type Message struct {
	UUID      string
	ParentID  string // the msg-id this message answers (an ack's ack-id), or ""
	ReplyTo   string // the sender's inbox queue
	Type      string // the action
	Timestamp time.Time
	Codec     protocol.Codec // the codec it arrived in: replies to its sender use the same
	Data      protocol.Message
	// SignedBy is the role of the key that verified it (protocol.RoleRunner,
	// protocol.RoleFrontend), or "" for a message taken unsigned (spec/protocol.md §7).
	SignedBy string
}

// Wrap gives the bus view of a decoded protocol message.
func Wrap(m protocol.Message, c protocol.Codec) Message {
	h := m.Head()
	msg := Message{UUID: h.MsgID, ReplyTo: h.From, Type: h.Action, Codec: c, Data: m}
	if h.At != 0 {
		msg.Timestamp = time.UnixMilli(h.At)
	}
	if a, ok := m.(*protocol.Ack); ok {
		msg.ParentID = a.AckID
	}
	return msg
}

// Destination is a queue to send to and the codec its reader speaks. Persistent marks
// control messages to the Tron queue (spec/protocol.md §4); everything else is transient.
type Destination struct {
	Queue      string
	Codec      protocol.Codec
	Persistent bool
	// Role names the key that signs messages to it (protocol.RoleRunner for a runner's
	// inbox, protocol.RoleFrontend for a frontend's); "" lets the sender's signer decide.
	Role string
}

// Handler handles one received message. Handlers of one bus run one at a time, in arrival
// order, so control messages are seen in the order they were sent.
type Handler func(ctx context.Context, m Message)

// Bus is what the Tron and the runner use for control messages.
type Bus interface {
	// Inbox is the queue this bus consumes; Send puts it in every message's `from`.
	Inbox() string
	// Send stamps m (action, msg-id unless set, at, version, from), encodes it for each
	// destination and publishes it, waiting for the broker's confirm. The receipt collects
	// replies: messages arriving on this bus whose ParentID is m's msg-id. One message sent
	// to several destinations shares one msg-id, so one receipt sees every reply.
	// When some destinations fail (ErrUnroutable: the queue is gone), Send returns the
	// receipt together with an error naming them; when all fail, no receipt.
	Send(ctx context.Context, m protocol.Message, to ...Destination) (*Receipt, error)
	// OnType registers fn for received messages of one type (action). Replies go to their
	// receipts and to the handlers of their type as well.
	OnType(action string, fn Handler)
	// OnUndecodable registers fn for bodies that do not decode (they are dead-lettered and
	// counted; fn is for metrics and logs).
	OnUndecodable(fn func(err error))
	// Publish sends a JSON event to a topic exchange (funcatron.events, funcatron.logging).
	Publish(ctx context.Context, exchange, routingKey string, body []byte) error
	// DeclareRouteQueue declares a route queue with the arguments of spec/protocol.md §2.
	DeclareRouteQueue(ctx context.Context, name string) error
	// Connected tells whether the bus currently reaches its broker.
	Connected() bool
	// Close stops consuming the inbox. A connection shared with other consumers stays open.
	Close() error
}

var (
	// ErrTimeout is returned by Receipt.WaitUntil when no reply satisfied it in time.
	ErrTimeout = errors.New("bus: timed out waiting for a reply")
	// ErrUnroutable means a message reached no queue: its destination does not exist (a
	// node's inbox that went away with the node). It was not delivered anywhere.
	ErrUnroutable = errors.New("bus: message unroutable")
)

// SendError is one destination's failure in the error of Send (an errors.Join of them).
type SendError struct {
	Queue string
	Err   error
}

func (e *SendError) Error() string { return e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// FailedQueues lists the destinations of a Send error that failed with target (e.g.
// ErrUnroutable: their queue is gone).
func FailedQueues(err, target error) []string {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else if err != nil {
		errs = []error{err}
	}
	var out []string
	for _, e := range errs {
		var se *SendError
		if errors.As(e, &se) && errors.Is(se.Err, target) {
			out = append(out, se.Queue)
		}
	}
	return out
}
