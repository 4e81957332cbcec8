package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/testenv"
)

// TestFrontendRefusesForgedControl: the reproduction through a real nginx. With a
// frontend's broker credentials anyone can publish to a worker's inbox: a `die` unsigned,
// signed with another key, signed for another inbox, stale, replayed or without this
// worker's instance-id, and a forged `route`, change nothing: the worker keeps its table and
// keeps serving, and counts each refusal by reason. Then a genuine `die` still works.
//
// It is also the check that RabbitMQ's STOMP plugin carries the four fc-* headers both ways
// as they were sent: AMQP headers → STOMP MESSAGE headers (the worker verifies the fake
// Tron's signatures) and STOMP SEND headers → AMQP headers (the fake Tron verifies the
// worker's awake and heartbeats: "_signed").
func TestFrontendRefusesForgedControl(t *testing.T) {
	t.Parallel()
	f := startFrontend(t, frontendOptions{heartbeat: "0.2"})
	inbox, id := f.inbox(0), str(f.awakes[0]["instance-id"])
	if f.awakes[0]["_signed"] != true {
		t.Errorf("awake %v is not signed with the frontend key", f.awakes[0])
	}
	q := uniqueName("q")
	newRunner(t, q, fixed("still serving"))
	f.routeAll(t, msg{"path": "/", "queue": q})

	die := func() msg { return msg{"action": "die", "instance-id": id} }
	other := []byte("a-key-the-attacker-made-up-0123456789")
	f.tron.sendSigned(t, inbox, inbox, nil, die())
	f.tron.sendSigned(t, inbox, inbox, other, die())
	f.tron.sendSigned(t, inbox, "FRNTsome-other-worker", f.tron.key, die())
	stale := die()
	stale["at"] = time.Now().Add(-10 * time.Minute).UnixMilli()
	f.tron.send(t, inbox, stale)
	f.tron.send(t, inbox, msg{"action": "die"}) // signed, no instance-id
	f.tron.send(t, inbox, msg{"action": "die", "instance-id": id + "-not"})
	f.tron.sendSigned(t, inbox, inbox, nil, msg{"action": "route", "routes": []msg{}}) // would empty the table
	// A genuine tron-info, then the very same message again: a replay.
	ti := msg{"action": "tron-info", "msg-id": "ti-replayed", "at": time.Now().UnixMilli(), "tron-host": msg{"host": "tron.example", "port": 3000}}
	f.tron.send(t, inbox, ti)
	f.tron.send(t, inbox, ti)
	// Signed as msg-id "x", while the body says another: the headers are what was checked.
	f.tron.sendSignedAs(t, inbox, inbox, f.tron.key, "die-signed-as-x", msg{"action": "die", "instance-id": id, "msg-id": "die-in-the-body"})

	want := map[string]float64{"unsigned": 2, "bad-signature": 2, "stale": 1, "replayed": 1, "mismatch": 1}
	testenv.WaitFor(t, 10*time.Second, "every forgery counted by reason", func() bool {
		refused, _ := f.health(t)["refused"].(map[string]any)
		for reason, n := range want {
			if refused[reason] != n {
				return false
			}
		}
		return true
	})
	if h := f.health(t); h["stopped"] != false || h["connected"] != true || h["routes"] != float64(1) {
		t.Fatalf("after the forgeries: health %v, want connected, not stopped, 1 route", h)
	}
	if r := f.get(t, "/anything"); r.status != 200 || string(r.body) != "still serving" {
		t.Errorf("after the forgeries: %d %q, want 200 still serving", r.status, r.body)
	}
	f.tron.mu.Lock()
	for _, m := range f.tron.all {
		if m["action"] == "died" {
			t.Errorf("the worker said died after a forged die: %v", m)
		}
	}
	f.tron.mu.Unlock()
	// The genuine article.
	f.tron.send(t, inbox, die())
	f.tron.next(t, 5*time.Second, "died from "+inbox, from("died", inbox))
}

// TestFrontendRefusalsLoggedRateLimited: a flood of forged control messages to a worker's
// inbox is counted one by one in /__funcatron/health, but the error log gets one line for
// the reason in the 10 s period (REFUSAL_LOG_PERIOD of control.lua), not one per message.
func TestFrontendRefusalsLoggedRateLimited(t *testing.T) {
	t.Parallel()
	const n = 30
	f := startFrontend(t, frontendOptions{})
	inbox := f.inbox(0)
	for range n {
		f.tron.sendSigned(t, inbox, inbox, nil, msg{"action": "die", "instance-id": str(f.awakes[0]["instance-id"])})
	}
	testenv.WaitFor(t, 10*time.Second, fmt.Sprintf("%d unsigned messages counted", n), func() bool {
		refused, _ := f.health(t)["refused"].(map[string]any)
		return refused["unsigned"] == float64(n)
	})
	if lines := strings.Count(f.nginx.ErrorLog(), "refused a control message (unsigned)"); lines != 1 {
		t.Errorf("%d refusals logged %d lines, want 1\n%s", n, lines, f.nginx.ErrorLog())
	}
}
