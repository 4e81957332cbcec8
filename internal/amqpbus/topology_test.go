package amqpbus

import (
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/protocol"
)

func TestDeclareBaseIsIdempotentAndMatchesTheSpec(t *testing.T) {
	c := dial(t, Options{}) // declares Base once
	ctx := testCtx(t, 10*time.Second)
	if err := DeclareBase(ctx, c, protocol.QueueClassic); err != nil {
		t.Fatalf("DeclareBase again: %v", err)
	}
	ch := rawChannel(t, c)
	for _, e := range []ExchangeSpec{DeadLetterExchange(), EventsExchange(), LoggingExchange(), ConfigurationExchange()} {
		if err := ch.ExchangeDeclarePassive(e.Name, e.Kind, true, false, false, false, nil); err != nil {
			t.Fatalf("exchange %s: %v", e.Name, err)
		}
	}
	// funcatron.dead is bounded: a declaration with the spec's arguments is accepted...
	if _, err := ch.QueueDeclare(protocol.DeadLetterQueue, true, false, false, false,
		amqp.Table{"x-max-length": int64(protocol.DeadLetterMaxLength)}); err != nil {
		t.Errorf("%s lacks x-max-length %d: %v", protocol.DeadLetterQueue, protocol.DeadLetterMaxLength, err)
	}
	// ...and one without them is refused (the broker compares arguments).
	ch2 := rawChannel(t, c)
	if _, err := ch2.QueueDeclare(protocol.DeadLetterQueue, true, false, false, false, nil); !permanent(err) {
		t.Errorf("re-declaring %s without its arguments = %v, want PRECONDITION_FAILED", protocol.DeadLetterQueue, err)
	}
}

func TestDeclareRefusedIsNotRemembered(t *testing.T) {
	c := dial(t, Options{})
	ctx := testCtx(t, 10*time.Second)
	name := queueName(t)
	if err := c.Declare(ctx, RouteQueue(name, protocol.QueueClassic)); err != nil {
		t.Fatalf("Declare: %v", err)
	}
	err := c.Declare(ctx, TronQueue(name, protocol.QueueClassic).withoutArgs())
	if !permanent(err) {
		t.Fatalf("Declare with contradicting arguments = %v, want PRECONDITION_FAILED", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	i := c.indexOf(RouteQueue(name, protocol.QueueClassic).key())
	if i < 0 {
		t.Fatal("the accepted declaration was forgotten")
	}
	if q := c.decls[i].(QueueSpec); q.Args == nil {
		t.Errorf("the refused declaration is remembered and would fail every reconnect")
	}
}

func (q QueueSpec) withoutArgs() QueueSpec { q.Args = nil; return q }

func TestQueueSpecsOfTheSpec(t *testing.T) {
	dlx := amqp.Table{"x-dead-letter-exchange": protocol.DeadLetterExchange}
	tests := []struct {
		name                           string
		q                              QueueSpec
		wantName                       string
		durable, exclusive, autoDelete bool
		wantDLX                        bool
	}{
		{"tron queue", TronQueue("for_tron", protocol.QueueClassic), "for_tron", true, false, false, true},
		{"runner inbox", RunnerInbox("abc"), "RU-abc", false, true, true, true},
		{"route queue", RouteQueue("ch8NQk38yRVeiOo2", protocol.QueueClassic), "ch8NQk38yRVeiOo2", true, false, false, true},
		{"dead letters", DeadLetterQueue(protocol.QueueClassic), "funcatron.dead", true, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.q
			if q.Name != tt.wantName || q.Durable != tt.durable || q.Exclusive != tt.exclusive || q.AutoDelete != tt.autoDelete {
				t.Errorf("got %+v", q)
			}
			if got := q.Args["x-dead-letter-exchange"] == dlx["x-dead-letter-exchange"]; got != tt.wantDLX {
				t.Errorf("dead-letter exchange set = %v, want %v", got, tt.wantDLX)
			}
		})
	}
}
