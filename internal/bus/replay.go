package bus

import "sync"

// Replay keeps the last N items and fans new ones out to subscribers; a subscriber that
// arrives late first receives what is buffered (Grav's replay buffer: the Tron's event
// stream uses it so a dashboard that connects now still sees recent events).
type Replay[T any] struct {
	mu   sync.Mutex
	buf  []T
	next int // where the next item goes once buf is full
	size int
	subs map[int]func(T)
	id   int
}

// NewReplay returns a buffer of the last size items.
func NewReplay[T any](size int) *Replay[T] {
	return &Replay[T]{size: size, subs: make(map[int]func(T))}
}

// Add records v and hands it to every subscriber (synchronously, in Add's goroutine:
// subscribers must not block).
func (r *Replay[T]) Add(v T) {
	r.mu.Lock()
	if len(r.buf) < r.size {
		r.buf = append(r.buf, v)
	} else if r.size > 0 {
		r.buf[r.next] = v
		r.next = (r.next + 1) % r.size
	}
	subs := make([]func(T), 0, len(r.subs))
	for _, fn := range r.subs {
		subs = append(subs, fn)
	}
	r.mu.Unlock()
	for _, fn := range subs {
		fn(v)
	}
}

// Recent returns the buffered items, oldest first.
func (r *Replay[T]) Recent() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]T, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}

// Subscribe replays the buffered items to fn, then hands it every new one until the
// returned cancel is called. No item is missed or repeated between replay and live.
// fn runs under the buffer's lock during the replay: it must not call back into r.
func (r *Replay[T]) Subscribe(fn func(T)) (cancel func()) {
	r.mu.Lock()
	for _, v := range append(append([]T{}, r.buf[r.next:]...), r.buf[:r.next]...) {
		fn(v)
	}
	r.id++
	id := r.id
	r.subs[id] = fn
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.subs, id)
		r.mu.Unlock()
	}
}
