package amqpbus

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
)

// broker is the one RabbitMQ node every test of the package shares (starting one takes
// seconds). Tests that read funcatron.dead do not run in parallel.
var broker *servers.RabbitMQ

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithRabbitMQ(m, &broker))
}

func testLogger(t testing.TB) *slog.Logger { return testenv.Logger(t) }

// dial connects to the shared broker, declares the base topology, and closes in cleanup.
func dial(t testing.TB, opts Options) *Conn {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, broker.URL(), opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := DeclareBase(ctx, c, protocol.QueueClassic); err != nil {
		t.Fatalf("DeclareBase: %v", err)
	}
	return c
}

// testCtx is a context that ends with the test (or after d).
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// queueName is a fresh queue name for one test.
func queueName(t testing.TB) string {
	r := strings.NewReplacer("/", ".", " ", "_")
	return "test." + r.Replace(t.Name()) + "." + uuid.NewString()[:8]
}

// declaredRouteQueue is a route queue of a fresh name and type typ, declared on c.
func declaredRouteQueue(t testing.TB, c *Conn, typ protocol.QueueType) QueueSpec {
	t.Helper()
	q := RouteQueue(queueName(t), typ)
	if err := c.Declare(testCtx(t, 10*time.Second), q); err != nil {
		t.Fatalf("Declare: %v", err)
	}
	return q
}

// consume runs c.Consume in a goroutine that the test's cleanup stops and waits for.
func consume(t testing.TB, c *Conn, spec ConsumeSpec, h Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Consume(ctx, spec, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
	})
}

// rawChannel is a plain AMQP channel on c's connection, for looking at queues directly.
func rawChannel(t testing.TB, c *Conn) *amqp.Channel {
	t.Helper()
	ch, _, err := c.channel(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatalf("opening a channel: %v", err)
	}
	t.Cleanup(func() { ch.Close() })
	return ch
}

// queueLength is the number of ready messages in queue q.
func queueLength(t testing.TB, c *Conn, q string) int {
	t.Helper()
	ch, _, err := c.channel(testCtx(t, 10*time.Second))
	if err != nil {
		t.Fatalf("opening a channel: %v", err)
	}
	defer ch.Close()
	info, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
	if err != nil {
		t.Fatalf("inspecting queue %q: %v", q, err)
	}
	return info.Messages
}

// deadLetter waits for a message with the given message-id in funcatron.dead, and
// removes everything it reads from there.
func deadLetter(t testing.TB, c *Conn, messageID string) amqp.Delivery {
	t.Helper()
	ch := rawChannel(t, c)
	var found amqp.Delivery
	testenv.WaitFor(t, 10*time.Second, "message "+messageID+" in "+protocol.DeadLetterQueue, func() bool {
		for {
			d, ok, err := ch.Get(protocol.DeadLetterQueue, true)
			if err != nil {
				t.Fatalf("reading %s: %v", protocol.DeadLetterQueue, err)
			}
			if !ok {
				return false
			}
			if d.MessageId == messageID {
				found = d
				return true
			}
		}
	})
	return found
}

// deadLetterIDs drains funcatron.dead and returns the message-ids it held.
func deadLetterIDs(t testing.TB, c *Conn) map[string]bool {
	t.Helper()
	ch := rawChannel(t, c)
	ids := make(map[string]bool)
	for {
		d, ok, err := ch.Get(protocol.DeadLetterQueue, true)
		if err != nil {
			t.Fatalf("reading %s: %v", protocol.DeadLetterQueue, err)
		}
		if !ok {
			return ids
		}
		ids[d.MessageId] = true
	}
}

// deathReason is the reason of the first x-death entry of a dead-lettered message.
func deathReason(d amqp.Delivery) string {
	deaths, _ := d.Headers["x-death"].([]any)
	if len(deaths) == 0 {
		return ""
	}
	entry, _ := deaths[0].(amqp.Table)
	reason, _ := entry["reason"].(string)
	return reason
}
