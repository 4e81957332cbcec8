package amqpbus

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

// TestBusSignsAndRefuses: a Bus with a Signer sends messages a Bus with a Verifier takes,
// marked with the key's role; an unsigned message is refused before its handlers, reported
// to OnRefused, acked (the queue empties) and neither requeued nor dead-lettered.
func TestBusSignsAndRefuses(t *testing.T) {
	c := dial(t, Options{})
	key := []byte("bus-test-key-0123456789abcdef")
	deadLetterIDs(t, c) // start from an empty funcatron.dead
	var mu sync.Mutex
	var reasons, signedBy []string
	inbox := runnerInbox()
	b, err := NewBus(testCtx(t, 10*time.Second), c, BusOptions{
		Inbox: inbox, Version: "test-1", Logger: testLogger(t),
		Verifier: &protocol.Verifier{Keys: []protocol.RoleKey{{Role: protocol.RoleRunner, Key: key}}},
		OnRefused: func(re *protocol.RefusedError) {
			mu.Lock()
			reasons = append(reasons, re.Reason)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	b.OnType(protocol.ActionAwake, func(_ context.Context, m bus.Message) {
		mu.Lock()
		signedBy = append(signedBy, m.SignedBy)
		mu.Unlock()
	})
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()) }()
	t.Cleanup(func() { b.Close(); <-done })

	sender := newBus(t, c, runnerInbox(), nil, nil)
	sender.signer = KeySigner(key)
	r, err := sender.Send(testCtx(t, 10*time.Second), &protocol.Awake{Type: protocol.TypeRunner}, bus.Destination{Queue: inbox.Name})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	id := "unsigned-" + uuid.NewString()
	body := []byte(`{"action":"awake","type":"runner","msg-id":"` + id + `"}`)
	if err := c.Publish(testCtx(t, 10*time.Second), Publishing{Key: inbox.Name, ContentType: protocol.ContentTypeJSON, Body: body, MessageID: id}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "the signed awake handled and the unsigned one refused", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(signedBy) == 1 && len(reasons) == 1
	})
	mu.Lock()
	if signedBy[0] != protocol.RoleRunner || reasons[0] != protocol.RefusedUnsigned {
		t.Errorf("signed by %v, refused %v; want runner, unsigned", signedBy, reasons)
	}
	mu.Unlock()
	testenv.WaitFor(t, 10*time.Second, "the inbox empty (the refusal acked)", func() bool {
		return queueLength(t, c, inbox.Name) == 0
	})
	if ids := deadLetterIDs(t, c); ids[id] {
		t.Errorf("the refused message was dead-lettered")
	}
}
