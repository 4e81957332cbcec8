package amqpbus

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

// TestQuorumDeliveryLimit: a poison message on a quorum route queue, given back by every
// consumer it reaches (a runner dying with it requeues it the same way), is delivered
// 1 + DeliveryLimit times, then dead-lettered with reason delivery_limit: it cannot loop.
func TestQuorumDeliveryLimit(t *testing.T) {
	c := dial(t, Options{})
	deadLetterIDs(t, c) // start from an empty funcatron.dead
	ctx := testCtx(t, 30*time.Second)
	q := declaredRouteQueue(t, c, protocol.QueueQuorum)
	var deliveries atomic.Int32
	consume(t, c, ConsumeSpec{Queue: q, Prefetch: 1}, func(ctx context.Context, d *Delivery) {
		deliveries.Add(1)
		d.Settle(Requeue)
	})
	id := uuid.NewString()
	if err := c.Publish(ctx, Publishing{Key: q.Name, Body: []byte("poison"), MessageID: id, Mandatory: true}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	d := deadLetter(t, c, id)
	if reason := deathReason(d); reason != "delivery_limit" {
		t.Errorf("dead-lettered with reason %q, want delivery_limit", reason)
	}
	if n := deliveries.Load(); n != DeliveryLimit+1 {
		t.Errorf("the poison message was delivered %d times, want %d (1 + the delivery limit)", n, DeliveryLimit+1)
	}
}

// TestQuorumFacts measures what quorum queues of this RabbitMQ do with what the system
// relies on (spec/protocol.md §4 and §9): per-message expiration and its dead-lettering,
// per-consumer prefetch and global QoS, transient messages across a broker restart. Each
// fact is asserted, and logged as the row docs/deploy.md quotes
// (go test ./internal/amqpbus -run TestQuorumFacts -v).
func TestQuorumFacts(t *testing.T) {
	c := dial(t, Options{})
	ctx := testCtx(t, 90*time.Second)
	deadLetterIDs(t, c)
	t.Run("per-message expiration dead-letters", func(t *testing.T) {
		q := RouteQueue(queueName(t), protocol.QueueQuorum)
		if err := c.Declare(ctx, q); err != nil {
			t.Fatalf("Declare: %v", err)
		}
		id := uuid.NewString()
		start := time.Now()
		if err := c.Publish(ctx, Publishing{Key: q.Name, Body: []byte("x"), MessageID: id, Expiration: 200 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		d := deadLetter(t, c, id)
		t.Logf("FACT expiration: a 200ms message on an idle quorum queue was dead-lettered (reason %q) after %s", deathReason(d), time.Since(start).Round(10*time.Millisecond))
		if deathReason(d) != "expired" {
			t.Errorf("reason %q, want expired", deathReason(d))
		}
	})
	t.Run("prefetch per consumer, no global QoS", func(t *testing.T) {
		q := RouteQueue(queueName(t), protocol.QueueQuorum)
		if err := c.Declare(ctx, q); err != nil {
			t.Fatal(err)
		}
		for range 10 {
			if err := c.Publish(ctx, Publishing{Key: q.Name, Body: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("FACT prefetch: basic.qos(3, per consumer) holds %d unacked of 10", unackedWithQos(t, c, q.Name, false))
		err := consumeWithQos(t, c, q.Name, true)
		t.Logf("FACT global QoS: consuming a quorum queue after basic.qos(global) gives: %v", err)
		if err == nil {
			t.Error("global QoS accepted on a quorum queue")
		}
	})
	t.Run("transient messages survive a restart", func(t *testing.T) {
		t.Cleanup(func() { _ = broker.Start() })
		q := RouteQueue(queueName(t), protocol.QueueQuorum)
		if err := c.Declare(ctx, q); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if err := c.Publish(ctx, Publishing{Key: q.Name, Body: []byte("x")}); err != nil { // transient
				t.Fatal(err)
			}
		}
		if err := broker.Restart(); err != nil {
			t.Fatal(err)
		}
		var n int
		testenv.WaitFor(t, 30*time.Second, "the queue back after the restart", func() bool {
			n = -1
			ch, _, err := c.channel(ctx)
			if err != nil {
				return false
			}
			defer ch.Close()
			info, err := ch.QueueDeclarePassive(q.Name, true, false, false, false, nil)
			if err == nil {
				n = info.Messages
			}
			return err == nil && n == 5
		})
		t.Logf("FACT persistence: 5 transient messages on a quorum queue, broker restarted: %d kept", n)
	})
}

// unackedWithQos consumes queue with basic.qos(3, global) without acking and counts what
// the broker hands over until it stays quiet for a second.
func unackedWithQos(t *testing.T, c *Conn, queue string, global bool) int {
	ch, _, err := c.channel(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if err := ch.Qos(3, 0, global); err != nil {
		t.Fatal(err)
	}
	ds, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	quiet := time.NewTimer(time.Second) // nothing more for a second: that was all
	defer quiet.Stop()
	for {
		select {
		case <-ds:
			n++
			quiet.Reset(time.Second)
			continue
		case <-quiet.C:
		}
		break
	}
	if n != 3 {
		t.Errorf("per-consumer prefetch 3 handed over %d unacked messages", n)
	}
	return n
}

// consumeWithQos is the error of subscribing to queue after basic.qos(1, global).
func consumeWithQos(t *testing.T, c *Conn, queue string, global bool) error {
	ch, _, err := c.channel(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if err := ch.Qos(1, 0, global); err != nil {
		return err
	}
	_, err = ch.Consume(queue, "", false, false, false, false, nil)
	var ae *amqp.Error
	if errors.As(err, &ae) {
		return errors.New(strings.TrimSpace(ae.Error()))
	}
	return err
}
