// Returns: matching messages the broker returned (mandatory, unroutable) with their publishers.
package amqpbus

import (
	"context"
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// returns listens to one publishing channel's basic.return and close notifications.
//
// For an unroutable mandatory message RabbitMQ sends basic.return before the basic.ack
// of the same message, and the client library hands both over from its one reader
// goroutine, in that order, blocking until the listener takes the return. So once a
// publisher has its ack, the return (if any) has been handed to listen; a round trip
// through listen (result) then guarantees it has been recorded.
type returns struct {
	mu      sync.Mutex
	waiting map[uint64]*amqp.Return // publish id → nil, or the returned message
	reason  *amqp.Error             // why the channel closed, once it did

	sync chan chan struct{}
	done chan struct{} // closed when listen exits (the channel is closed)
}

// listenReturns starts the listener of ch; it lives exactly as long as ch.
func listenReturns(ch *amqp.Channel) *returns {
	r := &returns{
		waiting: make(map[uint64]*amqp.Return),
		sync:    make(chan chan struct{}),
		done:    make(chan struct{}),
	}
	go r.listen(ch.NotifyReturn(make(chan amqp.Return)), ch.NotifyClose(make(chan *amqp.Error, 1)))
	return r
}

// listen runs until the library closes the return notifications, which it does when the
// channel closes (after it has queued the close reason in closed).
func (r *returns) listen(in <-chan amqp.Return, closed <-chan *amqp.Error) {
	defer close(r.done)
	for {
		select {
		case ret, ok := <-in:
			if !ok {
				r.noteClose(closed)
				return
			}
			r.record(ret)
		case reply := <-r.sync:
			close(reply)
		}
	}
}

func (r *returns) noteClose(closed <-chan *amqp.Error) {
	select {
	case e := <-closed:
		r.mu.Lock()
		r.reason = e
		r.mu.Unlock()
	default:
	}
}

func (r *returns) record(ret amqp.Return) {
	id, ok := ret.Headers[publishIDHeader].(int64)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, waiting := r.waiting[uint64(id)]; waiting {
		r.waiting[uint64(id)] = &ret
	}
}

// expect registers a mandatory message before it is published.
func (r *returns) expect(id uint64) {
	r.mu.Lock()
	r.waiting[id] = nil
	r.mu.Unlock()
}

// forget drops a registration whose publisher no longer waits.
func (r *returns) forget(id uint64) {
	if id == 0 {
		return
	}
	r.mu.Lock()
	delete(r.waiting, id)
	r.mu.Unlock()
}

// result tells, once the message id has been acked, whether the broker returned it.
func (r *returns) result(ctx context.Context, id uint64) (*amqp.Return, error) {
	defer r.forget(id)
	reply := make(chan struct{})
	select {
	case r.sync <- reply:
		<-reply // listen closes it right away
	case <-r.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the broker's return: %w", ctx.Err())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.waiting[id], nil
}

// closeReason waits (briefly: the library closes the notifications right after it has
// nacked the pending confirms) for the listener to note why the channel closed.
func (r *returns) closeReason(ctx context.Context) error {
	select {
	case <-r.done:
	case <-ctx.Done():
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reason == nil {
		return nil
	}
	return r.reason
}
