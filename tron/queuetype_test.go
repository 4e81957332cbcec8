package tron

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
)

// TestAMQPQuorumQueueType: with --queue-type quorum (on a node of its own: the shared one's
// funcatron.dead is classic, and a queue keeps its type) the Tron declares its queue,
// funcatron.dead and the route queue as quorum queues, and its enable carries queue-type, with
// which a runner declares the route queue exactly as the Tron did: no PRECONDITION_FAILED,
// where a classic declaration of it is refused.
func TestAMQPQuorumQueueType(t *testing.T) {
	node := testenv.StartRabbitMQ(t)
	tr := startAMQPTron(t, func(o *Options) {
		o.RabbitURL = node.URL()
		o.QueueType = protocol.QueueQuorum
	})
	conn := dialURL(t, node.URL())
	r := amqpNodeOn(t, conn, tr.opts.TronQueue, protocol.TypeRunner, "", protocol.EDN, testRunnerKey, testRunnerKey)
	r.awake(t)
	r.expect(t, protocol.ActionAllBundles)
	sha := tr.upload(t, makeBundle(t, "q.example", "/quorum", "v1"))
	enabled := make(chan int, 1)
	go func() {
		status, _ := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha})
		enabled <- status
	}()
	m := r.expect(t, protocol.ActionEnable)
	r.ack(t, m, protocol.AckOK, "")
	if status := <-enabled; status != 200 {
		t.Fatalf("enable = %d, want 200", status)
	}
	en := m.Data.(*protocol.Enable)
	if en.QueueType != protocol.QueueQuorum {
		t.Fatalf("enable carries queue-type %q, want quorum", en.QueueType)
	}

	queue := protocol.RouteQueue("q.example", "/quorum")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Declare(ctx, amqpbus.RouteQueue(queue, en.QueueType)); err != nil {
		t.Errorf("declaring the route queue as the runner does (queue-type %s): %v", en.QueueType, err)
	}
	types := queueTypes(t, node)
	for _, q := range []string{queue, tr.opts.TronQueue, protocol.DeadLetterQueue} {
		if types[q] != "quorum" {
			t.Errorf("queue %s is %q, want quorum (all: %v)", q, types[q], types)
		}
	}
	err := dialURL(t, node.URL()).Declare(ctx, amqpbus.RouteQueue(queue, protocol.QueueClassic))
	var ae *amqp.Error
	if !errors.As(err, &ae) || ae.Code != amqp.PreconditionFailed {
		t.Errorf("a classic declaration of the quorum route queue = %v, want PRECONDITION_FAILED", err)
	}
}

// queueTypes is each queue's type, as rabbitmqctl list_queues says.
func queueTypes(t *testing.T, node *servers.RabbitMQ) map[string]string {
	t.Helper()
	out, err := node.Ctl("", "list_queues", "--quiet", "--no-table-headers", "name", "type")
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			types[f[0]] = f[1]
		}
	}
	return types
}

// TestQuorumRoutesCountRunnersFromHeartbeats: with quorum queues the Tron counts a route's
// runners from their heartbeats (a passive declare of a quorum queue counts unacked messages
// as consumers on RabbitMQ 3.10): a runner that says it serves the route makes it served, one
// dropped as silent makes it unserved, and the frontends are told.
func TestQuorumRoutesCountRunnersFromHeartbeats(t *testing.T) {
	tr := startMemTron(t, func(o *Options) {
		o.QueueType = protocol.QueueQuorum
		o.HeartbeatPeriod = 200 * time.Millisecond
		o.EnableWait = 300 * time.Millisecond
	})
	r := tr.node(t, protocol.TypeRunner, "RU-q", "", protocol.EDN)
	f := tr.node(t, protocol.TypeFrontend, "FRNT-q", "f", protocol.JSON)
	r.awake(t)
	f.awake(t)
	f.expect(t, protocol.ActionRoute)
	sha := tr.upload(t, makeBundle(t, "", "/q", "x"))
	done := r.ackNext(t, protocol.ActionEnable, protocol.AckOK, "")
	if status, res := tr.api(t, "POST", "/api/v1/enable", map[string]any{"sha": sha}); status != 200 {
		t.Fatalf("enable = %d %v", status, res)
	}
	<-done
	queue := protocol.RouteQueue("", "/q")
	// The frontend heartbeats every 100 ms, half a period, to stay known. Not at every poll:
	// it never acks, so each heartbeat brings the table again, and 100 of them unread fill
	// its inbox, whose handler then blocks the Tron's sends (the test failed so whenever the
	// first count took a whole servedPeriod).
	last := time.Now()
	frontendAlive := func() {
		if time.Since(last) > 100*time.Millisecond {
			f.heartbeat(t)
			last = time.Now()
		}
	}
	testenv.WaitFor(t, 5*time.Second, "the route served by its runner", func() bool {
		r.tell(t, &protocol.Heartbeat{Type: protocol.TypeRunner, Routes: []protocol.RouteEntry{{SHA: sha, Queue: queue}}})
		frontendAlive()
		rs := tr.currentRoutes()
		return len(rs) == 1 && rs[0].Runners != nil && *rs[0].Runners == 1
	})
	// the runner goes silent: dropped after 3 periods, and the route is unserved (the
	// frontend keeps heartbeating, so it stays known and is told)
	testenv.WaitFor(t, 5*time.Second, "a route table saying runners 0", func() bool {
		frontendAlive()
		for {
			select {
			case m := <-f.got[protocol.ActionRoute]:
				if rs := m.Data.(*protocol.Route).Routes; len(rs) == 1 && rs[0].Runners != nil && *rs[0].Runners == 0 {
					return true
				}
			default:
				return false
			}
		}
	})
}
