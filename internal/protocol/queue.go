package protocol

import (
	"crypto/sha256"
	"encoding/base64"
)

// Queue and exchange names of spec/protocol.md §2 and §5.
const (
	DefaultTronQueue    = "for_tron"
	RunnerInboxPrefix   = "RU-"
	FrontendInboxPrefix = "FRNT"

	EventsExchange        = "funcatron.events"
	LoggingExchange       = "funcatron.logging"
	ConfigurationExchange = "funcatron.configuration"
	DeadLetterExchange    = "funcatron.dead"
	DeadLetterQueue       = "funcatron.dead"
	DeadLetterMaxLength   = 10000
)

// RouteQueue names the queue that carries the requests of the route (host, basePath): the
// first 16 characters of [A-Za-z0-9] of base64(sha256(host + ";" + basePath)). Tron and
// runners compute it independently, so it must never change.
func RouteQueue(host, basePath string) string {
	sum := sha256.Sum256([]byte(host + ";" + basePath))
	var enc [44]byte
	base64.StdEncoding.Encode(enc[:], sum[:])
	out := make([]byte, 0, 16)
	for _, c := range enc {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			out = append(out, c)
			if len(out) == 16 {
				break
			}
		}
	}
	return string(out)
}

// QueueType is the kind of route queue, Tron queue and dead-letter queue (spec/protocol.md
// §9): the Tron's --queue-type, carried in enable's queue-type so that runners declare a
// route queue with exactly the Tron's arguments.
type QueueType string

// The queue types. An enable without queue-type (an older Tron) means QueueClassic.
const (
	QueueClassic QueueType = "classic" // one node's queue: the default for a single broker
	QueueQuorum  QueueType = "quorum"  // replicated over the cluster's nodes (Raft)
)

// ParseQueueType reads a --queue-type or an enable's queue-type; "" is QueueClassic.
func ParseQueueType(s string) (QueueType, bool) {
	switch QueueType(s) {
	case "", QueueClassic:
		return QueueClassic, true
	case QueueQuorum:
		return QueueQuorum, true
	}
	return "", false
}
