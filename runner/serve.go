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

// delivery is a request taken off a route queue (an *amqpbus.Delivery in production).
type delivery interface {
	contentType() string
	body() []byte
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
	// returns once the broker confirmed it.
	publish(ctx context.Context, queue string, body []byte) error
}

// handle serves one delivery of rt from start to settlement. Its context is not the
// consumer's: a request taken off the queue is finished even while the consumer stops.
func (r *Runner) handle(rt *route, d delivery) {
	start := time.Now()
	rt.stats.begin()
	rt.m.inflight.Inc()
	defer rt.m.inflight.Dec()

	svc := new(protocol.Service)
	err := protocol.CheckSize(d.body(), r.opts.MaxMessageBytes)
	if err == nil {
		err = protocol.DecodeAs(d.contentType(), d.body(), svc)
	}
	if err != nil || svc.ReplyQueue == "" {
		if err == nil {
			err = errNoReplyQueue
		}
		r.metrics.undecodable.Inc()
		r.log.Warn("undecodable request (dead-lettered)", "queue", rt.queue, "err", err)
		r.settle(d, rt, amqpbus.DeadLetter)
		rt.stats.end(time.Since(start), true)
		return
	}
	s := rt.acquire()
	if s == nil {
		// Disabled while this request was on its way: another runner may serve it.
		r.settle(d, rt, amqpbus.Requeue)
		rt.stats.end(time.Since(start), false)
		return
	}
	// Headers as pairs only for a frontend that asks (ours does); the map form otherwise,
	// the one the 2017 frontend reads (spec/protocol.md §3).
	ans := &protocol.Answer{RequestID: svc.ReplyTo,
		Answer: protocol.AnswerBody{MapHeaders: svc.AnswerHeaders != protocol.AnswerHeadersPairs}}
	if ans.RequestID == "" {
		ans.RequestID = svc.RequestID
	}
	r.dispatch(s, svc, &ans.Answer)
	host, basePath := s.host, s.basePath
	s.release()

	outcome := r.publishAnswer(svc.ReplyQueue, ans)
	r.settle(d, rt, outcome)
	elapsed := time.Since(start)
	failed := ans.Answer.Status >= 500
	rt.stats.end(elapsed, failed)
	rt.m.answered(ans.Answer.Status, elapsed)
	r.statsd.request(host, basePath, ans.Answer.Status, elapsed)
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
	if err := r.broker.publish(ctx, queue, body); err != nil {
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
	body, err := protocol.Encode(protocol.JSON, ans)
	if err != nil || len(body) <= r.opts.MaxMessageBytes {
		return body, err
	}
	r.metrics.oversize.Inc()
	r.log.Warn("answer too large for the frontends; answering 502", "request_id", ans.RequestID,
		"bytes", len(body), "max_message_bytes", r.opts.MaxMessageBytes)
	kind.ErrorAnswer(&ans.Answer, 502, fmt.Sprintf("the function's answer is larger than the %d bytes a frontend can receive", r.opts.MaxMessageBytes))
	return protocol.Encode(protocol.JSON, ans)
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
