// Package rtconfig is run-time configuration over funcatron.configuration (spec/protocol.md
// §5, after RackHD): a `methods.get` or `methods.set` request published to the topic
// exchange with AMQP reply_to + correlation_id is answered by every node bound to it (each
// Tron and runner), on the requester's queue. Requests and answers are signed with the
// runner key like control messages (spec/protocol.md §7): only the Tron and runners hold it.
//
// Decisions where the spec is silent:
//   - Bodies are JSON: {action: "config-get" | "config-set", msg-id, at, version, from,
//     key?, value?, nodes?} and the answer {action: "config-answer", node, component,
//     values, ok, error?}; values are strings (log-level: a level name; statsd: "host:port"
//     or "off").
//   - The signed destination of a request is "funcatron.configuration/<routing key>" (it
//     reaches many queues); of an answer, the queue it is sent to.
//   - `nodes`, when given, names the nodes (their ids) that are to act and answer; the
//     others ignore the request.
//   - Each node consumes an exclusive, auto-deleted queue of its own (runner:
//     RU-<uuid>.config; Tron: TR-<uuid>.config) bound with `methods.*`; the Tron's is also
//     where answers to its requests arrive.
package rtconfig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/protocol"
)

// The routing keys of funcatron.configuration, and the actions of its bodies.
const (
	MethodGet    = "methods.get"
	MethodSet    = "methods.set"
	ActionGet    = "config-get"
	ActionSet    = "config-set"
	ActionAnswer = "config-answer"
)

// The configuration keys every node knows.
const (
	KeyLogLevel = "log-level"
	KeyStatsd   = "statsd"
)

// Request is a methods.get (Key ignored: every value) or methods.set (Key, Value) request.
type Request struct {
	protocol.Header
	Key   string   `json:"key,omitempty"`
	Value string   `json:"value,omitempty"`
	Nodes []string `json:"nodes,omitempty"`
}

// Answer is one node's answer: its current values (after a set: with the new one), and
// whether a set was taken.
type Answer struct {
	protocol.Header
	Node      string            `json:"node"`
	Component string            `json:"component"`
	Values    map[string]string `json:"values"`
	OK        bool              `json:"ok"`
	Error     string            `json:"error,omitempty"`
}

// Node is what a node exposes: its id and component, its values, and a setter that
// validates and applies one value (an error says why it was not taken).
type Node struct {
	ID, Component string
	Get           func() map[string]string
	Set           func(key, value string) error
}

// Endpoint serves a node's configuration and, for the Tron, makes requests.
type Endpoint struct {
	conn     *amqpbus.Conn
	key      []byte
	queue    string
	node     Node
	log      *slog.Logger
	verifier *protocol.Verifier
	refused  func(reason string)

	mu    sync.Mutex
	calls map[string]chan Answer // by correlation id
}

// NewEndpoint is the endpoint of node on conn, consuming queue, signing and verifying
// with the runner key; refused (may be nil) counts refused messages by reason.
func NewEndpoint(conn *amqpbus.Conn, key []byte, queue string, node Node, log *slog.Logger, refused func(string)) *Endpoint {
	return &Endpoint{
		conn: conn, key: key, queue: queue, node: node, log: log, refused: refused,
		verifier: &protocol.Verifier{Keys: []protocol.RoleKey{{Role: protocol.RoleRunner, Key: key}}},
		calls:    map[string]chan Answer{},
	}
}

// QueueSpec is a node's configuration queue: exclusive, deleted with its connection,
// bound to funcatron.configuration for both methods.
func QueueSpec(name string) amqpbus.QueueSpec {
	return amqpbus.QueueSpec{Name: name, Exclusive: true, AutoDelete: true,
		Bindings: []amqpbus.Binding{{Exchange: protocol.ConfigurationExchange, Key: "methods.*"}}}
}

// Run consumes the endpoint's queue until ctx ends.
func (e *Endpoint) Run(ctx context.Context) error {
	spec := amqpbus.ConsumeSpec{Queue: QueueSpec(e.queue), Prefetch: 8, Sequential: true}
	return e.conn.Consume(ctx, spec, func(ctx context.Context, d *amqpbus.Delivery) {
		defer d.Settle(amqpbus.Ack)
		if d.Exchange == protocol.ConfigurationExchange {
			e.serve(ctx, d)
			return
		}
		e.answered(d)
	})
}

// maxBodyBytes bounds a configuration request or answer, checked before anything reads
// the body: they are a few hundred bytes (a handful of short string values), and a
// forged 16 MiB one would cost every node an HMAC over it.
const maxBodyBytes = 64 << 10

// verify checks a delivery for dest and decodes its JSON body into v; a refusal is
// counted and logged.
func (e *Endpoint) verify(d *amqpbus.Delivery, dest string, h *protocol.Header, v any) (protocol.Verified, bool) {
	vd, err := e.check(d, dest, h, v)
	if err != nil {
		reason := "undecodable"
		if re := protocol.Refusal(err); re != nil {
			reason = re.Reason
		}
		if e.refused != nil {
			e.refused(reason)
		}
		e.log.Warn("configuration message refused", "reason", reason, "err", err)
		return vd, false
	}
	return vd, true
}

// check is the order of every consumer (spec/protocol.md §7): the size, the signature,
// then the bounded decode (protocol.Unmarshal), and the body must repeat the headers.
func (e *Endpoint) check(d *amqpbus.Delivery, dest string, h *protocol.Header, v any) (protocol.Verified, error) {
	if err := protocol.CheckSize(d.Body, maxBodyBytes); err != nil {
		return protocol.Verified{}, err
	}
	header := func(name string) string { s, _ := d.Headers[name].(string); return s }
	vd, err := e.verifier.Verify(dest, "", header, d.Body)
	if err != nil {
		return vd, err
	}
	if err := protocol.Unmarshal(protocol.JSON, d.Body, v); err != nil {
		return vd, err
	}
	return vd, e.verifier.Matches(vd, h)
}

// serve answers one request.
func (e *Endpoint) serve(ctx context.Context, d *amqpbus.Delivery) {
	var req Request
	vd, ok := e.verify(d, protocol.ConfigurationExchange+"/"+d.RoutingKey, &req.Header, &req)
	if !ok || d.ReplyTo == "" || !e.addressed(req.Nodes) {
		return
	}
	e.verifier.Processed(vd)
	ans := &Answer{Node: e.node.ID, Component: e.node.Component, OK: true}
	if d.RoutingKey == MethodSet {
		if err := e.node.Set(req.Key, req.Value); err != nil {
			ans.OK, ans.Error = false, err.Error()
		} else {
			e.log.Info("configuration changed", "key", req.Key, "value", req.Value, "by", req.From)
		}
	}
	ans.Values = e.node.Get()
	ans.Action = ActionAnswer
	if err := e.publish(ctx, "", d.ReplyTo, d.CorrelationID, &ans.Header, ans); err != nil {
		e.log.Warn("answering a configuration request", "to", d.ReplyTo, "err", err)
	}
}

func (e *Endpoint) addressed(nodes []string) bool {
	if len(nodes) == 0 {
		return true
	}
	for _, n := range nodes {
		if n == e.node.ID {
			return true
		}
	}
	return false
}

// answered hands an answer to the call waiting for it.
func (e *Endpoint) answered(d *amqpbus.Delivery) {
	var a Answer
	if _, ok := e.verify(d, e.queue, &a.Header, &a); !ok {
		return
	}
	e.mu.Lock()
	ch := e.calls[d.CorrelationID]
	e.mu.Unlock()
	if ch != nil {
		select {
		case ch <- a:
		default: // more answers than expected: the call has what it waits for
		}
	}
}

// publish signs and publishes body (whose common fields are h) with the exchange and key.
func (e *Endpoint) publish(ctx context.Context, exchange, key, corr string, h *protocol.Header, v any) error {
	h.MsgID, h.At, h.From = uuid.NewString(), time.Now().UnixMilli(), e.queue
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dest := key
	if exchange != "" {
		dest = exchange + "/" + key
	}
	hs := protocol.SignHeaders(e.key, dest, h, body)
	t := make(map[string]any, len(hs))
	for k, v := range hs {
		t[k] = v
	}
	return e.conn.Publish(ctx, amqpbus.Publishing{
		Exchange: exchange, Key: key, ContentType: protocol.ContentTypeJSON, Body: body,
		ReplyTo: e.queue, CorrelationID: corr, Headers: t, MessageID: h.MsgID,
	})
}

// ErrNoAnswer is Call's error when no node answered in time.
var ErrNoAnswer = errors.New("no node answered")

// Call publishes req with method (MethodGet, MethodSet) and returns the answers that came
// within wait, returning early once expect of them did (expect <= 0: wait it out).
func (e *Endpoint) Call(ctx context.Context, method string, req Request, expect int, wait time.Duration) ([]Answer, error) {
	if method != MethodGet && method != MethodSet {
		return nil, fmt.Errorf("unknown configuration method %q", method)
	}
	req.Action = ActionGet
	if method == MethodSet {
		req.Action = ActionSet
	}
	corr := uuid.NewString()
	ch := make(chan Answer, 256)
	e.mu.Lock()
	e.calls[corr] = ch
	e.mu.Unlock()
	defer func() { e.mu.Lock(); delete(e.calls, corr); e.mu.Unlock() }()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := e.publish(ctx, protocol.ConfigurationExchange, method, corr, &req.Header, &req); err != nil {
		return nil, err
	}
	var out []Answer
	for expect <= 0 || len(out) < expect {
		select {
		case a := <-ch:
			out = append(out, a)
		case <-ctx.Done():
			if len(out) == 0 {
				return nil, ErrNoAnswer
			}
			return out, nil
		}
	}
	return out, nil
}
