// Signing and verifying control messages on a Bus (spec/protocol.md §7). The rules and the
// keys live outside this package (internal/protocol, the daemons): a Bus only asks its
// Signer for the headers of each message it sends and its Verifier about each it receives.

package amqpbus

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/protocol"
)

// Signer gives the transport headers that sign one message (body, encoded for to) for
// its destination. protocol.SignHeaders computes them; the Signer picks the key.
type Signer interface {
	Sign(to bus.Destination, h *protocol.Header, body []byte) (map[string]string, error)
}

// Verifier checks received messages; *protocol.Verifier is one.
type Verifier interface {
	// Verify runs before the body is decoded; an error refuses the message.
	Verify(queue, routingKey string, header func(string) string, body []byte) (protocol.Verified, error)
	// Matches runs after decoding: the body must repeat the signed headers.
	Matches(v protocol.Verified, h *protocol.Header) error
	// Processed is told once the handlers ran: the message may not come again.
	Processed(v protocol.Verified)
}

// signTable returns the signer's headers for one destination as an AMQP table of strings
// (RabbitMQ's STOMP plugin hands string headers to STOMP clients as they are).
func signTable(s Signer, to bus.Destination, h *protocol.Header, body []byte) (amqp.Table, error) {
	if s == nil {
		return nil, nil
	}
	hs, err := s.Sign(to, h, body)
	if err != nil {
		return nil, fmt.Errorf("signing %s to %q: %w", h.Action, to.Queue, err)
	}
	t := make(amqp.Table, len(hs))
	for k, v := range hs {
		t[k] = v
	}
	return t, nil
}

// headerReader reads a delivery's headers as strings ("" when absent or not a string).
func headerReader(t amqp.Table) func(string) string {
	return func(name string) string {
		switch v := t[name].(type) {
		case string:
			return v
		case []byte:
			return string(v)
		}
		return ""
	}
}

// routingKeyOf is the queue a delivery was addressed to, when the default exchange says it.
func routingKeyOf(d *Delivery) string {
	if d.Exchange == "" {
		return d.RoutingKey
	}
	return ""
}

// rateLog logs a refusal at most once per period per reason, with the number left unlogged.
type rateLog struct {
	mu     sync.Mutex
	last   map[string]time.Time
	hidden map[string]int
}

const refusalLogPeriod = 10 * time.Second

func (r *rateLog) warn(log *slog.Logger, re *protocol.RefusedError, attrs ...any) {
	r.mu.Lock()
	if r.last == nil {
		r.last, r.hidden = map[string]time.Time{}, map[string]int{}
	}
	now := time.Now()
	if now.Sub(r.last[re.Reason]) < refusalLogPeriod {
		r.hidden[re.Reason]++
		r.mu.Unlock()
		return
	}
	hidden := r.hidden[re.Reason]
	r.last[re.Reason], r.hidden[re.Reason] = now, 0
	r.mu.Unlock()
	log.Warn("refused a control message (dropped; logged at most every 10s per reason)",
		append([]any{"reason", re.Reason, "err", re.Msg, "not_logged_since", hidden}, attrs...)...)
}

// KeySigner signs every message with one key (a runner: the runner key for all it sends).
type KeySigner []byte

// Sign implements Signer.
func (k KeySigner) Sign(to bus.Destination, h *protocol.Header, body []byte) (map[string]string, error) {
	return protocol.SignHeaders(k, to.Queue, h, body), nil
}
