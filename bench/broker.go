// Messages through the broker per request, from the broker's own counters.
//
// Which counters: RabbitMQ 3.9+ keeps global counters in its core (rabbit_global_counters,
// what the rabbitmq_prometheus plugin exports as rabbitmq_global_messages_*), and Debian's
// RabbitMQ 3.10 has them. `rabbitmqctl eval` reads them with no plugin enabled. The
// management plugin's /api/overview message_stats was the other way; it was not taken
// because its figures are rates sampled every 5 s by a statistics collector (a before/after
// pair lags by up to one interval), and the collector itself costs broker CPU, which would
// count in the broker's CPU per request the same table shows. STOMP publishes and
// deliveries count here too: the STOMP adapter runs its frames through AMQP channels, so
// they show up under protocol amqp091. Each rabbitmqctl call starts an Erlang VM (about
// 0.8 s of CPU), so the readings are taken outside a row's measured window.

package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/funcatron/funcatron/internal/servers"
)

// countersExpr sums every counter of the node over its protocol and queue-type labels and
// prints them on one line.
const countersExpr = `M = rabbit_global_counters:overview(),
S = fun(K) -> lists:sum([maps:get(K, V, 0) || V <- maps:values(M)]) end,
io:format("BENCHCOUNTERS ~b ~b ~b ~b~n", [S(messages_received_total), S(messages_routed_total),
  S(messages_delivered_total), S(messages_acknowledged_total)]).`

// brokerCounts are message counts of the broker nodes a path crosses.
type brokerCounts struct {
	Received  int64 `json:"published"` // messages published to the broker (STOMP SEND, AMQP basic.publish)
	Routed    int64 `json:"routed"`    // of those, routed to at least one queue
	Delivered int64 `json:"delivered"` // messages handed to a consumer (STOMP MESSAGE, basic.deliver, basic.get)
	Acked     int64 `json:"acked"`     // deliveries acknowledged by the consumer
}

func (c brokerCounts) minus(o brokerCounts) brokerCounts {
	return brokerCounts{c.Received - o.Received, c.Routed - o.Routed, c.Delivered - o.Delivered, c.Acked - o.Acked}
}

// readCounters sums the counters of nodes.
func readCounters(nodes []*servers.RabbitMQ) (brokerCounts, error) {
	var sum brokerCounts
	for _, n := range nodes {
		out, err := n.Ctl("", "eval", countersExpr)
		if err != nil {
			return sum, err
		}
		c, err := parseCounters(out)
		if err != nil {
			return sum, fmt.Errorf("node %s: %w", n.NodeName(), err)
		}
		sum = brokerCounts{sum.Received + c.Received, sum.Routed + c.Routed, sum.Delivered + c.Delivered, sum.Acked + c.Acked}
	}
	return sum, nil
}

// parseCounters reads countersExpr's line out of rabbitmqctl's output (which ends with the
// expression's value, ok).
func parseCounters(out string) (brokerCounts, error) {
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "BENCHCOUNTERS ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 4 {
			break
		}
		var v [4]int64
		for i, s := range f {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return brokerCounts{}, fmt.Errorf("counter %q: %w", s, err)
			}
			v[i] = n
		}
		return brokerCounts{v[0], v[1], v[2], v[3]}, nil
	}
	return brokerCounts{}, fmt.Errorf("no counters in rabbitmqctl's output %.200q", out)
}

// brokerUse is what one row cost the broker.
type brokerUse struct {
	Counts brokerCounts `json:"counts"` // during the measured run
	// MessagesPerRequest is (published + delivered) / requests: each message the broker
	// takes in and each it hands out. The catalogue path makes 4 (request in, request out
	// to the runner, answer in, answer out to the frontend); batching divides that.
	MessagesPerRequest float64 `json:"messages_per_request"`
	PublishedPerReq    float64 `json:"published_per_request"`
	DeliveredPerReq    float64 `json:"delivered_per_request"`
	AckedPerReq        float64 `json:"acked_per_request"`
	// CPUPerRequestUS is the broker's CPU (its processes in /proc) per request, in µs.
	CPUPerRequestUS float64 `json:"cpu_per_request_us"`
	Error           string  `json:"error,omitempty"`
}

func newBrokerUse(c brokerCounts, requests int64, cpu cpuUse) *brokerUse {
	n := float64(max(requests, 1))
	return &brokerUse{Counts: c, MessagesPerRequest: float64(c.Received+c.Delivered) / n,
		PublishedPerReq: float64(c.Received) / n, DeliveredPerReq: float64(c.Delivered) / n,
		AckedPerReq: float64(c.Acked) / n, CPUPerRequestUS: cpu.perRequestUS(groupBroker, requests)}
}
