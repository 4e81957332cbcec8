package amqpbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
	amqp "github.com/rabbitmq/amqp091-go"
)

func TestPublishConsumeRoundTrip(t *testing.T) {
	c := dial(t, Options{})
	ctx := testCtx(t, 30*time.Second)
	q := declaredRouteQueue(t, c, protocol.QueueClassic)
	want := Publishing{
		Key: q.Name, ContentType: "application/json", Body: []byte(`{"action":"service"}`),
		ReplyTo: "FRNTabc", CorrelationID: "corr-1", MessageID: "msg-1",
		Headers: amqp.Table{"x-test": "yes"}, Mandatory: true,
	}
	if err := c.Publish(ctx, want); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := make(chan *Delivery, 1)
	consume(t, c, ConsumeSpec{Queue: q}, func(ctx context.Context, d *Delivery) {
		if err := d.Settle(Ack); err != nil {
			t.Errorf("Settle: %v", err)
		}
		got <- d
	})
	var d *Delivery
	select {
	case d = <-got:
	case <-ctx.Done():
		t.Fatal("nothing consumed")
	}
	checks := []struct{ name, got, want string }{
		{"body", string(d.Body), string(want.Body)},
		{"content type", d.ContentType, want.ContentType},
		{"reply-to", d.ReplyTo, want.ReplyTo},
		{"correlation id", d.CorrelationID, want.CorrelationID},
		{"message id", d.MessageID, want.MessageID},
		{"queue", d.Queue, q.Name},
		{"header", fmt.Sprint(d.Headers["x-test"]), "yes"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if d.Redelivered {
		t.Error("first delivery marked redelivered")
	}
	if err := d.Settle(Ack); !errors.Is(err, ErrSettled) {
		t.Errorf("second Settle = %v, want ErrSettled", err)
	}
	testenv.WaitFor(t, 5*time.Second, "the queue to be empty", func() bool { return queueLength(t, c, q.Name) == 0 })
}

func TestPublishMandatoryToMissingQueueIsUnroutable(t *testing.T) {
	c := dial(t, Options{PublishChannels: 2})
	ctx := testCtx(t, 30*time.Second)
	q := declaredRouteQueue(t, c, protocol.QueueClassic)
	missing := queueName(t)
	tests := []struct {
		name      string
		key       string
		mandatory bool
		wantErr   error
	}{
		{"existing queue, mandatory", q.Name, true, nil},
		{"missing queue, mandatory", missing, true, ErrUnroutable},
		{"missing queue, not mandatory: dropped silently", missing, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Publish(ctx, Publishing{Key: tt.key, Body: []byte("x"), Mandatory: tt.mandatory})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Publish = %v, want %v", err, tt.wantErr)
			}
		})
	}

	// Many concurrent mandatory publishes, half unroutable, on shared channels: each
	// publisher gets its own outcome.
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range errs {
		key := q.Name
		if i%2 == 1 {
			key = missing
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Publish(ctx, Publishing{Key: key, Body: []byte("x"), Mandatory: true})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if unroutable := errors.Is(err, ErrUnroutable); unroutable != (i%2 == 1) || (i%2 == 0 && err != nil) {
			t.Errorf("publish %d: err = %v, want unroutable=%v", i, err, i%2 == 1)
		}
	}
}

func TestPublishToMissingExchangeFailsAndPoolRecovers(t *testing.T) {
	c := dial(t, Options{PublishChannels: 1})
	ctx := testCtx(t, 30*time.Second)
	err := c.Publish(ctx, Publishing{Exchange: "no.such.exchange", Key: "k", Body: []byte("x")})
	if !errors.Is(err, ErrUnconfirmed) {
		t.Fatalf("Publish to a missing exchange = %v, want ErrUnconfirmed", err)
	}
	var ae *amqp.Error
	if !errors.As(err, &ae) || ae.Code != amqp.NotFound {
		t.Errorf("error %v does not carry the broker's NOT_FOUND", err)
	}
	q := declaredRouteQueue(t, c, protocol.QueueClassic)
	if err := c.Publish(ctx, Publishing{Key: q.Name, Body: []byte("x"), Mandatory: true}); err != nil {
		t.Errorf("Publish after the channel error: %v", err)
	}
	if err := c.Publish(ctx, Publishing{Exchange: protocol.EventsExchange, Key: "k", Body: []byte("x")}); err != nil {
		t.Errorf("Publish to an exchange after the channel error: %v (its channel was not reopened)", err)
	}
}

func TestPublishWhileDisconnectedEndsWithCtx(t *testing.T) {
	// A Conn whose reconnects cannot succeed quickly: point it at the broker, then make
	// every reconnect attempt wait far longer than the publish's ctx.
	c := dial(t, Options{MinBackoff: time.Minute, MaxBackoff: time.Minute})
	dropConnection(t, c)
	testenv.WaitFor(t, 5*time.Second, "the drop to be noticed", func() bool { return !c.Connected() })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Publish(ctx, Publishing{Key: "whatever", Body: []byte("x")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Publish while disconnected = %v, want DeadlineExceeded", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Publish took %s with a 300ms ctx", took)
	}
}

func TestExpiration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, ""},
		{-time.Second, ""},
		{time.Microsecond, "1"},
		{1500 * time.Microsecond, "2"},
		{30 * time.Second, "30000"},
	}
	for _, tt := range tests {
		if got := expiration(tt.d); got != tt.want {
			t.Errorf("expiration(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestBackoffGrowsWithJitterUpToMax(t *testing.T) {
	b := &backoff{min: 100 * time.Millisecond, max: time.Second}
	lows := []time.Duration{50, 100, 200, 400, 500, 500}
	for i, low := range lows {
		low *= time.Millisecond
		d := b.next()
		if d < low || d > 2*low {
			t.Errorf("attempt %d: delay %s, want within [%s, %s]", i+1, d, low, 2*low)
		}
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Errorf("after reset: delay %s, want at most 100ms", d)
	}
}
