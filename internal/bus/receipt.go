package bus

import (
	"context"
	"sync"
	"time"
)

// receiptBuffer bounds the replies a receipt holds before its owner reads them; a reply
// that finds the buffer full is dropped from the receipt (its OnType handlers still run).
const receiptBuffer = 256

// Receipt collects the replies to one sent message (Grav's Send → Receipt).
type Receipt struct {
	id      string
	replies chan Message
	release func()
	once    sync.Once
}

// UUID is the msg-id of the sent message.
func (r *Receipt) UUID() string { return r.id }

// WaitOn calls fn for each reply until fn returns true (nil) or ctx ends (ctx.Err()).
func (r *Receipt) WaitOn(ctx context.Context, fn func(Message) bool) error {
	for {
		select {
		case m := <-r.replies:
			if fn(m) {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitUntil is WaitOn with a timeout; it returns ErrTimeout when the time runs out.
func (r *Receipt) WaitUntil(timeout time.Duration, fn func(Message) bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := r.WaitOn(ctx, fn); err != nil {
		return ErrTimeout
	}
	return nil
}

// Close stops collecting replies. Every receipt must be closed when its owner is done.
func (r *Receipt) Close() { r.once.Do(r.release) }

// Receipts is the registry of open receipts by msg-id, shared by the Bus implementations.
type Receipts struct {
	mu   sync.Mutex
	open map[string]*Receipt
}

// Open registers a receipt for msg-id id.
func (rs *Receipts) Open(id string) *Receipt {
	r := &Receipt{id: id, replies: make(chan Message, receiptBuffer)}
	r.release = func() {
		rs.mu.Lock()
		delete(rs.open, id)
		rs.mu.Unlock()
	}
	rs.mu.Lock()
	if rs.open == nil {
		rs.open = make(map[string]*Receipt)
	}
	rs.open[id] = r
	rs.mu.Unlock()
	return r
}

// Deliver hands m to the receipt waiting for its ParentID, if any; it never blocks.
func (rs *Receipts) Deliver(m Message) bool {
	if m.ParentID == "" {
		return false
	}
	rs.mu.Lock()
	r := rs.open[m.ParentID]
	rs.mu.Unlock()
	if r == nil {
		return false
	}
	select {
	case r.replies <- m:
		return true
	default:
		return false
	}
}
