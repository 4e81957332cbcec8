package amqpbus

import (
	"context"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// publishN publishes n messages with message-ids prefix0..prefix(n-1) to queue.
func publishN(t testing.TB, c *Conn, queue, prefix string, n int) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	for i := range n {
		id := prefix + strconv.Itoa(i)
		if err := c.Publish(ctx, Publishing{Key: queue, Body: []byte(id), MessageID: id, Mandatory: true}); err != nil {
			t.Fatalf("Publish %s: %v", id, err)
		}
	}
}

func TestExpiredMessageIsDeadLetteredNotDelivered(t *testing.T) {
	c := dial(t, Options{})
	ctx := testCtx(t, 30*time.Second)
	q := declaredRouteQueue(t, c, protocol.QueueClassic)
	id := "expiring-" + q.Name
	if err := c.Publish(ctx, Publishing{Key: q.Name, Body: []byte("late"), MessageID: id, Expiration: 50 * time.Millisecond, Mandatory: true}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	d := deadLetter(t, c, id)
	if r := deathReason(d); r != "expired" {
		t.Errorf("x-death reason = %q, want expired", r)
	}
	if n := queueLength(t, c, q.Name); n != 0 {
		t.Errorf("route queue still holds %d messages", n)
	}
	// A consumer arriving now gets nothing; a fresh message shows it is subscribed.
	got := make(chan string, 2)
	consume(t, c, ConsumeSpec{Queue: q}, func(ctx context.Context, d *Delivery) {
		got <- d.MessageID
		d.Settle(Ack)
	})
	publishN(t, c, q.Name, "fresh-", 1)
	if first := <-got; first != "fresh-0" {
		t.Errorf("consumer got %q first, want fresh-0", first)
	}
}

func TestPrefetchBoundsInFlight(t *testing.T) {
	const prefetch, total = 3, 10
	c := dial(t, Options{})
	q := declaredRouteQueue(t, c, protocol.QueueClassic)
	publishN(t, c, q.Name, "m", total)

	release := make(chan struct{})
	var inFlight, maxInFlight, handled atomic.Int32
	consume(t, c, ConsumeSpec{Queue: q, Prefetch: prefetch}, func(ctx context.Context, d *Delivery) {
		n := inFlight.Add(1)
		for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
		}
		<-release
		inFlight.Add(-1)
		d.Settle(Ack)
		handled.Add(1)
	})
	// The broker hands out exactly prefetch messages and keeps the rest ready.
	testenv.WaitFor(t, 10*time.Second, "prefetch handlers in flight", func() bool { return inFlight.Load() == prefetch })
	testenv.WaitFor(t, 10*time.Second, "the rest to stay in the queue", func() bool { return queueLength(t, c, q.Name) == total-prefetch })
	if m := maxInFlight.Load(); m != prefetch {
		t.Errorf("max in flight = %d, want %d", m, prefetch)
	}
	close(release)
	testenv.WaitFor(t, 10*time.Second, "every message handled", func() bool { return handled.Load() == total })
	if m := maxInFlight.Load(); m != prefetch {
		t.Errorf("max in flight = %d, want %d", m, prefetch)
	}
}

func TestSequentialKeepsOrder(t *testing.T) {
	const total = 50
	c := dial(t, Options{})
	q := declaredRouteQueue(t, c, protocol.QueueClassic)
	publishN(t, c, q.Name, "", total)
	var mu sync.Mutex
	var order []string
	var inFlight, maxInFlight atomic.Int32
	consume(t, c, ConsumeSpec{Queue: q, Prefetch: 10, Sequential: true}, func(ctx context.Context, d *Delivery) {
		if n := inFlight.Add(1); n > maxInFlight.Load() {
			maxInFlight.Store(n)
		}
		mu.Lock()
		order = append(order, d.MessageID)
		mu.Unlock()
		inFlight.Add(-1)
		d.Settle(Ack)
	})
	testenv.WaitFor(t, 10*time.Second, "every message", func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == total })
	for i, id := range order {
		if id != strconv.Itoa(i) {
			t.Fatalf("message %d is %q: order lost (%v)", i, id, order)
		}
	}
	if m := maxInFlight.Load(); m != 1 {
		t.Errorf("max in flight = %d, want 1", m)
	}
}

func TestRequeueRedelivers(t *testing.T) {
	c := dial(t, Options{})
	q := declaredRouteQueue(t, c, protocol.QueueClassic)
	publishN(t, c, q.Name, "r", 1)
	type seen struct {
		id          string
		redelivered bool
	}
	got := make(chan seen, 2)
	var calls atomic.Int32
	consume(t, c, ConsumeSpec{Queue: q}, func(ctx context.Context, d *Delivery) {
		got <- seen{d.MessageID, d.Redelivered}
		if calls.Add(1) == 1 {
			d.Settle(Requeue)
			return
		}
		d.Settle(Ack)
	})
	first, second := <-got, <-got
	if first != (seen{"r0", false}) || second != (seen{"r0", true}) {
		t.Errorf("deliveries = %+v, %+v; want r0 then r0 redelivered", first, second)
	}
	testenv.WaitFor(t, 5*time.Second, "the queue to be empty", func() bool { return queueLength(t, c, q.Name) == 0 })
}

func TestDeadLetterLandsInFuncatronDead(t *testing.T) {
	c := dial(t, Options{})
	q := declaredRouteQueue(t, c, protocol.QueueClassic)
	rejected, forgotten := q.Name+"-rejected", q.Name+"-forgotten"
	for _, id := range []string{rejected, forgotten} {
		if err := c.Publish(testCtx(t, 10*time.Second), Publishing{Key: q.Name, MessageID: id, Mandatory: true}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	consume(t, c, ConsumeSpec{Queue: q}, func(ctx context.Context, d *Delivery) {
		if d.MessageID == rejected {
			d.Settle(DeadLetter)
		}
		// the other is left unsettled: Consume dead-letters it
	})
	for _, id := range []string{rejected, forgotten} {
		if r := deathReason(deadLetter(t, c, id)); r != "rejected" {
			t.Errorf("%s: x-death reason = %q, want rejected", id, r)
		}
	}
}

func TestSettleAfterConnectionLossIsANoOp(t *testing.T) {
	c := dial(t, Options{})
	q := declaredRouteQueue(t, c, protocol.QueueClassic)
	publishN(t, c, q.Name, "s", 1)
	deliveries := make(chan *Delivery, 2)
	hold := make(chan struct{})
	consume(t, c, ConsumeSpec{Queue: q}, func(ctx context.Context, d *Delivery) {
		deliveries <- d
		if d.Redelivered {
			d.Settle(Ack)
			return
		}
		<-hold // the test settles the first one, after its connection is gone
	})
	first := <-deliveries
	before := generation(c)
	dropConnection(t, c)
	testenv.WaitFor(t, 10*time.Second, "a new connection", func() bool { return generation(c) > before })
	if err := first.Settle(Ack); err != nil {
		t.Errorf("Settle on a dead channel = %v, want nil (no-op)", err)
	}
	close(hold)
	second := <-deliveries
	if second.MessageID != "s0" || !second.Redelivered {
		t.Errorf("after reconnect got %q redelivered=%v, want s0 redelivered", second.MessageID, second.Redelivered)
	}
}

func TestConsumeRejectsContradictingQueue(t *testing.T) {
	c := dial(t, Options{})
	name := queueName(t)
	if err := c.Declare(testCtx(t, 10*time.Second), QueueSpec{Name: name, Durable: true}); err != nil {
		t.Fatalf("Declare: %v", err)
	}
	err := c.Consume(testCtx(t, 10*time.Second), ConsumeSpec{Queue: RouteQueue(name, protocol.QueueClassic)}, func(context.Context, *Delivery) {})
	if err == nil || !permanent(err) {
		t.Errorf("Consume of a queue with other arguments = %v, want PRECONDITION_FAILED", err)
	}
}
