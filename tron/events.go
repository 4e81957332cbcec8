// This file publishes lifecycle events to the funcatron.events exchange (spec/protocol.md §5)
// and keeps the recent ones for late subscribers (GET /api/v1/events).

package tron

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
)

// Event is one lifecycle event. Key is its routing key (`bundle.enabled.<sha>`,
// `runner.lost.<id>`, `route.updated`, ...); the body published is the Event as JSON.
type Event struct {
	Key        string `json:"key"`
	Event      string `json:"event"` // Key without its id: "bundle.enabled", "runner.lost"
	At         int64  `json:"at"`    // epoch milliseconds
	SHA        string `json:"sha,omitempty"`
	Host       string `json:"host,omitempty"`
	Path       string `json:"path,omitempty"`
	Node       string `json:"node,omitempty"` // the node's inbox queue
	NodeType   string `json:"node-type,omitempty"`
	InstanceID string `json:"instance-id,omitempty"`
	Routes     int    `json:"routes,omitempty"` // route.updated: entries in the table
	Replaced   string `json:"replaced,omitempty"`
}

// eventName is the routing key without the trailing id: the first two dot-separated words.
func eventName(key string) string {
	parts := strings.SplitN(key, ".", 3)
	if len(parts) < 2 {
		return key
	}
	return parts[0] + "." + parts[1]
}

// publish records e in the replay buffer and publishes it; a bus that is down loses the
// published copy (events are transient, spec/protocol.md §4), not the buffered one.
func (t *Tron) publish(ctx context.Context, e Event) {
	e.At = time.Now().UnixMilli()
	e.Event = eventName(e.Key)
	t.events.Add(e)
	body, err := json.Marshal(e)
	if err != nil {
		t.log.Error("encoding event", "key", e.Key, "err", err)
		return
	}
	b := t.getBus()
	if b == nil {
		return
	}
	if err := b.Publish(ctx, protocol.EventsExchange, e.Key, body); err != nil {
		t.log.Warn("publishing event", "key", e.Key, "err", err)
	}
}
