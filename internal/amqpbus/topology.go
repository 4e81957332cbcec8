// Topology: every queue and exchange of spec/protocol.md §2 and §5, declared one way.
package amqpbus

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/protocol"
)

// Declaration is something Conn.Declare can declare: a QueueSpec or an ExchangeSpec.
// Declaring is idempotent; a declaration whose arguments contradict the broker's existing
// queue or exchange fails with PRECONDITION_FAILED (406), which is why every declarer
// takes its arguments from the constructors below and never writes them itself.
type Declaration interface {
	declare(ch *amqp.Channel) error
	key() string
}

// Binding routes messages of an exchange with routing key Key to a queue.
type Binding struct {
	Exchange string
	Key      string
}

// QueueSpec is a queue and the bindings it needs. Consume declares its queue (and binds
// it) on every subscription, so an exclusive inbox comes back after a reconnect.
type QueueSpec struct {
	Name       string
	Durable    bool
	AutoDelete bool
	Exclusive  bool
	Args       amqp.Table
	Bindings   []Binding
}

// ExchangeSpec is an exchange.
type ExchangeSpec struct {
	Name    string
	Kind    string // amqp.ExchangeTopic, amqp.ExchangeFanout, ...
	Durable bool
}

func (q QueueSpec) key() string    { return "queue " + q.Name }
func (e ExchangeSpec) key() string { return "exchange " + e.Name }

func (q QueueSpec) declare(ch *amqp.Channel) error {
	if _, err := ch.QueueDeclare(q.Name, q.Durable, q.AutoDelete, q.Exclusive, false, q.Args); err != nil {
		return fmt.Errorf("declaring queue %q: %w", q.Name, err)
	}
	for _, b := range q.Bindings {
		if err := ch.QueueBind(q.Name, b.Key, b.Exchange, false, nil); err != nil {
			return fmt.Errorf("binding queue %q to exchange %q with key %q: %w", q.Name, b.Exchange, b.Key, err)
		}
	}
	return nil
}

func (e ExchangeSpec) declare(ch *amqp.Channel) error {
	if err := ch.ExchangeDeclare(e.Name, e.Kind, e.Durable, false, false, false, nil); err != nil {
		return fmt.Errorf("declaring exchange %q: %w", e.Name, err)
	}
	return nil
}

// deadLettered is the argument that sends rejected and expired messages of a queue to
// funcatron.dead.
func deadLettered() amqp.Table {
	return amqp.Table{"x-dead-letter-exchange": protocol.DeadLetterExchange}
}

// DeliveryLimit is a quorum queue's x-delivery-limit: a message given back this many times
// (a runner that died with it, a requeue) is dead-lettered at the next return instead of
// being delivered again, so a poison message that kills every runner it reaches cannot
// loop. RabbitMQ 3.10 sets no default. It is part of the queue's arguments: every
// declarer takes it from here, and changing it makes existing queues PRECONDITION_FAILED.
const DeliveryLimit = 5

// typed gives args the arguments of queue type t (spec/protocol.md §9): for quorum the
// type and the delivery limit; classic queues take none (the broker's default type).
func typed(t protocol.QueueType, args amqp.Table) amqp.Table {
	if t != protocol.QueueQuorum {
		return args
	}
	args["x-queue-type"] = string(protocol.QueueQuorum)
	args["x-delivery-limit"] = int64(DeliveryLimit)
	return args
}

// TronQueue is the Tron's queue (default protocol.DefaultTronQueue) of type t (a quorum
// queue survives the loss of its node): durable, declared by
// the Tron only (spec/protocol.md §2 has runners declare it too, but a least-privilege runner
// user may not: §7 and docs/security.md). It also dead-letters to funcatron.dead,
// which spec/protocol.md §2 lists for route queues only: §1 requires that an undecodable
// message be dead-lettered, and a queue without the argument would drop it instead.
func TronQueue(name string, t protocol.QueueType) QueueSpec {
	return QueueSpec{Name: name, Durable: true, Args: typed(t, deadLettered())}
}

// RunnerInbox is a runner's inbox RU-<id> (id is a UUID the runner picks once per start):
// exclusive to the runner's connection and deleted with it, so always classic (a quorum
// queue cannot be exclusive): after a failover, Consume declares it again on the new node.
// It dead-letters to funcatron.dead for the reason given at TronQueue.
func RunnerInbox(id string) QueueSpec {
	return QueueSpec{Name: protocol.RunnerInboxPrefix + id, Exclusive: true, AutoDelete: true, Args: deadLettered()}
}

// TronLogsQueue is the Tron's queue TR-<id>.logs on funcatron.logging (GET /api/v1/logs):
// bound with "#" (every level), exclusive to the Tron's connection and deleted with it, at
// most maxLen records (the oldest are dropped when the Tron falls behind). id is a UUID.
func TronLogsQueue(id string, maxLen int) QueueSpec {
	return QueueSpec{
		Name: "TR-" + id + ".logs", Exclusive: true, AutoDelete: true,
		Args:     amqp.Table{"x-max-length": int64(maxLen)},
		Bindings: []Binding{{Exchange: protocol.LoggingExchange, Key: "#"}},
	}
}

// RouteQueue is the queue of one route (name from protocol.RouteQueue) of type t, the
// Tron's --queue-type that enable carries: durable, expired and rejected requests go to
// funcatron.dead. Tron and runners both declare it from here, so the arguments match.
func RouteQueue(name string, t protocol.QueueType) QueueSpec {
	return QueueSpec{Name: name, Durable: true, Args: typed(t, deadLettered())}
}

// DeadLetterQueue is funcatron.dead of type t: durable, bound to the fanout exchange of the
// same name, and bounded to protocol.DeadLetterMaxLength messages (the oldest are dropped).
func DeadLetterQueue(t protocol.QueueType) QueueSpec {
	args := amqp.Table{"x-max-length": int64(protocol.DeadLetterMaxLength)}
	if t == protocol.QueueQuorum {
		args["x-queue-type"] = string(protocol.QueueQuorum) // no delivery limit: nothing consumes it but people
	}
	return QueueSpec{
		Name:     protocol.DeadLetterQueue,
		Durable:  true,
		Args:     args,
		Bindings: []Binding{{Exchange: protocol.DeadLetterExchange}},
	}
}

// DeadLetterExchange is the fanout exchange funcatron.dead.
func DeadLetterExchange() ExchangeSpec {
	return ExchangeSpec{Name: protocol.DeadLetterExchange, Kind: amqp.ExchangeFanout, Durable: true}
}

// EventsExchange is the topic exchange funcatron.events (lifecycle events).
func EventsExchange() ExchangeSpec {
	return ExchangeSpec{Name: protocol.EventsExchange, Kind: amqp.ExchangeTopic, Durable: true}
}

// LoggingExchange is the topic exchange funcatron.logging (routing key = log level).
func LoggingExchange() ExchangeSpec {
	return ExchangeSpec{Name: protocol.LoggingExchange, Kind: amqp.ExchangeTopic, Durable: true}
}

// ConfigurationExchange is the topic exchange funcatron.configuration (methods.get/set).
func ConfigurationExchange() ExchangeSpec {
	return ExchangeSpec{Name: protocol.ConfigurationExchange, Kind: amqp.ExchangeTopic, Durable: true}
}

// Base is the topology the Tron owns: the four exchanges, then the dead-letter queue of
// type t.
func Base(t protocol.QueueType) []Declaration {
	return []Declaration{
		DeadLetterExchange(), EventsExchange(), LoggingExchange(), ConfigurationExchange(),
		DeadLetterQueue(t),
	}
}

// DeclareBase declares Base(t) on c and keeps it declared across reconnects (the Tron calls
// it at start; the Tron's broker user is the one allowed to configure it).
func DeclareBase(ctx context.Context, c *Conn, t protocol.QueueType) error {
	return c.Declare(ctx, Base(t)...)
}

// Declare declares ds now (waiting for a connection while ctx allows) and remembers them,
// so they are declared again after every reconnect, before consumers re-subscribe. A
// later declaration of the same name replaces the remembered one; a declaration the
// broker refuses is not remembered (and what it would have replaced stays).
func (c *Conn) Declare(ctx context.Context, ds ...Declaration) error {
	undo := c.remember(ds)
	if err := c.declareNow(ctx, ds); err != nil {
		undo()
		return err
	}
	return nil
}

// declareNow declares ds on a channel of its own, without remembering them.
func (c *Conn) declareNow(ctx context.Context, ds []Declaration) error {
	ch, _, err := c.channel(ctx)
	if err != nil {
		return err
	}
	defer ch.Close()
	for _, d := range ds {
		if err := d.declare(ch); err != nil {
			return err
		}
	}
	return nil
}

// remember records ds before they are declared, so a reconnect racing with Declare
// declares them too (declaring twice is harmless). undo puts back what was there.
func (c *Conn) remember(ds []Declaration) (undo func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := make([]Declaration, len(ds)) // nil: the key was new
	for i, d := range ds {
		if j := c.indexOf(d.key()); j >= 0 {
			prev[i], c.decls[j] = c.decls[j], d
		} else {
			c.decls = append(c.decls, d)
		}
	}
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i := len(ds) - 1; i >= 0; i-- {
			j := c.indexOf(ds[i].key())
			switch {
			case j < 0:
			case prev[i] != nil:
				c.decls[j] = prev[i]
			default:
				c.decls = append(c.decls[:j], c.decls[j+1:]...)
			}
		}
	}
}

func (c *Conn) indexOf(key string) int {
	for i, d := range c.decls {
		if d.key() == key {
			return i
		}
	}
	return -1
}

// redeclare runs the remembered declarations on a new connection. One that the broker
// refuses (someone re-created the queue with other arguments, or deleted an exchange a
// binding needs) is logged and skipped: it must not keep the whole connection down. Only
// the connection failing makes redeclare fail.
func (c *Conn) redeclare(s *session) error {
	c.mu.Lock()
	ds := append([]Declaration(nil), c.decls...)
	c.mu.Unlock()
	var ch *amqp.Channel
	defer func() {
		if ch != nil {
			ch.Close()
		}
	}()
	for _, d := range ds {
		if ch == nil || ch.IsClosed() {
			var err error
			if ch, err = s.conn.Channel(); err != nil {
				return fmt.Errorf("opening a channel to re-declare: %w", err)
			}
		}
		if err := d.declare(ch); err != nil {
			if s.conn.IsClosed() {
				return err
			}
			c.log.Error("re-declaring after reconnect failed; skipped", "declaration", d.key(), "err", err)
		}
	}
	return nil
}
