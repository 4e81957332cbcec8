package amqpbus

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

// idSet is a set of message ids shared by a test and its publisher and consumer.
type idSet struct {
	mu  sync.Mutex
	ids map[string]int
}

func (s *idSet) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = make(map[string]int)
	}
	s.ids[id]++
}

func (s *idSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

// missing lists the ids of s that other lacks.
func (s *idSet) missing(other *idSet) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	other.mu.Lock()
	defer other.mu.Unlock()
	var out []string
	for id := range s.ids {
		if other.ids[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

func (s *idSet) duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.ids {
		n += c - 1
	}
	return n
}

// streamPublisher publishes persistent messages 0, 1, 2, ... to a queue, one every tick,
// each with its own deadline, and records what the broker confirmed.
type streamPublisher struct {
	confirmed idSet
	failures  atomic.Int32
	slowest   atomic.Int64 // nanoseconds of the slowest Publish call
	stop      chan struct{}
	stopOnce  sync.Once
	done      chan struct{}
}

const streamPublishTimeout = time.Second

func startStream(c *Conn, queue string) *streamPublisher {
	p := &streamPublisher{stop: make(chan struct{}), done: make(chan struct{})}
	go p.run(c, queue)
	return p
}

func (p *streamPublisher) run(c *Conn, queue string) {
	defer close(p.done)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		id := strconv.Itoa(i)
		ctx, cancel := context.WithTimeout(context.Background(), streamPublishTimeout)
		start := time.Now()
		err := c.Publish(ctx, Publishing{Key: queue, Body: []byte(id), MessageID: id, Persistent: true, Mandatory: true})
		cancel()
		if took := int64(time.Since(start)); took > p.slowest.Load() {
			p.slowest.Store(took)
		}
		if err != nil {
			p.failures.Add(1)
			continue
		}
		p.confirmed.add(id)
	}
}

func (p *streamPublisher) halt() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
}

// TestBrokerRestartMidStream keeps a publisher and a consumer running on two connections
// while the broker goes down (cleanly, then with kill -9) and comes back on the same
// ports and data: both reconnect by themselves, every confirmed message is consumed,
// durable queues keep their persistent messages, publishes during the outage fail within
// their deadline, and the Bus's exclusive inbox and its Tron queue serve again.
func TestBrokerRestartMidStream(t *testing.T) {
	outages := []struct {
		name string
		down func()
	}{
		{"stop and start", broker.Stop},
		{"kill -9 and start", broker.Kill},
	}
	for _, o := range outages {
		t.Run(o.name, func(t *testing.T) {
			t.Cleanup(func() { _ = broker.Start() }) // leave a broker to the next tests, even on failure
			pubConn := dial(t, Options{Name: "publisher", MaxBackoff: 500 * time.Millisecond})
			subConn := dial(t, Options{Name: "consumer", MaxBackoff: 500 * time.Millisecond})
			ctx := testCtx(t, 60*time.Second)

			q := RouteQueue(queueName(t), protocol.QueueClassic)
			parked := RouteQueue(queueName(t), protocol.QueueClassic)
			if err := pubConn.Declare(ctx, q, parked); err != nil {
				t.Fatalf("Declare: %v", err)
			}
			const nParked = 20
			for i := range nParked {
				if err := pubConn.Publish(ctx, Publishing{Key: parked.Name, Body: []byte{byte(i)}, Persistent: true, Mandatory: true}); err != nil {
					t.Fatalf("Publish parked: %v", err)
				}
			}
			tron := newBus(t, subConn, TronQueue(queueName(t), protocol.QueueClassic), nil, ackAwakes)
			runner := newBus(t, subConn, runnerInbox(), nil, nil)
			sendAwake(t, ctx, runner, tron)

			var consumed idSet
			consume(t, subConn, ConsumeSpec{Queue: q, Prefetch: 20}, func(ctx context.Context, d *Delivery) {
				consumed.add(d.MessageID)
				d.Settle(Ack)
			})
			pub := startStream(pubConn, q.Name)
			defer pub.halt()
			testenv.WaitFor(t, 10*time.Second, "traffic before the outage", func() bool { return consumed.len() >= 100 })

			o.down()
			testenv.WaitFor(t, 10*time.Second, "both connections to notice", func() bool { return !pubConn.Connected() && !subConn.Connected() })
			failed := pub.failures.Load()
			testenv.WaitFor(t, 10*time.Second, "a publish to fail during the outage", func() bool { return pub.failures.Load() > failed })
			if err := broker.Start(); err != nil {
				t.Fatalf("starting the broker again: %v", err)
			}
			testenv.WaitFor(t, 20*time.Second, "both connections back", func() bool { return pubConn.Connected() && subConn.Connected() })
			mark := pub.confirmed.len()
			testenv.WaitFor(t, 20*time.Second, "traffic after the outage", func() bool { return pub.confirmed.len() >= mark+100 })
			pub.halt()

			testenv.WaitFor(t, 20*time.Second, "every confirmed message to be consumed", func() bool {
				return len(pub.confirmed.missing(&consumed)) == 0
			})
			if slowest := time.Duration(pub.slowest.Load()); slowest > streamPublishTimeout+time.Second {
				t.Errorf("a Publish took %s with a %s deadline", slowest, streamPublishTimeout)
			}
			if n := queueLength(t, pubConn, parked.Name); n != nParked {
				t.Errorf("durable queue holds %d persistent messages after the outage, want %d", n, nParked)
			}
			sendAwake(t, ctx, runner, tron)
			t.Logf("confirmed %d, consumed %d (%d redeliveries), %d publishes failed during the outage, slowest publish %s",
				pub.confirmed.len(), consumed.len(), consumed.duplicates(), pub.failures.Load(), time.Duration(pub.slowest.Load()))
		})
	}
}

// sendAwake sends an awake from runner to tron until an ack comes back (right after a
// reconnect, the runner's inbox may not be re-declared yet, and the ack is unroutable).
func sendAwake(t testing.TB, ctx context.Context, runner, tron *Bus) {
	t.Helper()
	testenv.WaitFor(t, 20*time.Second, "an ack from the Tron", func() bool {
		r, err := runner.Send(ctx, &protocol.Awake{Type: protocol.TypeRunner},
			bus.Destination{Queue: tron.Inbox(), Codec: protocol.EDN, Persistent: true})
		if err != nil {
			return false
		}
		defer r.Close()
		return r.WaitUntil(2*time.Second, func(m bus.Message) bool { return m.Type == protocol.ActionAck }) == nil
	})
}
