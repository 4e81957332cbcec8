package amqpbus

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
)

// dropConnection closes c's current AMQP connection under it, as a network failure would.
func dropConnection(t testing.TB, c *Conn) {
	t.Helper()
	c.mu.Lock()
	s := c.cur
	c.mu.Unlock()
	if s == nil {
		t.Fatal("dropConnection: not connected")
	}
	s.conn.Close()
}

func generation(c *Conn) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return 0
	}
	return c.cur.gen
}

func TestDialBrokerDownReturnsWhenCtxEnds(t *testing.T) {
	ports, err := servers.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	c, err := Dial(ctx, fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", ports[0]), Options{Logger: testLogger(t)})
	if err == nil {
		c.Close()
		t.Fatal("Dial to a closed port succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial error = %v, want it to wrap context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Dial took %s after a 500ms ctx", took)
	}
}

func TestDialRefusedCredentialsFailsAtOnce(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	start := time.Now()
	url := fmt.Sprintf("amqp://guest:wrong@127.0.0.1:%d/", broker.AMQPPort)
	c, err := Dial(ctx, url, Options{Logger: testLogger(t)})
	if err == nil {
		c.Close()
		t.Fatal("Dial with a wrong password succeeded")
	}
	if !authFailure(err) {
		t.Errorf("Dial error = %v, want an authentication failure", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Dial retried a refused login for %s", took)
	}
}

func TestDialBadURL(t *testing.T) {
	if _, err := Dial(context.Background(), "http://nope", Options{}); err == nil {
		t.Fatal("Dial accepted a non-AMQP URL")
	}
}

func TestReconnectRedeclaresAndResubscribes(t *testing.T) {
	c := dial(t, Options{})
	ctx := testCtx(t, 30*time.Second)
	declared := declaredRouteQueue(t, c, protocol.QueueClassic)
	consumed := RouteQueue(queueName(t), protocol.QueueClassic)
	got := make(chan string, 10)
	consume(t, c, ConsumeSpec{Queue: consumed}, func(ctx context.Context, d *Delivery) {
		got <- string(d.Body)
		d.Settle(Ack)
	})

	// Delete both queues behind the Conn's back, then cut the connection: the reconnect
	// must declare the first again, and the consumer re-create and re-subscribe the second.
	ch := rawChannel(t, c)
	for _, q := range []string{declared.Name, consumed.Name} {
		testenv.WaitFor(t, 10*time.Second, "queue "+q, func() bool {
			_, err := ch.QueueDelete(q, false, false, false)
			return err == nil
		})
	}
	before := generation(c)
	dropConnection(t, c)
	testenv.WaitFor(t, 10*time.Second, "a new connection", func() bool { return c.Connected() && generation(c) > before })
	if n := queueLength(t, c, declared.Name); n != 0 {
		t.Errorf("re-declared queue holds %d messages, want 0", n)
	}
	var err error
	testenv.WaitFor(t, 10*time.Second, "the consumer's queue to be back", func() bool {
		err = c.Publish(ctx, Publishing{Key: consumed.Name, Body: []byte("after"), Mandatory: true})
		return err == nil
	})
	select {
	case body := <-got:
		if body != "after" {
			t.Errorf("consumed %q, want %q", body, "after")
		}
	case <-ctx.Done():
		t.Fatal("the consumer did not re-subscribe")
	}
}

func TestCloseStopsEverything(t *testing.T) {
	c := dial(t, Options{})
	q := RouteQueue(queueName(t), protocol.QueueClassic)
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(context.Background(), ConsumeSpec{Queue: q}, func(ctx context.Context, d *Delivery) { d.Settle(Ack) })
	}()
	testenv.WaitFor(t, 10*time.Second, "the consumer's queue", func() bool {
		ch := rawChannel(t, c)
		info, err := ch.QueueDeclarePassive(q.Name, true, false, false, false, q.Args)
		return err == nil && info.Consumers == 1
	})
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Consume after Close = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Consume did not return after Close")
	}
	if c.Connected() {
		t.Error("Connected() after Close")
	}
	if err := c.Publish(context.Background(), Publishing{Key: q.Name}); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	baseline := runtime.NumGoroutine()
	func() {
		c, err := Dial(testCtx(t, 10*time.Second), broker.URL(), Options{Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer c.Close()
		ctx, cancel := context.WithCancel(context.Background())
		q := RouteQueue(queueName(t), protocol.QueueClassic)
		got := make(chan struct{}, 1)
		done := make(chan error, 1)
		go func() {
			done <- c.Consume(ctx, ConsumeSpec{Queue: q, Prefetch: 4}, func(ctx context.Context, d *Delivery) {
				d.Settle(Ack)
				got <- struct{}{}
			})
		}()
		testenv.WaitFor(t, 10*time.Second, "a delivery", func() bool {
			if c.Publish(ctx, Publishing{Key: q.Name, Mandatory: true}) != nil {
				return false
			}
			<-got
			return true
		})
		dropConnection(t, c) // a reconnect must not leave the old connection's goroutines behind
		testenv.WaitFor(t, 10*time.Second, "a reconnect", func() bool { return generation(c) == 2 })
		if err := c.Publish(ctx, Publishing{Key: q.Name, Mandatory: true}); err != nil {
			t.Errorf("Publish after reconnect: %v", err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
	}()
	testenv.WaitFor(t, 10*time.Second, fmt.Sprintf("goroutines back to %d", baseline), func() bool {
		return runtime.NumGoroutine() <= baseline
	})
}
