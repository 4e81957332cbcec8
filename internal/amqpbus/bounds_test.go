package amqpbus

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/protocol"
)

// TestBusBoundedMessages: a body over MaxMessageBytes and a deeply nested EDN body are
// dead-lettered without being decoded, reported with their code, and the bus keeps serving.
func TestBusBoundedMessages(t *testing.T) {
	c := dial(t, Options{})
	deadLetterIDs(t, c) // start from an empty funcatron.dead
	ctx := testCtx(t, 20*time.Second)
	codes := make(chan protocol.Code, 4)
	heartbeats := make(chan bus.Message, 1)
	b, err := NewBus(ctx, c, BusOptions{Inbox: runnerInbox(), Logger: testLogger(t), MaxMessageBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	b.OnUndecodable(func(err error) {
		var pe *protocol.Error
		errors.As(err, &pe)
		codes <- pe.Code
	})
	b.OnType(protocol.ActionHeartbeat, func(_ context.Context, m bus.Message) { heartbeats <- m })
	go b.Run(context.Background())
	t.Cleanup(func() { b.Close() })

	big := `{:action "heartbeat" :type "runner" :junk "` + strings.Repeat("x", 4096) + `"}`
	deep := `{:action "heartbeat" :type "runner" :junk ` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`
	for _, p := range []Publishing{
		{MessageID: "too-large", ContentType: protocol.ContentTypeEDN, Body: []byte(big)},
		{MessageID: "too-deep", ContentType: protocol.ContentTypeEDN, Body: []byte(deep)},
		{MessageID: "fine", ContentType: protocol.ContentTypeEDN, Body: []byte(`{:action "heartbeat" :type "runner"}`)},
	} {
		p.Key, p.Mandatory = b.Inbox(), true
		if err := c.Publish(ctx, p); err != nil {
			t.Fatalf("Publish %s: %v", p.MessageID, err)
		}
	}
	select {
	case <-heartbeats:
	case <-ctx.Done():
		t.Fatal("the bus stopped serving after the refused messages")
	}
	if got := []protocol.Code{<-codes, <-codes}; got[0] != protocol.CodeTooLarge || got[1] != protocol.CodeTooDeep {
		t.Errorf("refused with %v, want [%s %s]", got, protocol.CodeTooLarge, protocol.CodeTooDeep)
	}
	deadLetter(t, c, "too-large")
	deadLetter(t, c, "too-deep")
}
