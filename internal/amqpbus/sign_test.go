package amqpbus

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
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
	startVerifyingBus(t, c, inbox, key, testLogger(t), func(re *protocol.RefusedError) {
		mu.Lock()
		reasons = append(reasons, re.Reason)
		mu.Unlock()
	}, func(b *Bus) {
		b.OnType(protocol.ActionAwake, func(_ context.Context, m bus.Message) {
			mu.Lock()
			signedBy = append(signedBy, m.SignedBy)
			mu.Unlock()
		})
	})

	sendSigned(t, newSigningBus(t, c, key), inbox.Name)
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

// startVerifyingBus runs a Bus on inbox that verifies with the runner key key, reports
// refusals to refused and logs to log; setup registers its handlers before it consumes.
func startVerifyingBus(t *testing.T, c *Conn, inbox QueueSpec, key []byte, log *slog.Logger, refused func(*protocol.RefusedError), setup func(*Bus)) *Bus {
	t.Helper()
	b, err := NewBus(testCtx(t, 10*time.Second), c, BusOptions{
		Inbox: inbox, Version: "test-1", Logger: log, OnRefused: refused,
		Verifier: &protocol.Verifier{Keys: []protocol.RoleKey{{Role: protocol.RoleRunner, Key: key}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	setup(b)
	done := make(chan error, 1)
	go func() { done <- b.Run(context.Background()) }()
	t.Cleanup(func() { b.Close(); <-done })
	return b
}

// newSigningBus is a Bus on c that signs what it sends with key.
func newSigningBus(t *testing.T, c *Conn, key []byte) *Bus {
	t.Helper()
	b := newBus(t, c, runnerInbox(), nil, nil)
	b.signer = KeySigner(key)
	return b
}

// sendSigned sends a runner awake from sender to queue and returns its msg-id.
func sendSigned(t *testing.T, sender *Bus, queue string) string {
	t.Helper()
	m := &protocol.Awake{Type: protocol.TypeRunner}
	r, err := sender.Send(testCtx(t, 10*time.Second), m, bus.Destination{Queue: queue})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	return m.MsgID
}

// refusalCounter counts refusals by reason.
type refusalCounter struct {
	mu       sync.Mutex
	byReason map[string]int
}

func (r *refusalCounter) add(re *protocol.RefusedError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byReason == nil {
		r.byReason = map[string]int{}
	}
	r.byReason[re.Reason]++
}

func (r *refusalCounter) count(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byReason[reason]
}

// TestRefusalsLoggedRateLimited: a flood of forged messages (unsigned, and signed with
// another key) is refused and counted one by one, but logged once per reason per
// refusalLogPeriod; the next line of a reason says how many it left unlogged.
func TestRefusalsLoggedRateLimited(t *testing.T) {
	const n = 40
	c := dial(t, Options{})
	key := []byte("bus-test-key-0123456789abcdef")
	var logs testenv.SyncBuffer
	log := slog.New(slog.NewTextHandler(io.MultiWriter(&logs, testenv.NewLogWriter(t)), nil))
	var refused refusalCounter
	inbox := runnerInbox()
	b := startVerifyingBus(t, c, inbox, key, log, refused.add, func(*Bus) {})
	forger := newSigningBus(t, c, []byte("not-the-bus-key-0123456789abcdef"))
	for range n {
		publishUnsigned(t, c, inbox.Name)
		sendSigned(t, forger, inbox.Name)
	}
	testenv.WaitFor(t, 10*time.Second, fmt.Sprintf("%d unsigned and %d badly signed messages refused", n, n), func() bool {
		return refused.count(protocol.RefusedUnsigned) == n && refused.count(protocol.RefusedBadSignature) == n
	})
	if lines := strings.Count(logs.String(), "refused a control message"); lines != 2 {
		t.Errorf("%d refusals logged %d lines, want 2 (one per reason)\n%s", 2*n, lines, logs.String())
	}
	// One period later (the clock of the rate limit moved back), the next refusal is
	// logged with the number the limit hid.
	b.refusals.mu.Lock()
	b.refusals.last[protocol.RefusedUnsigned] = time.Now().Add(-refusalLogPeriod)
	b.refusals.mu.Unlock()
	publishUnsigned(t, c, inbox.Name)
	testenv.WaitFor(t, 10*time.Second, "one more refusal", func() bool { return refused.count(protocol.RefusedUnsigned) == n+1 })
	if want := fmt.Sprintf("reason=unsigned err=\"missing [fc-action fc-msg-id fc-at fc-sig] headers\" not_logged_since=%d", n-1); !strings.Contains(logs.String(), want) {
		t.Errorf("the refusal after the period was not logged with %q:\n%s", want, logs.String())
	}
}

// publishUnsigned publishes an unsigned awake to queue.
func publishUnsigned(t *testing.T, c *Conn, queue string) {
	t.Helper()
	id := uuid.NewString()
	body := []byte(`{"action":"awake","type":"runner","msg-id":"` + id + `"}`)
	if err := c.Publish(testCtx(t, 10*time.Second), Publishing{Key: queue, ContentType: protocol.ContentTypeJSON, Body: body, MessageID: id}); err != nil {
		t.Fatal(err)
	}
}

// TestRedeliveryIsNotAReplay: a signed message the Bus received but had not processed
// when its connection dropped comes again (redelivered) and is accepted; one whose handler
// was running and finished is processed too, and its redelivery is refused as a replay.
// Each is processed exactly once. The inbox is durable (a Tron queue), so it keeps its
// messages across the lost connection.
func TestRedeliveryIsNotAReplay(t *testing.T) {
	c, pub := dial(t, Options{}), dial(t, Options{})
	key := []byte("bus-test-key-0123456789abcdef")
	inbox := TronQueue(queueName(t), protocol.QueueClassic)
	t.Cleanup(func() { rawChannel(t, pub).QueueDelete(inbox.Name, false, false, false) })
	var mu sync.Mutex
	processed := map[string]int{}
	var blocking string // the msg-id whose handler waits for release
	started, release := make(chan struct{}), make(chan struct{})
	var refused refusalCounter
	startVerifyingBus(t, c, inbox, key, testLogger(t), refused.add, func(b *Bus) {
		b.OnType(protocol.ActionAwake, func(_ context.Context, m bus.Message) {
			mu.Lock()
			processed[m.UUID]++
			first := m.UUID == blocking && processed[m.UUID] == 1
			mu.Unlock()
			if first {
				close(started)
				<-release
			}
		})
	})
	sender := newSigningBus(t, pub, key)
	mu.Lock()
	blocking = "awake-running-" + uuid.NewString()
	mu.Unlock()
	a := &protocol.Awake{Type: protocol.TypeRunner}
	a.MsgID = blocking
	if r, err := sender.Send(testCtx(t, 10*time.Second), a, bus.Destination{Queue: inbox.Name}); err != nil {
		t.Fatal(err)
	} else {
		r.Close()
	}
	<-started
	waiting := sendSigned(t, sender, inbox.Name)
	testenv.WaitFor(t, 10*time.Second, "the second message prefetched by the bus", func() bool {
		return queueLength(t, pub, inbox.Name) == 0
	})
	dropConnection(t, c) // both unacked: the broker requeues them
	close(release)
	testenv.WaitFor(t, 20*time.Second, "the waiting message processed and the running one's copy refused", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return processed[waiting] == 1 && refused.count(protocol.RefusedReplayed) == 1
	})
	testenv.WaitFor(t, 10*time.Second, "the inbox empty", func() bool { return queueLength(t, pub, inbox.Name) == 0 })
	mu.Lock()
	defer mu.Unlock()
	if processed[blocking] != 1 || processed[waiting] != 1 || len(processed) != 2 {
		t.Errorf("processed %v, want each of %s and %s once", processed, blocking, waiting)
	}
	for _, reason := range []string{protocol.RefusedUnsigned, protocol.RefusedBadSignature, protocol.RefusedStale, protocol.RefusedMismatch} {
		if n := refused.count(reason); n != 0 {
			t.Errorf("%d refused as %s", n, reason)
		}
	}
}
