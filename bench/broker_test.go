package main

import (
	"context"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
	amqp "github.com/rabbitmq/amqp091-go"
)

func TestParseCounters(t *testing.T) {
	got, err := parseCounters("BENCHCOUNTERS 12 11 10 9\nok\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := (brokerCounts{12, 11, 10, 9}); got != want {
		t.Errorf("parseCounters = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"ok\n", "BENCHCOUNTERS 1 2 3\n", "BENCHCOUNTERS 1 2 x 4\n"} {
		if _, err := parseCounters(bad); err == nil {
			t.Errorf("parseCounters(%q) gave no error", bad)
		}
	}
}

func TestNewBrokerUse(t *testing.T) {
	cpu := cpuUse{WallS: 2, Cores: map[string]float64{groupBroker: 0.5}}
	u := newBrokerUse(brokerCounts{Received: 200, Routed: 200, Delivered: 200, Acked: 100}, 100, cpu)
	if u.MessagesPerRequest != 4 || u.PublishedPerReq != 2 || u.DeliveredPerReq != 2 || u.AckedPerReq != 1 {
		t.Errorf("per request: %+v", u)
	}
	// 0.5 cores for 2 s = 1 s of CPU over 100 requests = 10 ms each.
	if u.CPUPerRequestUS != 10000 {
		t.Errorf("broker CPU per request = %v µs, want 10000", u.CPUPerRequestUS)
	}
}

// TestReadCountersCountsMessages publishes and consumes on a real node and checks that the
// counters the bench reads moved by exactly that many messages.
func TestReadCountersCountsMessages(t *testing.T) {
	node := testenv.StartRabbitMQ(t)
	nodes := []*servers.RabbitMQ{node}
	before, err := readCounters(nodes)
	if err != nil {
		t.Fatal(err)
	}
	_, ch := testenv.AMQPChannel(t, node.URL())
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	const n = 3
	for range n {
		c, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "", q.Name, false, false, amqp.Publishing{Body: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		if !c.Wait() {
			t.Fatal("publish not confirmed")
		}
	}
	for range n {
		d, ok, err := ch.Get(q.Name, false)
		if err != nil || !ok {
			t.Fatalf("get: ok %v, %v", ok, err)
		}
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
	}
	want := brokerCounts{Received: n, Routed: n, Delivered: n, Acked: n}
	var got brokerCounts
	// The channel counts an ack when it handles it, after the client sent it.
	testenv.WaitFor(t, 10*time.Second, "the counters to show the messages", func() bool {
		after, err := readCounters(nodes)
		got = after.minus(before)
		return err == nil && got == want
	})
}
