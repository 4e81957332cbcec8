// The Gilmour envelope {data, code, sender} and the channel names (research §1.1-1.2).

package gilmour

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Channel prefixes of the Gilmour protocol.
const (
	requestPrefix  = "gilmour.request."
	slotPrefix     = "gilmour.slot."
	responsePrefix = "gilmour.response."
	healthPrefix   = "gilmour.health."
	knownHostsKey  = "gilmour.known_host.health"
	errorsChannel  = "gilmour.errors"
	errorQueueKey  = "gilmour.errorqueue"
)

// maxMessageBytes bounds a message the runner takes from Redis or from a node: a larger
// one is refused (a response becomes a 502, a request is dropped with a log line).
const maxMessageBytes = 4 << 20

// envelope is every Gilmour payload. Data is raw JSON (null when absent).
type envelope struct {
	Data   json.RawMessage `json:"data"`
	Code   int             `json:"code"`
	Sender string          `json:"sender"`
}

// result is one message as the proxy answers it: {data, code}.
type result struct {
	Data json.RawMessage `json:"data"`
	Code int             `json:"code"`
}

// jsonNull is the data of a message without any.
var jsonNull = json.RawMessage("null")

// parseEnvelope decodes a payload. ok is false when it is not a JSON object; the Ruby
// library sends such payloads too, and takes the whole payload as data (raw reports that).
func parseEnvelope(p string) (env envelope, ok bool) {
	if !strings.HasPrefix(strings.TrimLeft(p, " \t\r\n"), "{") || json.Unmarshal([]byte(p), &env) != nil {
		return envelope{Data: stringData(p)}, false
	}
	if len(env.Data) == 0 {
		env.Data = jsonNull
	}
	return env, true
}

// encode writes an envelope as the Go library does: {"data":…,"code":…,"sender":"…"}.
func (e envelope) encode() string {
	if len(e.Data) == 0 {
		e.Data = jsonNull
	}
	b, _ := json.Marshal(e)
	return string(b)
}

// stringData is s as a JSON string.
func stringData(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// bodyData is what an HTTP body becomes as Gilmour data: the body itself when it is JSON,
// else the body as a JSON string; null when empty.
func bodyData(body []byte) json.RawMessage {
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		return jsonNull
	case json.Valid(trimmed):
		// A copy: body is often a pooled response buffer, reused once released.
		return json.RawMessage(bytes.Clone(trimmed))
	}
	return stringData(string(body))
}

// requestChannel, slotChannel: topics already starting "gilmour." are used verbatim, as
// the Go and Ruby libraries do.
func requestChannel(topic string) string { return prefixed(requestPrefix, topic) }
func slotChannel(topic string) string    { return prefixed(slotPrefix, topic) }

func prefixed(prefix, topic string) string {
	if strings.HasPrefix(topic, "gilmour.") {
		return topic
	}
	return prefix + topic
}

// isPattern reports whether a slot topic is a wildcard (PSUBSCRIBE), as Ruby decides.
func isPattern(topic string) bool { return strings.Contains(topic, "*") }

// topicOf is the topic of a request or slot channel.
func topicOf(channel string) string {
	if t, ok := strings.CutPrefix(channel, requestPrefix); ok {
		return t
	}
	if t, ok := strings.CutPrefix(channel, slotPrefix); ok {
		return t
	}
	return channel
}
