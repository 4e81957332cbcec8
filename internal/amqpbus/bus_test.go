package amqpbus

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

// newBus makes a Bus on inbox, lets setup register handlers, runs it until cleanup.
func newBus(t testing.TB, c *Conn, inbox QueueSpec, log *slog.Logger, setup func(b *Bus)) *Bus {
	t.Helper()
	if log == nil {
		log = testLogger(t)
	}
	b, err := NewBus(testCtx(t, 10*time.Second), c, BusOptions{Inbox: inbox, Version: "test-1", Logger: log})
	if err != nil {
		t.Fatalf("NewBus: %v", err)
	}
	if setup != nil {
		setup(b)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()) }()
	t.Cleanup(func() {
		b.Close()
		if err := <-done; err != nil {
			t.Errorf("Bus.Run: %v", err)
		}
	})
	return b
}

func runnerInbox() QueueSpec { return RunnerInbox(uuid.NewString()) }

// ackAwakes makes b answer every awake with an ack, in the codec the awake came in.
func ackAwakes(b *Bus) {
	b.OnType(protocol.ActionAwake, func(ctx context.Context, m bus.Message) {
		ack := &protocol.Ack{AckID: m.UUID, Status: protocol.AckOK}
		r, err := b.Send(ctx, ack, bus.Destination{Queue: m.ReplyTo, Codec: m.Codec})
		if err == nil {
			r.Close()
		}
	})
}

func TestBusSendReplyReceipt(t *testing.T) {
	c := dial(t, Options{})
	var got atomic.Pointer[bus.Message]
	tron := newBus(t, c, TronQueue(queueName(t), protocol.QueueClassic), nil, func(b *Bus) {
		b.OnType(protocol.ActionAwake, func(ctx context.Context, m bus.Message) { got.Store(&m) })
		ackAwakes(b)
	})
	runner := newBus(t, c, runnerInbox(), nil, nil)

	for _, codec := range []protocol.Codec{protocol.EDN, protocol.JSON} {
		t.Run(string(codec), func(t *testing.T) {
			awake := &protocol.Awake{Type: protocol.TypeRunner}
			r, err := runner.Send(testCtx(t, 10*time.Second), awake,
				bus.Destination{Queue: tron.Inbox(), Codec: codec, Persistent: true})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			defer r.Close()
			var reply bus.Message
			if err := r.WaitUntil(10*time.Second, func(m bus.Message) bool { reply = m; return true }); err != nil {
				t.Fatalf("WaitUntil: %v", err)
			}
			if reply.Type != protocol.ActionAck || reply.ParentID != awake.MsgID || reply.Codec != codec {
				t.Errorf("reply = %s (parent %s, %s), want ack of %s in %s", reply.Type, reply.ParentID, reply.Codec, awake.MsgID, codec)
			}
			m := got.Load()
			if m == nil || m.UUID != awake.MsgID || m.ReplyTo != runner.Inbox() || m.Data.Head().Version != "test-1" {
				t.Errorf("the Tron saw %+v, want the awake stamped from %s, version test-1", m, runner.Inbox())
			}
		})
	}
}

func TestBusSendToSeveralDestinations(t *testing.T) {
	c := dial(t, Options{})
	a := newBus(t, c, runnerInbox(), nil, ackAwakes)
	b := newBus(t, c, runnerInbox(), nil, ackAwakes)
	sender := newBus(t, c, runnerInbox(), nil, nil)
	ctx := testCtx(t, 10*time.Second)

	r, err := sender.Send(ctx, &protocol.Awake{Type: protocol.TypeRunner},
		bus.Destination{Queue: a.Inbox(), Codec: protocol.JSON},
		bus.Destination{Queue: b.Inbox(), Codec: protocol.EDN})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	seen := map[protocol.Codec]bool{}
	err = r.WaitUntil(10*time.Second, func(m bus.Message) bool { seen[m.Codec] = true; return len(seen) == 2 })
	r.Close()
	if err != nil {
		t.Fatalf("waiting for both acks: %v (got %v)", err, seen)
	}

	// One destination gone: the receipt still comes, with an error naming the other.
	gone := runnerInbox().Name
	r, err = sender.Send(ctx, &protocol.Awake{Type: protocol.TypeRunner},
		bus.Destination{Queue: a.Inbox(), Codec: protocol.EDN}, bus.Destination{Queue: gone, Codec: protocol.EDN})
	if r == nil || !errors.Is(err, ErrUnroutable) || !strings.Contains(err.Error(), gone) {
		t.Fatalf("Send to one live and one gone inbox = %v, %v; want a receipt and ErrUnroutable naming %s", r, err, gone)
	}
	if err := r.WaitUntil(10*time.Second, func(bus.Message) bool { return true }); err != nil {
		t.Errorf("no ack from the live destination: %v", err)
	}
	r.Close()

	// Every destination gone: no receipt.
	r, err = sender.Send(ctx, &protocol.Awake{Type: protocol.TypeRunner}, bus.Destination{Queue: gone, Codec: protocol.EDN})
	if r != nil || !errors.Is(err, ErrUnroutable) {
		t.Errorf("Send to a gone inbox = %v, %v; want nil and ErrUnroutable", r, err)
	}
}

// syncBuffer is a log sink tests can read while the bus writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestBusUndecodableAndUnknown(t *testing.T) {
	c := dial(t, Options{})
	deadLetterIDs(t, c) // start from an empty funcatron.dead
	logs := &syncBuffer{}
	var undecodable atomic.Int32
	heartbeats := make(chan bus.Message, 1)
	inbox := runnerInbox()
	b := newBus(t, c, inbox, slog.New(slog.NewTextHandler(logs, nil)), func(b *Bus) {
		b.OnUndecodable(func(error) { undecodable.Add(1) })
		b.OnType(protocol.ActionHeartbeat, func(ctx context.Context, m bus.Message) { heartbeats <- m })
	})
	ctx := testCtx(t, 20*time.Second)
	bad := []Publishing{
		{MessageID: "bad-json", ContentType: protocol.ContentTypeJSON, Body: []byte(`{"action": `)},
		{MessageID: "bad-edn", ContentType: protocol.ContentTypeEDN, Body: []byte(`{:action`)},
		{MessageID: "no-action", ContentType: protocol.ContentTypeJSON, Body: []byte(`{"msg-id": "x"}`)},
		{MessageID: "bad-type", ContentType: "text/plain", Body: []byte(`hello`)},
		{MessageID: "unknown-1", ContentType: protocol.ContentTypeJSON, Body: []byte(`{"action":"frobnicate","from":"RU-future"}`)},
		{MessageID: "unknown-2", ContentType: protocol.ContentTypeEDN, Body: []byte(`{:action "frobnicate" :from "RU-future"}`)},
	}
	for _, p := range bad {
		p.Key, p.Mandatory = b.Inbox(), true
		if err := c.Publish(ctx, p); err != nil {
			t.Fatalf("Publish %s: %v", p.MessageID, err)
		}
	}
	// The bus keeps serving: a good message after the bad ones is handled.
	sender := newBus(t, c, runnerInbox(), nil, nil)
	r, err := sender.Send(ctx, &protocol.Heartbeat{Type: protocol.TypeRunner}, bus.Destination{Queue: b.Inbox(), Codec: protocol.EDN})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	r.Close()
	select {
	case <-heartbeats:
	case <-ctx.Done():
		t.Fatal("the bus stopped serving after bad messages")
	}
	if n := undecodable.Load(); n != 4 {
		t.Errorf("OnUndecodable called %d times, want 4", n)
	}
	for _, id := range []string{"bad-json", "bad-edn", "no-action", "bad-type"} {
		deadLetter(t, c, id)
	}
	if ids := deadLetterIDs(t, c); ids["unknown-1"] || ids["unknown-2"] {
		t.Errorf("an unknown action was dead-lettered (%v); it should be dropped", ids)
	}
	if n := strings.Count(logs.String(), "unknown action"); n != 1 {
		t.Errorf("unknown action logged %d times for one sender, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "sender=RU-future") {
		t.Errorf("the unknown-action log does not name the sender:\n%s", logs)
	}
}

func TestBusHandlerPanicDeadLettersAndKeepsServing(t *testing.T) {
	c := dial(t, Options{})
	handled := make(chan string, 2)
	b := newBus(t, c, runnerInbox(), nil, func(b *Bus) {
		b.OnType(protocol.ActionDie, func(ctx context.Context, m bus.Message) { panic("handler bug") })
		b.OnType(protocol.ActionHeartbeat, func(ctx context.Context, m bus.Message) { handled <- m.UUID })
	})
	sender := newBus(t, c, runnerInbox(), nil, nil)
	ctx := testCtx(t, 20*time.Second)
	die := &protocol.Die{InstanceID: "x"}
	for _, m := range []protocol.Message{die, &protocol.Heartbeat{Type: protocol.TypeRunner}} {
		r, err := sender.Send(ctx, m, bus.Destination{Queue: b.Inbox(), Codec: protocol.JSON})
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		r.Close()
	}
	select {
	case <-handled:
	case <-ctx.Done():
		t.Fatal("the bus stopped serving after a handler panic")
	}
	deadLetter(t, c, die.MsgID)
}

func TestBusConsumesOnlyFromRun(t *testing.T) {
	c := dial(t, Options{})
	ctx := testCtx(t, 20*time.Second)
	inbox := TronQueue(queueName(t), protocol.QueueClassic)
	// A message already waiting in a durable inbox when the bus starts...
	b, err := NewBus(ctx, c, BusOptions{Inbox: inbox, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("NewBus: %v", err)
	}
	sender := newBus(t, c, runnerInbox(), nil, nil)
	r, err := sender.Send(ctx, &protocol.Awake{Type: protocol.TypeRunner}, bus.Destination{Queue: inbox.Name, Codec: protocol.EDN, Persistent: true})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	r.Close()
	testenv.WaitFor(t, 5*time.Second, "the awake to wait in the inbox", func() bool { return queueLength(t, c, inbox.Name) == 1 })
	// ...reaches the handler registered before Run.
	got := make(chan struct{})
	b.OnType(protocol.ActionAwake, func(context.Context, bus.Message) { close(got) })
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("the waiting awake was not handled")
	}
	b.Close()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := b.Run(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}
}

func TestBusPublishAndDeclareRouteQueue(t *testing.T) {
	c := dial(t, Options{})
	ctx := testCtx(t, 20*time.Second)
	b := newBus(t, c, runnerInbox(), nil, nil)

	route := protocol.RouteQueue("example.com", "/"+queueName(t))
	if err := b.DeclareRouteQueue(ctx, route); err != nil {
		t.Fatalf("DeclareRouteQueue: %v", err)
	}
	// Declared with the arguments of RouteQueue: a passive check with them passes.
	ch := rawChannel(t, c)
	if _, err := ch.QueueDeclare(route, true, false, false, false, RouteQueue(route, protocol.QueueClassic).Args); err != nil {
		t.Errorf("route queue %s has other arguments: %v", route, err)
	}

	events := QueueSpec{Name: queueName(t), Exclusive: true, AutoDelete: true,
		Bindings: []Binding{{Exchange: protocol.EventsExchange, Key: "bundle.enabled.*"}}}
	got := make(chan string, 1)
	consume(t, c, ConsumeSpec{Queue: events}, func(ctx context.Context, d *Delivery) {
		got <- d.RoutingKey + " " + string(d.Body)
		d.Settle(Ack)
	})
	testenv.WaitFor(t, 5*time.Second, "the events queue", func() bool {
		ch := rawChannel(t, c)
		info, err := ch.QueueDeclarePassive(events.Name, false, true, true, false, nil)
		return err == nil && info.Consumers == 1
	})
	if err := b.Publish(ctx, protocol.EventsExchange, "bundle.enabled.abc", []byte(`{"sha":"abc"}`)); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	select {
	case g := <-got:
		if g != `bundle.enabled.abc {"sha":"abc"}` {
			t.Errorf("event = %q", g)
		}
	case <-ctx.Done():
		t.Fatal("event not received")
	}
	if !b.Connected() {
		t.Error("Connected() = false")
	}
}
