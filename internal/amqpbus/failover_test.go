package amqpbus

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
)

func TestSplitURLs(t *testing.T) {
	got := SplitURLs(" amqp://a:5672/ ,,amqp://u:p%2Cw@b:5672/,")
	want := []string{"amqp://a:5672/", "amqp://u:p%2Cw@b:5672/"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("SplitURLs = %q, want %q", got, want)
	}
	if _, err := Dial(context.Background(), " , ", Options{}); err == nil {
		t.Error("Dial of an empty list succeeded")
	}
}

// TestFailoverToNextBroker gives one Conn two independent nodes (the package's broker and
// one of its own): killing the node it is connected to moves it to the other, where it
// re-declares its route queue, the Bus re-creates its exclusive inbox and the Tron queue,
// and the consumer and the Bus serve again, without anything done by the caller.
func TestFailoverToNextBroker(t *testing.T) {
	other := testenv.StartRabbitMQ(t)
	t.Cleanup(func() { _ = broker.Start() }) // leave the shared broker running for the next tests
	nodes := map[string]*servers.RabbitMQ{}
	for _, n := range []*servers.RabbitMQ{broker, other} {
		nodes[strings.TrimPrefix(strings.TrimSuffix(n.URL(), "/"), "amqp://guest:guest@")+"/"] = n
	}
	ctx := testCtx(t, 90*time.Second)
	c, err := Dial(ctx, broker.URL()+","+other.URL(), Options{Logger: testLogger(t), MaxBackoff: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	first := c.Broker()
	if nodes[first] == nil {
		t.Fatalf("connected to %q, not one of the two nodes %v", first, nodes)
	}

	q := declaredRouteQueue(t, c, protocol.QueueClassic)
	var consumed atomic.Int32
	consume(t, c, ConsumeSpec{Queue: q, Prefetch: 4}, func(ctx context.Context, d *Delivery) {
		consumed.Add(1)
		d.Settle(Ack)
	})
	tron := newBus(t, c, TronQueue(queueName(t), protocol.QueueClassic), nil, ackAwakes)
	runner := newBus(t, c, runnerInbox(), nil, nil)
	sendAwake(t, ctx, runner, tron)
	publishUntilConsumed(t, c, q.Name, &consumed)

	nodes[first].Kill()
	testenv.WaitFor(t, 20*time.Second, "the Conn on the other node", func() bool {
		return c.Connected() && c.Broker() != first
	})
	if n := queueLength(t, c, q.Name); n != 0 {
		t.Errorf("the re-declared route queue holds %d messages on the new node, want 0", n)
	}
	publishUntilConsumed(t, c, q.Name, &consumed)
	sendAwake(t, ctx, runner, tron)
}

// publishUntilConsumed publishes to queue until the consumer counts one more delivery (right
// after a failover the consumer may not have re-subscribed yet; the message waits for it).
func publishUntilConsumed(t *testing.T, c *Conn, queue string, consumed *atomic.Int32) {
	t.Helper()
	mark := consumed.Load()
	testenv.WaitFor(t, 20*time.Second, "a message consumed from "+queue, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.Publish(ctx, Publishing{Key: queue, Body: []byte("x"), Mandatory: true})
		return testenv.Poll(2*time.Second, func() bool { return consumed.Load() > mark })
	})
}
