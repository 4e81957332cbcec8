// Gilmour → node: one message of a service or slot, POSTed to the node, and the response
// published as the Go library does (research §1.3, captured/gilmour/response-*.json).

package gilmour

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/valyala/fasthttp"

	"github.com/funcatron/funcatron/runner/exec"
)

// nodeCall is what the node gets at a subscription's path (the seed's node contract).
type nodeCall struct {
	Topic   string          `json:"topic"`
	Sender  string          `json:"sender"`
	Data    json.RawMessage `json:"data"`
	Timeout int             `json:"timeout"` // seconds
}

// handle runs one message for s: take the group lock (a service without a sender cannot be
// answered and is dropped), call the node, publish the response of a service, report a
// code of 300 or more by the error policy.
func (n *nodeSide) handle(s sub, m redisMessage) {
	log := n.in.log.With("topic", topicOf(m.Channel), "path", s.Path)
	if len(m.Payload) > maxMessageBytes {
		log.Warn("gilmour message dropped: too large", "bytes", len(m.Payload))
		return
	}
	env, _ := parseEnvelope(m.Payload) // a Ruby-style raw payload is data, without a sender
	if !s.slot && env.Sender == "" {
		log.Warn("gilmour request dropped: it has no sender to answer")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout+ioTimeout)
	defer cancel()
	group := s.Group
	if group == "" {
		group = implicitGroup(n.in.spec.SHA)
	}
	if env.Sender != "" {
		won, err := acquireLock(ctx, n.in.rdb, env.Sender, group)
		if err != nil {
			log.Warn("gilmour lock failed", "err", err)
		}
		if !won {
			return
		}
	}
	r := n.call(s, topicOf(m.Channel), env)
	if !s.slot {
		n.respond(ctx, env.Sender, r)
	}
	if r.Code >= 300 {
		n.in.reportError(ctx, topicOf(m.Channel), env, r)
	}
}

// redisMessage is the part of a *redis.Message handle reads.
type redisMessage struct{ Channel, Payload string }

// call POSTs the message to the node and turns its answer into a message: the body as
// data with code 200 (or the node's status when not 2xx); 499 when the node is slower than
// the subscription's timeout (the connection is then closed, so its late write fails);
// 503 while the node is not running; 502 when it fails or answers too much.
func (n *nodeSide) call(s sub, topic string, env envelope) result {
	body, _ := json.Marshal(nodeCall{Topic: topic, Sender: env.Sender, Data: env.Data,
		Timeout: int(math.Ceil(s.Timeout.Seconds()))})
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod("POST")
	req.SetRequestURI(s.Path)
	req.Header.SetContentType("application/json")
	req.SetBody(body)
	// A node that is not running is answered at once (503-like code), not waited for.
	err := exec.ErrNotRunning
	if n.proc.Ready() {
		ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
		defer cancel()
		err = n.proc.Do(ctx, req, resp)
	}
	switch {
	case errors.Is(err, exec.ErrNotRunning):
		return result{Data: stringData("the node is not available"), Code: codeNoOne}
	case errors.Is(err, fasthttp.ErrTimeout):
		return timedOut
	case err != nil:
		n.in.log.Warn("the gilmour node failed", "path", s.Path, "err", err)
		return result{Data: stringData("the node failed to answer"), Code: codeBadReply}
	case len(resp.Body()) > maxMessageBytes:
		return result{Data: stringData(fmt.Sprintf("the node's response is larger than %d bytes", maxMessageBytes)), Code: codeBadReply}
	}
	r := result{Data: bodyData(resp.Body()), Code: codeOK}
	if st := resp.StatusCode(); st < 200 || st > 299 {
		r.Code = st
	}
	return r
}

// respond publishes r on the request's response channel with the sender the Go library
// uses: gilmour.response.<sender>, or the bare sender for a timeout.
func (n *nodeSide) respond(ctx context.Context, sender string, r result) {
	from := responsePrefix + sender
	if r.Code == codeTimeout {
		from = sender
	}
	payload := envelope{Data: r.Data, Code: r.Code, Sender: from}.encode()
	if err := n.in.rdb.Publish(ctx, responsePrefix+sender, payload).Err(); err != nil {
		n.in.log.Warn("publishing a gilmour response", "err", err)
	}
}

// answerHealth answers a ping on gilmour.health.<ident> with the topics subscribed, as a
// service of group "exclusive" (what the Go library does).
func (n *nodeSide) answerHealth(payload string) {
	env, ok := parseEnvelope(payload)
	if !ok || env.Sender == "" || len(payload) > maxMessageBytes {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if won, err := acquireLock(ctx, n.in.rdb, env.Sender, "exclusive"); err != nil || !won {
		return
	}
	data, _ := json.Marshal(n.topics())
	n.respond(ctx, env.Sender, result{Data: data, Code: codeOK})
}
