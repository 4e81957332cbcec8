package protocol

import (
	"sync"
	"time"
)

// ReplayCache remembers the msg-ids of processed control messages until they expire (a copy
// of one is refused as stale after that anyway). Only messages with a valid signature enter
// it, so its size follows the legitimate traffic of one skew window (a node's heartbeat every
// 10 s is 30 entries per node for the default 5 minutes); expired entries are pruned as new
// ones arrive. The zero value is ready to use.
type ReplayCache struct {
	mu      sync.Mutex
	expires map[string]time.Time
	adds    int
}

// pruneEvery is how many additions pass between two sweeps of expired entries.
const pruneEvery = 256

// Add records id as processed until expires.
func (c *ReplayCache) Add(id string, expires, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.expires == nil {
		c.expires = make(map[string]time.Time)
	}
	c.expires[id] = expires
	if c.adds++; c.adds%pruneEvery == 0 {
		for k, e := range c.expires {
			if now.After(e) {
				delete(c.expires, k)
			}
		}
	}
}

// Has tells whether id was processed (and has not expired from the cache yet).
func (c *ReplayCache) Has(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.expires[id]
	return ok
}

// Len is the number of ids kept.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.expires)
}
