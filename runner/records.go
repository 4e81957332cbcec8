// Serving a records message (spec/protocol.md §8): several requests of one route queue in
// one message, bodies raw. Each request runs once the route's concurrency lets it (the
// others wait in memory, counted by funcatron_runner_queued_requests), is answered raw in
// a records message to its reply queue (batched with other answers to that queue,
// replybatch.go), and the message is acked once every answer to it was confirmed.
//
// Settlement: an answer that was not confirmed, or a request that arrives while its route
// is being disabled, requeues the whole message once all its requests are done: another
// runner (or this one) serves it again, and the frontend keeps the first answer per
// request-id, so answers that did go out are harmless duplicates. A runner that dies
// mid-batch leaves the message unacked: the broker delivers it again, the same way. A
// record that does not decode or has no reply-queue is counted, logged and skipped (it
// cannot be answered); a message whose framing is broken is dead-lettered whole.

package runner

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/version"
	"github.com/funcatron/funcatron/internal/wait"
	"github.com/funcatron/funcatron/runner/kind"
)

// handleRecords serves the n records of d and settles d.
func (r *Runner) handleRecords(rt *route, lim limit, d delivery, n int) {
	recs, err := protocol.SplitRecords(d.body(), n)
	if err != nil {
		r.undecodable(rt, d, err)
		return
	}
	svcs := make([]*protocol.Service, 0, len(recs))
	for i := range recs {
		svc := new(protocol.Service)
		if err := r.decodeRecord(recs[i], svc); err != nil {
			r.metrics.undecodable.Inc()
			r.log.Warn("undecodable record skipped", "queue", rt.queue, "record", i, "err", err)
			rt.stats.unusable()
			continue
		}
		svcs = append(svcs, svc)
	}
	outcome := r.serveAll(rt, lim, svcs)
	if outcome == amqpbus.Requeue {
		// A short pause, so a broker that keeps refusing is not asked in a tight loop.
		wait.Pause(context.Background(), requeuePause)
	}
	r.settle(d, rt, outcome)
}

// serveAll serves svcs concurrently (the last in the caller's goroutine: a lone request
// costs no goroutine) and returns Ack when every answer was confirmed, else Requeue.
func (r *Runner) serveAll(rt *route, lim limit, svcs []*protocol.Service) amqpbus.Outcome {
	if len(svcs) == 0 {
		return amqpbus.Ack
	}
	var wg sync.WaitGroup
	var requeue atomic.Bool
	for _, svc := range svcs[:len(svcs)-1] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r.serve(rt, lim, svc, true) != amqpbus.Ack {
				requeue.Store(true)
			}
		}()
	}
	if r.serve(rt, lim, svcs[len(svcs)-1], true) != amqpbus.Ack {
		requeue.Store(true)
	}
	wg.Wait()
	if requeue.Load() {
		return amqpbus.Requeue
	}
	return amqpbus.Ack
}

// decodeRecord decodes a request record, which must name its reply queue.
func (r *Runner) decodeRecord(rec protocol.Record, svc *protocol.Service) error {
	if err := rec.DecodeRequest(svc); err != nil {
		return err
	}
	if svc.ReplyQueue == "" {
		return errNoReplyQueue
	}
	return nil
}

// publishRawAnswer sends ans as an answer record to queue, batched with the other answers
// to queue (replyBatches); the outcome is Ack once the broker confirmed the message that
// carried it, else Requeue.
func (r *Runner) publishRawAnswer(queue string, ans *protocol.Answer) amqpbus.Outcome {
	protocol.Stamp(ans, r.inbox, version.Version)
	rec, err := r.boundAnswer(ans, encodeRecord)
	if err != nil { // cannot happen for an Answer; answered as a failure anyway
		r.log.Error("encoding answer record", "err", err)
		kind.ErrorAnswer(&ans.Answer, 500, "the runner could not encode the answer")
		rec, _ = encodeRecord(ans)
	}
	if !r.replies.send(queue, rec) {
		return amqpbus.Requeue
	}
	return amqpbus.Ack
}

func encodeRecord(ans *protocol.Answer) ([]byte, error) { return protocol.AppendAnswerRecord(nil, ans) }
