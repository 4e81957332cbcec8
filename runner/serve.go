// Serving a route queue: decode the service request, dispatch it to the bundle, publish
// the answer to the frontend, then settle the request.
//
// Delivery guarantee (spec/protocol.md §4): a request is acked only after its answer was
// confirmed by the broker, so a runner that dies or loses the broker mid-request leaves it
// unacked and RabbitMQ gives it to another runner: at-least-once. The price is possible
// duplicates: a runner that dies between the confirm and the ack makes the request run
// twice and two answers reach the frontend, which keeps the first per request-id. Bundles
// whose operations have side effects should make them idempotent on X-Request-Id.
//
// A requeue never loops for ever: the frontend publishes each request with an expiration
// equal to its own wait, so a request nobody could answer in time is dead-lettered by the
// broker. A bundle failure is answered (502/504), never requeued.

package runner

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/version"
	"github.com/funcatron/funcatron/internal/wait"
	"github.com/funcatron/funcatron/runner/kind"
)

// requeuePause is the wait before a request whose answer was not confirmed is requeued.
const requeuePause = 100 * time.Millisecond

// errNoReplyQueue: a service request without reply-queue cannot be answered.
var errNoReplyQueue = errors.New("the request has no reply-queue")

// delivery is a message taken off a route queue (an *amqpbus.Delivery in production).
type delivery interface {
	contentType() string
	body() []byte
	// recordCount is 0 for the catalogue's form, else the records the message holds
	// (spec/protocol.md §8); an error for a framing header that cannot be read.
	recordCount() (int, error)
	settle(amqpbus.Outcome) error
}

// broker is what serving needs of the transport.
type broker interface {
	// declare declares route queue name (durable, dead-lettered, of the enable's queue
	// type) and keeps it declared; consume then subscribes with the same arguments.
	declare(ctx context.Context, queue string, qt protocol.QueueType) error
	// consume subscribes to route queue name with prefetch and calls handle for each
	// delivery, concurrently up to prefetch, until ctx ends; then it waits for the running
	// handlers and returns.
	consume(ctx context.Context, queue string, prefetch int, handle func(delivery)) error
	// publish sends a transient JSON message to queue through the default exchange and
	// returns once the broker confirmed it; records > 0 sends it in the records framing
	// of that many records.
	publish(ctx context.Context, queue string, body []byte, records int) error
}

// handle serves one delivery of rt from start to settlement, at most c's concurrency of
// requests running at once. Its context is not the consumer's: a request taken off the
// queue is finished even while the consumer stops.
func (r *Runner) handle(rt *route, c *consumer, d delivery) {
	if err := protocol.CheckSize(d.body(), r.opts.MaxMessageBytes); err != nil {
		r.undecodable(rt, d, err)
		return
	}
	n, err := d.recordCount()
	switch {
	case err != nil:
		r.undecodable(rt, d, err)
	case n > 0:
		r.handleRecords(rt, c.lim, d, n)
	default:
		r.handleCatalogue(rt, c.lim, d)
	}
}

// handleCatalogue serves a message in the catalogue's form: one request, answered in the
// catalogue's form (one message, base64 body), acked once that answer is confirmed.
func (r *Runner) handleCatalogue(rt *route, lim limit, d delivery) {
	svc := new(protocol.Service)
	err := protocol.DecodeRequest(d.contentType(), d.body(), svc)
	if err == nil && svc.ReplyQueue == "" {
		err = errNoReplyQueue
	}
	if err != nil {
		r.undecodable(rt, d, err)
		return
	}
	r.settle(d, rt, r.serve(rt, lim, svc, false))
}

// undecodable dead-letters a message nothing of which can be served, and counts it.
func (r *Runner) undecodable(rt *route, d delivery, err error) {
	r.metrics.undecodable.Inc()
	r.log.Warn("undecodable request (dead-lettered)", "queue", rt.queue, "err", err)
	r.settle(d, rt, amqpbus.DeadLetter)
	rt.stats.unusable()
}

// serve runs one decoded request once lim lets it and answers it: raw (a records answer,
// batched per reply queue) or in the catalogue's form. The outcome is how to settle the
// message it came in: Ack once its answer is confirmed, Requeue when the answer was not
// confirmed or the route is being disabled (another runner may serve it).
func (r *Runner) serve(rt *route, lim limit, svc *protocol.Service, raw bool) amqpbus.Outcome {
	start := time.Now()
	rt.stats.begin()
	lim.wait(rt)
	rt.m.inflight.Inc()
	defer rt.m.inflight.Dec()
	ans, host, basePath, ok := r.runRequest(rt, svc)
	lim.done()
	if !ok {
		rt.stats.end(time.Since(start), false)
		return amqpbus.Requeue
	}
	var outcome amqpbus.Outcome
	if raw {
		outcome = r.publishRawAnswer(svc.ReplyQueue, ans)
	} else {
		outcome = r.publishAnswer(svc.ReplyQueue, ans)
	}
	elapsed := time.Since(start)
	rt.stats.end(elapsed, ans.Answer.Status >= 500)
	rt.m.answered(ans.Answer.Status, elapsed)
	r.statsd.request(host, basePath, ans.Answer.Status, elapsed)
	return outcome
}

// runRequest has the bundle serving rt answer svc; ok is false when none serves it (the route is
// being disabled).
func (r *Runner) runRequest(rt *route, svc *protocol.Service) (ans *protocol.Answer, host, basePath string, ok bool) {
	s := rt.acquire()
	if s == nil {
		return nil, "", "", false
	}
	defer s.release()
	// Headers as pairs only for a frontend that asks (ours does); the map form otherwise,
	// the one the 2017 frontend reads (spec/protocol.md §3). Records always carry pairs.
	ans = &protocol.Answer{RequestID: svc.ReplyTo,
		Answer: protocol.AnswerBody{MapHeaders: svc.AnswerHeaders != protocol.AnswerHeadersPairs}}
	if ans.RequestID == "" {
		ans.RequestID = svc.RequestID
	}
	r.dispatch(s, svc, &ans.Answer)
	return ans, s.host, s.basePath, true
}

// dispatch runs s.dispatch; a panic in it (a runner bug) becomes a 500 answer and a log
// line with the stack, never a dead runner.
func (r *Runner) dispatch(s *served, svc *protocol.Service, out *protocol.AnswerBody) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("panic while serving a request", "sha", s.sha, "panic", p, "stack", string(debug.Stack()))
			kind.ErrorAnswer(out, 500, "the runner failed on this request")
		}
	}()
	s.dispatch(context.Background(), svc, out)
}

// dispatch finds the operation for the request and has the bundle serve it; a request
// for no operation gets the 404 or 405 of spec/bundles.md §3.
func (s *served) dispatch(ctx context.Context, svc *protocol.Service, out *protocol.AnswerBody) {
	method := kind.MethodOf(svc)
	uri := svc.URI
	if uri == "" {
		uri = pathOf(svc.RequestURI)
	}
	op, status, allow := s.match(method, uri)
	switch status {
	case 0:
	case 405:
		methodNotAllowed(out, method, uri, allow)
		return
	default:
		notFound(out, method, uri)
		return
	}
	c := &kind.Call{Svc: svc, Op: op, Path: below(uri, s.basePath), BasePath: s.basePath}
	s.inst.Serve(ctx, c, out)
}

// publishAnswer encodes the answer as JSON (frontends read JSON only) and publishes it to
// the frontend's inbox; the outcome is how to settle the request: Ack once the broker
// confirmed the answer, else Requeue so that the request is answered again.
func (r *Runner) publishAnswer(queue string, ans *protocol.Answer) amqpbus.Outcome {
	protocol.Stamp(ans, r.inbox, version.Version)
	// Always a list and a string, never null: the Lua frontend reads them as they are.
	if ans.Answer.Headers == nil {
		ans.Answer.Headers = [][2]string{}
	}
	if ans.Answer.Body == nil {
		ans.Answer.Body = protocol.Base64{}
	}
	body, err := r.encodeAnswer(ans)
	if err != nil { // cannot happen for an Answer; answered as a failure anyway
		r.log.Error("encoding answer", "err", err)
		kind.ErrorAnswer(&ans.Answer, 500, "the runner could not encode the answer")
		body, _ = protocol.Encode(protocol.JSON, ans)
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.PublishTimeout)
	defer cancel()
	if err := r.broker.publish(ctx, queue, body, 0); err != nil {
		r.metrics.unsettled.Inc()
		r.log.Warn("answer not confirmed; requeueing its request", "reply_queue", queue, "err", err)
		// A short pause, so a broker that keeps refusing is not asked in a tight loop.
		wait.Pause(ctx, requeuePause)
		return amqpbus.Requeue
	}
	return amqpbus.Ack
}

// encodeAnswer encodes ans as JSON; an answer over --max-message-bytes becomes a 502: the
// frontends' frame limit and the broker's max_message_size are the same number, so the
// broker would refuse it (closing the channel) or the frontend drop it, and its client
// would wait out the timeout for a 504 that blames nobody.
func (r *Runner) encodeAnswer(ans *protocol.Answer) ([]byte, error) {
	return r.boundAnswer(ans, encodeCatalogue)
}

func encodeCatalogue(ans *protocol.Answer) ([]byte, error) {
	return protocol.Encode(protocol.JSON, ans)
}

// boundAnswer encodes ans with enc, replacing an answer over --max-message-bytes by a 502.
func (r *Runner) boundAnswer(ans *protocol.Answer, enc func(*protocol.Answer) ([]byte, error)) ([]byte, error) {
	body, err := enc(ans)
	if err != nil || len(body) <= r.opts.MaxMessageBytes {
		return body, err
	}
	r.metrics.oversize.Inc()
	r.log.Warn("answer too large for the frontends; answering 502", "request_id", ans.RequestID,
		"bytes", len(body), "max_message_bytes", r.opts.MaxMessageBytes)
	kind.ErrorAnswer(&ans.Answer, 502, fmt.Sprintf("the function's answer is larger than the %d bytes a frontend can receive", r.opts.MaxMessageBytes))
	return enc(ans)
}

// settle is the one place a route queue delivery is settled. A settlement that fails
// means the channel is in trouble: the broker redelivers what was not acked.
func (r *Runner) settle(d delivery, rt *route, o amqpbus.Outcome) {
	if err := d.settle(o); err != nil {
		r.log.Warn("settling a request", "queue", rt.queue, "outcome", o, "err", err)
	}
}

// pathOf is the path of a request-target (without the query).
func pathOf(target string) string {
	for i := 0; i < len(target); i++ {
		if target[i] == '?' || target[i] == '#' {
			return target[:i]
		}
	}
	if target == "" {
		return "/"
	}
	return target
}

// below is uri with basePath taken off, always starting with "/".
func below(uri, basePath string) string {
	if basePath != "/" && len(uri) >= len(basePath) && uri[:len(basePath)] == basePath {
		uri = uri[len(basePath):]
	}
	if uri == "" || uri[0] != '/' {
		return "/" + uri
	}
	return uri
}
