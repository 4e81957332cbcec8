package testenv

import (
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/protocol"
)

// AMQPChannel dials url and opens a channel on it, for a test that talks to the broker
// directly (publishing as a peer would, consuming, declaring); the connection is closed at the
// test's end, or earlier by the test.
func AMQPChannel(t testing.TB, url string) (*amqp.Connection, *amqp.Channel) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return conn, ch
}

// Subscribe binds a fresh queue (server-named, exclusive, gone with the test's connection)
// to exchange with key and returns its deliveries, acked as they come: what a test reads to
// see what reaches an exchange (logs, events, dead letters).
func Subscribe(t testing.TB, url, exchange, key string) <-chan amqp.Delivery {
	t.Helper()
	_, ch := AMQPChannel(t, url)
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err == nil {
		err = ch.QueueBind(q.Name, key, exchange, false, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	d, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// VerifySigned checks, as a receiving bus does (protocol.Verifier), that d, a message a
// test consumed off the broker for queue, is signed by role with key and that the signed
// head is the message's own.
func VerifySigned(role string, key []byte, queue string, d amqp.Delivery) error {
	v := &protocol.Verifier{Keys: []protocol.RoleKey{{Role: role, Key: key}}}
	hdr := func(n string) string { s, _ := d.Headers[n].(string); return s }
	vd, err := v.Verify(queue, d.RoutingKey, hdr, d.Body)
	if err != nil {
		return err
	}
	m, err := protocol.Decode(d.ContentType, d.Body)
	if err != nil {
		return err
	}
	return v.Matches(vd, m.Head())
}
