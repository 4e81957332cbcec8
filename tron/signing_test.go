package tron

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

// refusedMetric is funcatron_tron_refused_messages_total{reason}.
func refusedMetric(t testing.TB, tr *Tron, reason string) float64 {
	t.Helper()
	c, err := tr.metrics.refused.GetMetricWithLabelValues(reason)
	if err != nil {
		t.Fatal(err)
	}
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.Counter.GetValue()
}

// publishToTron publishes body with headers to the Tron queue, as anyone on the broker can.
func publishToTron(t testing.TB, tr *Tron, headers amqp.Table, contentType string, body []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := dialBroker(t).Publish(ctx, amqpbus.Publishing{
		Key: tr.opts.TronQueue, ContentType: contentType, Body: body, Headers: headers, Persistent: true,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestForgedRunnerAwakeGetsNothing: the reproduction. A runner awake that the
// runner key did not sign (unsigned, another key, the frontend key, signed for another
// queue, stale) makes the Tron send nothing to the forger's inbox: no tron-info, no
// all-bundles, no enable with props and a signed download URL. Each is counted by reason.
func TestForgedRunnerAwakeGetsNothing(t *testing.T) {
	tr := startAMQPTron(t, nil)
	q := tr.opts.TronQueue
	sha := tr.upload(t, makeBundle(t, "", "/secret", "forged-awake"))
	if status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha, "props": map[string]any{"password": "hunter2"}}); status != 202 {
		t.Fatalf("enable = %d %v", status, res)
	}
	other := []byte("a-key-the-attacker-made-up-0123456789")
	forgers := []*fakeNode{
		amqpNodeWithKey(t, q, protocol.TypeRunner, "", protocol.EDN, nil, nil),
		amqpNodeWithKey(t, q, protocol.TypeRunner, "", protocol.EDN, other, nil),
		amqpNodeWithKey(t, q, protocol.TypeRunner, "", protocol.EDN, testFrontendKey, nil),
	}
	for _, f := range forgers {
		f.awake(t)
	}
	// Signed with the runner key, but for another queue, and a stale one: raw publishes.
	aw := func(at time.Time, signedFor string) {
		m := &protocol.Awake{Type: protocol.TypeRunner}
		protocol.Stamp(m, forgers[0].Inbox(), "forged")
		m.At = at.UnixMilli()
		body, _ := protocol.Encode(protocol.EDN, m)
		publishToTron(t, tr, signedTable(testRunnerKey, signedFor, "awake", m.MsgID, at, body), protocol.ContentTypeEDN, body)
	}
	aw(time.Now(), "RU-"+uuid.NewString())
	aw(time.Now().Add(-time.Hour), q)

	want := map[string]float64{protocol.RefusedUnsigned: 1, protocol.RefusedBadSignature: 2, protocol.RefusedStale: 1, protocol.RefusedRole: 1}
	testenv.WaitFor(t, 10*time.Second, "every forged awake refused and counted", func() bool {
		for reason, n := range want {
			if refusedMetric(t, tr, reason) != n {
				return false
			}
		}
		return true
	})
	// A genuine runner after them gets the bundle: the Tron handled the forgeries before.
	r := amqpNode(t, q, protocol.TypeRunner, "", protocol.EDN)
	r.awake(t)
	if e := r.expect(t, protocol.ActionEnable).Data.(*protocol.Enable); e.Props["password"] != "hunter2" {
		t.Errorf("the genuine runner's enable has props %v", e.Props)
	}
	for i, f := range forgers {
		for _, a := range []string{protocol.ActionTronInfo, protocol.ActionAllBundles, protocol.ActionEnable} {
			if n := f.pending(a); n != 0 {
				t.Errorf("forger %d got %d %s", i, n, a)
			}
		}
	}
	if got := tr.stats().Network; len(got) != 1 {
		t.Errorf("network = %v, want the genuine runner only", got)
	}
}

// TestReplayedAwakeIsRefused: a genuine runner awake, captured off the broker and
// published again, is a replay.
func TestReplayedAwakeIsRefused(t *testing.T) {
	tr := startAMQPTron(t, nil)
	inbox := "RU-" + uuid.NewString()
	m := &protocol.Awake{Type: protocol.TypeRunner}
	protocol.Stamp(m, inbox, "test")
	body, _ := protocol.Encode(protocol.EDN, m)
	headers := signedTable(testRunnerKey, tr.opts.TronQueue, "awake", m.MsgID, time.UnixMilli(m.At), body)
	publishToTron(t, tr, headers, protocol.ContentTypeEDN, body)
	testenv.WaitFor(t, 10*time.Second, "the runner known", func() bool { _, ok := tr.stats().Network[inbox]; return ok })
	publishToTron(t, tr, headers, protocol.ContentTypeEDN, body)
	testenv.WaitFor(t, 10*time.Second, "the replay counted", func() bool {
		return refusedMetric(t, tr, protocol.RefusedReplayed) == 1
	})
}

// capturedAwake is the 2017 frontend's awake, as captured off the broker
// (internal/protocol/testdata/captured/awake.json holds its body, byte for byte): unsigned.
func capturedAwake(t *testing.T) (inbox, instance string, body []byte) {
	t.Helper()
	body, err := os.ReadFile("../internal/protocol/testdata/captured/awake.json")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		From       string `json:"from"`
		InstanceID string `json:"instance-id"`
	}
	if err := json.Unmarshal(body, &c); err != nil || c.From == "" {
		t.Fatalf("captured awake: %v", err)
	}
	return c.From, c.InstanceID, body
}

// TestUnsignedFrontendsOnlyWithTheFlag: the 2017 frontend's captured awake is refused by
// default, and taken with --accept-unsigned-frontends: it gets its route table. An unsigned
// awake claiming a signed frontend's instance-id does not make the Tron send that one `die`.
func TestUnsignedFrontendsOnlyWithTheFlag(t *testing.T) {
	inbox, instance, body := capturedAwake(t)
	t.Run("refused by default", func(t *testing.T) {
		tr := startAMQPTron(t, nil)
		publishToTron(t, tr, nil, protocol.ContentTypeJSON, body)
		testenv.WaitFor(t, 10*time.Second, "the unsigned awake refused", func() bool {
			return refusedMetric(t, tr, protocol.RefusedUnsigned) == 1
		})
		if _, ok := tr.stats().Network[inbox]; ok {
			t.Error("the unsigned frontend joined")
		}
	})
	t.Run("accepted with --accept-unsigned-frontends", func(t *testing.T) {
		tr := startAMQPTron(t, func(o *Options) { o.AcceptUnsignedFrontends = true })
		signed := amqpNode(t, tr.opts.TronQueue, protocol.TypeFrontend, instance, protocol.JSON)
		signed.awake(t)
		signed.expect(t, protocol.ActionRoute)
		got := consumeInbox(t, inbox)
		publishToTron(t, tr, nil, protocol.ContentTypeJSON, body)
		select {
		case d := <-got:
			if d.Headers[protocol.HeaderSig] == nil {
				t.Errorf("%s to the 2017 frontend is not signed", d.Body)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the 2017 frontend got nothing within 10s")
		}
		if n := tr.stats().Network[inbox]; n.Type != protocol.TypeFrontend || n.InstanceID != instance {
			t.Errorf("network entry %+v, want the 2017 frontend", n)
		}
		if _, ok := tr.stats().Network[signed.Inbox()]; !ok || signed.pending(protocol.ActionDie) != 0 {
			t.Errorf("the signed frontend with the same instance-id was told to die or dropped")
		}
	})
}

// consumeInbox declares the exclusive inbox queue and returns its deliveries.
func consumeInbox(t *testing.T, queue string) <-chan amqp.Delivery {
	t.Helper()
	_, ch := testenv.AMQPChannel(t, broker.URL())
	if _, err := ch.QueueDeclare(queue, false, true, true, false, nil); err != nil {
		t.Fatal(err)
	}
	d, err := ch.Consume(queue, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
