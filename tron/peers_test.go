package tron

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

// routeOn waits up to within for a route message on an inbox, skipping other actions.
func routeOn(t *testing.T, got <-chan amqp.Delivery, within time.Duration) (raw []byte, ok bool) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case d := <-got:
			if bytes.Contains(d.Body, []byte(`"action":"route"`)) {
				return d.Body, true
			}
		case <-deadline:
			return nil, false
		}
	}
}

// TestLateSubscriberGetsRouteTable plays the 2017 frontend (issue 14 b): it sends its awake
// (the captured one) before it subscribes to its inbox, so the table sent in reply is lost,
// and it never acks. Each of its heartbeats then gets the current table within one
// heartbeat period, and a host-less bundle is in it with "host": null (issue 14 a), with
// the table's version.
func TestLateSubscriberGetsRouteTable(t *testing.T) {
	tr := startAMQPTron(t, func(o *Options) { o.AcceptUnsignedFrontends = true })
	sha := tr.upload(t, makeBundle(t, "", "/anyhost", "late-subscriber"))
	if status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha}); status != 202 {
		t.Fatalf("enable = %d %v", status, res)
	}
	_, _, awake := capturedAwake(t)
	inbox := protocol.FrontendInboxPrefix + uuid.NewString()
	awake = bytes.ReplaceAll(awake, []byte("FRNT41c01e80-c693-4dc5-8cdd-4dfd9b3d4d2e"), []byte(inbox))
	publishToTron(t, tr, nil, protocol.ContentTypeJSON, awake)
	testenv.WaitFor(t, 10*time.Second, "the 2017 frontend is a member", func() bool { _, ok := tr.stats().Network[inbox]; return ok })

	got := consumeInbox(t, inbox) // subscribes only now, as the 2017 frontend does
	heartbeat := []byte(`{"host_info":{"host":"localhost","port":"80"},"action":"heartbeat","from":"` + inbox + `"}`)
	for i := 0; i < 2; i++ { // it never acks: every heartbeat gets the table
		publishToTron(t, tr, nil, protocol.ContentTypeJSON, heartbeat)
		raw, ok := routeOn(t, got, tr.opts.HeartbeatPeriod)
		if !ok {
			t.Fatalf("heartbeat %d: no route table within one heartbeat period (%v)", i+1, tr.opts.HeartbeatPeriod)
		}
		var m struct {
			Routes       []map[string]any `json:"routes"`
			TableVersion uint64           `json:"table-version"`
		}
		if err := json.Unmarshal(raw, &m); err != nil || len(m.Routes) != 1 {
			t.Fatalf("route message %s: %v", raw, err)
		}
		if h, present := m.Routes[0]["host"]; !present || h != nil {
			t.Errorf("host-less route sent with host %#v (present %v), want null: %s", h, present, raw)
		}
		if m.TableVersion == 0 || m.TableVersion != tr.state.TableVersion {
			t.Errorf("table-version %d, want the Tron's %d", m.TableVersion, tr.state.TableVersion)
		}
	}
}

// TestAckedTableIsNotResent: a frontend that acked the current table gets only tron-info
// with its heartbeats; after a change it acks nothing, and its next heartbeat gets the new
// table again.
func TestAckedTableIsNotResent(t *testing.T) {
	tr := startAMQPTron(t, nil)
	f := amqpNode(t, tr.opts.TronQueue, protocol.TypeFrontend, "acker-0", protocol.JSON)
	f.awake(t)
	f.expect(t, protocol.ActionTronInfo)
	f.ack(t, f.expect(t, protocol.ActionRoute), protocol.AckOK, "")
	for i := 0; i < 2; i++ { // the second tron-info comes after any route the first heartbeat caused
		f.heartbeat(t)
		f.expect(t, protocol.ActionTronInfo)
	}
	if n := f.pending(protocol.ActionRoute); n != 0 {
		t.Fatalf("an acked table was sent again %d times", n)
	}
	sha := tr.upload(t, makeBundle(t, "h.example", "/x", "acked"))
	if status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha}); status != 202 {
		t.Fatalf("enable = %d %v", status, res)
	}
	first := f.expect(t, protocol.ActionRoute) // the broadcast, not acked
	f.heartbeat(t)
	again := f.expect(t, protocol.ActionRoute)
	if r := again.Data.(*protocol.Route); r.TableVersion != first.Data.(*protocol.Route).TableVersion || len(r.Routes) != 1 || r.Routes[0].Host != "h.example" {
		t.Errorf("re-sent table %+v, want the broadcast one", r)
	}
}
