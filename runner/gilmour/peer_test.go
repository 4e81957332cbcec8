package gilmour

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Gilmour peers written from the public protocol (research §1), not from any library.

// peerMsg is the envelope as a peer sees it.
type peerMsg struct {
	Data   any    `json:"data"`
	Code   int    `json:"code"`
	Sender string `json:"sender"`
}

// responder serves topic in group like a Go Gilmour process: SUBSCRIBE (PSUBSCRIBE when
// pattern), lock, answer(data) published on gilmour.response.<sender>; count counts the
// handler runs. delay slows each answer. It returns once subscribed.
type responder struct {
	topic, group string
	answer       func(data any) (any, int)
	raw          func(sender string) string // a payload published as is instead
	delay        time.Duration
	count        atomic.Int64
	rubySender   bool // answer with a random sender, as Ruby does
}

func (p *responder) start(t testing.TB, rdb *redis.Client, channel string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ps := rdb.Subscribe(ctx, channel)
	if _, err := ps.Receive(ctx); err != nil { // the subscribe confirmation
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); ps.Close() })
	go func() {
		for m := range ps.Channel() {
			var req peerMsg
			if json.Unmarshal([]byte(m.Payload), &req) != nil {
				continue
			}
			go p.handle(ctx, rdb, req)
		}
	}()
}

func (p *responder) handle(ctx context.Context, rdb *redis.Client, req peerMsg) {
	if p.group != "" {
		key := req.Sender + p.group
		if ok, _ := rdb.SetNX(ctx, key, key, 600*time.Second).Result(); !ok {
			return
		}
	}
	p.count.Add(1)
	if p.delay > 0 { // a slow responder: it answers after delay, or never if the test ends
		select {
		case <-time.After(p.delay):
		case <-ctx.Done():
			return
		}
	}
	var payload string
	if p.raw != nil {
		payload = p.raw(req.Sender)
	} else {
		data, code := req.Data, 200
		if p.answer != nil {
			data, code = p.answer(req.Data)
		}
		sender := "gilmour.response." + req.Sender
		if p.rubySender {
			sender = uuid.NewString()
		}
		b, _ := json.Marshal(peerMsg{Data: data, Code: code, Sender: sender})
		payload = string(b)
	}
	rdb.Publish(ctx, "gilmour.response."+req.Sender, payload)
}

// request is a Gilmour requester: NUMSUB, subscribe (waiting for the confirmation),
// publish {data, code, sender}, first response or timeout (ok false). A publish that
// reached nobody returns at once with ok false and code -1.
func request(t testing.TB, rdb *redis.Client, channel string, env peerMsg, timeout time.Duration) (peerMsg, string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if env.Sender == "" {
		env.Sender = uuid.NewString()
	}
	ps := rdb.Subscribe(ctx, "gilmour.response."+env.Sender)
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(env)
	n, err := rdb.Publish(ctx, channel, b).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		return peerMsg{Code: -1}, "", false
	}
	m, err := ps.ReceiveMessage(ctx)
	if err != nil {
		return peerMsg{}, "", false
	}
	var got peerMsg
	if err := json.Unmarshal([]byte(m.Payload), &got); err != nil {
		t.Fatalf("response %q is not JSON: %v", m.Payload, err)
	}
	return got, m.Payload, true
}

// numsub is PUBSUB NUMSUB of one channel.
func numsub(rdb *redis.Client, channel string) int64 {
	n, _ := rdb.PubSubNumSub(context.Background(), channel).Result()
	return n[channel]
}
