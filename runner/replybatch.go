// Batching raw answers per reply queue (spec/protocol.md §8): while a publish to a reply
// queue is in flight, further answers to it wait in a pending batch, which leaves as one
// records message as soon as the in-flight publish is confirmed. There is no timer: a
// lone answer leaves at once, so batching adds no latency at low load, and under load a
// batch holds what arrived during one broker round trip. A batch holds at most --max-batch
// answers and --max-batch-bytes (never more than --max-message-bytes): the rest waits for
// the next one, and an answer larger than the byte bound travels alone.

package runner

import (
	"context"
	"sync"
)

// replyBatches is the runner's pending answer batches, by reply queue.
type replyBatches struct {
	r *Runner

	mu     sync.Mutex
	queues map[string]*replyQueue // a queue is present while a publish to it is in flight
}

// replyQueue holds the answers waiting for the in-flight publish to one reply queue.
type replyQueue struct {
	waiting []*rawAnswer
}

// rawAnswer is one encoded answer record and where its sender learns whether the broker
// confirmed the message that carried it.
type rawAnswer struct {
	rec  []byte
	done chan bool
}

func newReplyBatches(r *Runner) *replyBatches {
	return &replyBatches{r: r, queues: make(map[string]*replyQueue)}
}

// send publishes rec (an answer record) to queue, alone or batched, and reports whether
// the broker confirmed it. With no publish to queue in flight it publishes rec itself, at
// once; the batch that gathered meanwhile goes on in a goroutine of its own, so no
// request's settlement waits for other requests' answers.
func (b *replyBatches) send(queue string, rec []byte) bool {
	b.mu.Lock()
	if q, busy := b.queues[queue]; busy {
		a := &rawAnswer{rec: rec, done: make(chan bool, 1)}
		q.waiting = append(q.waiting, a)
		b.mu.Unlock()
		return <-a.done
	}
	b.queues[queue] = &replyQueue{}
	b.mu.Unlock()
	ok := b.publish(queue, []*rawAnswer{{rec: rec}})
	if next := b.next(queue); next != nil {
		go b.run(queue, next)
	}
	return ok
}

// run publishes batch, then each batch that gathered meanwhile, until none did.
func (b *replyBatches) run(queue string, batch []*rawAnswer) {
	for len(batch) > 0 {
		ok := b.publish(queue, batch)
		for _, a := range batch {
			a.done <- ok
		}
		batch = b.next(queue)
	}
}

// next takes the next batch for queue off its waiting answers, within the bounds; nil
// (and the queue forgotten) when none wait.
func (b *replyBatches) next(queue string) []*rawAnswer {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.queues[queue]
	if len(q.waiting) == 0 {
		delete(b.queues, queue)
		return nil
	}
	maxBytes := min(b.r.opts.MaxBatchBytes, b.r.opts.MaxMessageBytes)
	n, size := 1, len(q.waiting[0].rec)
	for n < len(q.waiting) && n < b.r.opts.MaxBatch && size+len(q.waiting[n].rec) <= maxBytes {
		size += len(q.waiting[n].rec)
		n++
	}
	batch := q.waiting[:n:n]
	q.waiting = q.waiting[n:]
	if len(q.waiting) == 0 {
		q.waiting = nil // let the backing array go
	}
	return batch
}

// publish sends batch as one records message and waits for the broker's confirm.
func (b *replyBatches) publish(queue string, batch []*rawAnswer) bool {
	body := batch[0].rec
	if len(batch) > 1 {
		size := 0
		for _, a := range batch {
			size += len(a.rec)
		}
		body = make([]byte, 0, size)
		for _, a := range batch {
			body = append(body, a.rec...)
		}
	}
	r := b.r
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.PublishTimeout)
	defer cancel()
	if err := r.broker.publish(ctx, queue, body, len(batch)); err != nil {
		r.metrics.unsettled.Add(float64(len(batch)))
		r.log.Warn("answers not confirmed; requeueing their requests", "reply_queue", queue, "answers", len(batch), "err", err)
		return false
	}
	r.metrics.answerBatches.Observe(float64(len(batch)))
	return true
}
