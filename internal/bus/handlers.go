package bus

import (
	"context"
	"sync"
)

// Handlers is the OnType registry shared by the Bus implementations.
type Handlers struct {
	mu          sync.RWMutex
	byType      map[string][]Handler
	undecodable []func(error)
}

// On registers fn for messages of type action.
func (h *Handlers) On(action string, fn Handler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byType == nil {
		h.byType = make(map[string][]Handler)
	}
	h.byType[action] = append(h.byType[action], fn)
}

// OnUndecodable registers fn for bodies that do not decode.
func (h *Handlers) OnUndecodable(fn func(error)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.undecodable = append(h.undecodable, fn)
}

// Dispatch runs the handlers of m's type; it reports whether any was registered.
func (h *Handlers) Dispatch(ctx context.Context, m Message) bool {
	h.mu.RLock()
	fns := h.byType[m.Type]
	h.mu.RUnlock()
	for _, fn := range fns {
		fn(ctx, m)
	}
	return len(fns) > 0
}

// Undecodable tells the registered functions about a body that did not decode.
func (h *Handlers) Undecodable(err error) {
	h.mu.RLock()
	fns := h.undecodable
	h.mu.RUnlock()
	for _, fn := range fns {
		fn(err)
	}
}
