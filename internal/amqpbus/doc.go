// Package amqpbus is Funcatron's RabbitMQ transport (github.com/rabbitmq/amqp091-go): one
// self-healing connection (Conn), the queues and exchanges of spec/protocol.md §2 and §5
// declared one way (topology.go), publishing with publisher confirms (publish.go),
// consuming with manual acks and bounded concurrency (consume.go, delivery.go), and Bus,
// the implementation of internal/bus's Grav-like API that the Tron and the runner use
// for control messages (bus.go). Only this package touches AMQP channels.
//
// # Decisions
//
// Dial blocks until the first connection succeeds or its ctx ends; a daemon bounds its
// start with ctx (or waits for the broker indefinitely with a context without deadline).
// Refused credentials or vhost and a malformed URL fail at once. From then on the Conn
// reconnects by itself whenever the connection dies: exponential backoff from
// Options.MinBackoff (100ms) doubling to Options.MaxBackoff (5s), each wait drawn from
// [d/2, d] so that many nodes do not reconnect in lockstep, retrying forever until Close.
// After reconnecting it re-runs every Declare made through it, in order, before anything
// else uses the new connection; each Consume loop re-declares its own queue, re-applies
// its prefetch and re-subscribes. The library's own experimental recovery
// (amqp.Config.Recovery) is not used: it gives up after a fixed number of attempts, logs
// through a package-global logger, and would revive channels whose old deliveries we
// must treat as unsettleable.
//
// Several brokers (spec/protocol.md §9): Dial takes a comma-separated list of URLs, the
// nodes of one cluster, shuffled once so that a fleet spreads over them; a failed attempt or a
// lost connection moves the Conn to the next node (a lost connection makes its node suspect,
// so the first retry already goes elsewhere), with the same backoff. Queue types: the
// constructors of topology.go take a protocol.QueueType; quorum queues get x-queue-type and
// x-delivery-limit (DeliveryLimit), exclusive inboxes stay classic (a quorum queue cannot be
// exclusive) and are re-created by Consume on the node a Conn moves to. quorum_test.go
// measures what quorum queues of the broker do with expiration, dead-lettering, prefetch
// and persistence (docs/deploy.md quotes it).
//
// Publishing: every Publish waits for the broker's confirm (nil = the broker took the
// message). Publishers share a small pool of confirm-mode channels (Options.
// PublishChannels, default 4), picked round-robin; each publish takes a deferred confirm
// and waits for its own, so many goroutines publish concurrently without one channel per
// message and without serialising on each other's round trips. Measured with
// BenchmarkPublishConfirmed (1 KiB, broker on the same 2-vCPU shared machine): about
// 5-7k confirmed msgs/s for one publisher and 25-32k for 32 concurrent ones with 4
// channels (20-28k with 1 channel), against 1k and 3.4k when each publish opens its own
// confirm-mode channel (BenchmarkPublishChannelPerMessage). A channel or connection
// lost before the confirm is ErrUnconfirmed (the message may or may not be enqueued), a
// nack ErrNacked; Publish never retries. While disconnected, Publish waits for the
// reconnection as long as its ctx allows, so a publish never outlives its deadline; under
// a broker resource alarm (connection.blocked) it fails at once with ErrBlocked instead
// of blocking in a socket write. Publishing to an exchange that does not exist is a
// channel error in AMQP: it closes the channel it went on (the publishes waiting on it
// fail with ErrUnconfirmed and the reason) and the next publish opens a new one. So
// publishes to named exchanges (events, logs, configuration) have a channel of their own,
// apart from the pool that publishes to queues (answers, control messages): a missing
// exchange never costs an answer its confirm (publisherFor).
//
// Mandatory: Publishing.Mandatory turns "no queue got it" from a silent drop into
// ErrUnroutable. Bus.Send always uses it (a runner's or frontend's inbox that is gone is
// news the Tron wants); Bus.Publish of events does not (an event nobody listens to is
// normal). RabbitMQ sends basic.return before the basic.ack of the same message, so the
// publisher knows the outcome by the time its confirm arrives (see returns.go).
//
// Consuming: manual acks; Prefetch deliveries in flight, handled concurrently (each in its
// goroutine, at most Prefetch at once, bound kept across reconnects) or sequentially
// (ConsumeSpec.Sequential, for control inboxes). Each delivery is settled through one
// function, Delivery.Settle(Ack | Requeue | DeadLetter); settling twice is refused, and
// settling a delivery whose channel died is a logged no-op (the broker redelivers it).
//
// Topology: spec/protocol.md §2 lists the dead-letter exchange for route queues only.
// The Tron queue and runner inboxes get it too, because §1 requires that an undecodable
// message be dead-lettered, and without the argument a rejected message is dropped. The
// frontend never declares these queues (it publishes to /amq/queue/...), so no declarer
// disagrees.
//
// Signing (spec/protocol.md §7): BusOptions.Signer gives the four fc-* headers of each
// message Send publishes (computed per destination: the destination queue is signed), as
// AMQP string headers, which RabbitMQ's STOMP plugin hands to STOMP clients unchanged;
// BusOptions.Verifier checks every inbox delivery before its body is decoded (destination =
// the queue consumed from, and the default exchange's routing key when it says another
// queue: misdirected), the decoded body against the signed headers after, and records the
// msg-id as processed once the handlers ran (a redelivery never processed is no replay). A
// refused message is acked and dropped, never dead-lettered (a forger must not fill the
// dead letters), logged at most every 10 s per reason and passed to OnRefused (metrics).
// Bus.Message.SignedBy tells handlers which key verified a message. Keys and rules live in
// internal/protocol and the daemons; this package only calls the interfaces.
//
// Records (spec/protocol.md §8, records.go): Delivery.RecordCount reads a delivery's
// fc-framing and fc-records headers (0: the catalogue's form), RecordsHeaders gives them
// for a Publishing; the count goes out as a string, as a STOMP client sends it, and is
// read as a string or an integer.
//
// Bus: NewBus declares the inbox but consumes only from Run, so handlers can be
// registered first. Close stops consuming; the Conn belongs to the caller, who may share
// it with other consumers, and closes it after.
//
// # Goroutines and locks
//
// Conn's supervisor (Dial → Close) owns the connection; per connection, one goroutine
// follows connection.blocked until the connection closes; per publishing channel, one
// goroutine follows returns until the channel closes; Consume's handler goroutines are
// waited for before Consume returns; Bus.Run is the caller's. No code path holds two of
// Conn.mu, a publishing slot's lock and a returns registry's lock at once.
//
// This package must not be imported by internal/bus or internal/protocol.
package amqpbus
