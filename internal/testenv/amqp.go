package testenv

import (
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
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
