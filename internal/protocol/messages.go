package protocol

import (
	"time"

	"github.com/google/uuid"
)

// The actions of the message catalogue (seeds/funcatron-messages.txt, spec/protocol.md §3).
const (
	ActionAwake       = "awake"
	ActionHeartbeat   = "heartbeat"
	ActionDied        = "died"
	ActionAck         = "ack"
	ActionTronInfo    = "tron-info"
	ActionAllBundles  = "all-bundles"
	ActionEnable      = "enable"
	ActionDisable     = "disable"
	ActionResendAwake = "resend-awake"
	ActionRoute       = "route"
	ActionDie         = "die"
	ActionSetStatsd   = "set-statsd"
	ActionService     = "service"
	ActionAnswer      = "answer"
)

// Node types carried in `type`.
const (
	TypeRunner   = "runner"
	TypeFrontend = "frontend"
)

// Ack statuses.
const (
	AckOK    = "ok"
	AckError = "error"
)

// Message is any message of the catalogue. Head gives the fields every message carries.
type Message interface {
	Head() *Header
}

// Header holds the fields common to every message (spec/protocol.md §1).
type Header struct {
	Action  string `json:"action" edn:"action"`
	MsgID   string `json:"msg-id,omitempty" edn:"msg-id,omitempty"`
	At      int64  `json:"at,omitempty" edn:"at,omitempty"` // epoch milliseconds
	Version string `json:"version,omitempty" edn:"version,omitempty"`
	From    string `json:"from,omitempty" edn:"from,omitempty"` // the sender's inbox queue
}

// Head returns h itself, so every message that embeds a Header is a Message.
func (h *Header) Head() *Header { return h }

// Awake is sent by a runner or frontend when it starts (and again on resend-awake).
type Awake struct {
	Header
	Type       string    `json:"type" edn:"type"`
	InstanceID string    `json:"instance-id,omitempty" edn:"instance-id,omitempty"`
	HostInfo   *HostPort `json:"host-info,omitempty" edn:"host-info,omitempty"`
	// legacyHostInfo is the original frontend's `host_info`; Decode moves it to HostInfo.
	LegacyHostInfo *HostPort `json:"host_info,omitempty" edn:"-"`
}

// Heartbeat is sent every 10 s by runners (with their routes and stats) and frontends.
type Heartbeat struct {
	Header
	Type       string       `json:"type,omitempty" edn:"type,omitempty"`
	InstanceID string       `json:"instance-id,omitempty" edn:"instance-id,omitempty"`
	Routes     []RouteEntry `json:"routes,omitempty" edn:"routes,omitempty"`
	Stats      Stats        `json:"stats,omitempty" edn:"stats,omitempty"`
}

// RouteStats counts one route queue's work since the previous heartbeat.
type RouteStats struct {
	Count    int64 `json:"count" edn:"count"`
	Errors   int64 `json:"errors" edn:"errors"`
	Inflight int64 `json:"inflight" edn:"inflight"`
	TotalMS  int64 `json:"total-ms" edn:"total-ms"`
}

// Died is sent by a node that shuts down cleanly.
type Died struct {
	Header
	Type string `json:"type,omitempty" edn:"type,omitempty"`
}

// Ack answers an enable, disable or route message: AckID is that message's msg-id.
type Ack struct {
	Header
	AckID  string `json:"ack-id" edn:"ack-id"`
	Status string `json:"status,omitempty" edn:"status,omitempty"`
	Error  string `json:"error,omitempty" edn:"error,omitempty"`
}

// TronInfo tells a node where the Tron's admin API is.
type TronInfo struct {
	Header
	TronHost HostPort `json:"tron-host" edn:"tron-host"`
}

// AllBundles lists every enabled bundle, so a runner can fetch ahead of time.
type AllBundles struct {
	Header
	TronHost HostPort    `json:"tron-host" edn:"tron-host"`
	Bundles  []BundleRef `json:"bundles" edn:"bundles"`
}

// BundleRef names an enabled bundle and its route. URL is where a runner downloads it
// (signed, so no admin token is needed); it is an addition to the catalogue.
type BundleRef struct {
	SHA  string `json:"sha" edn:"sha"`
	Host string `json:"host" edn:"host"`
	Path string `json:"path" edn:"path"`
	URL  string `json:"url,omitempty" edn:"url,omitempty"`
}

// Enable asks a runner to serve bundle SHA on its route (Host, Path) with Props.
// URL is the signed download URL (an addition to the catalogue).
type Enable struct {
	Header
	TronHost HostPort `json:"tron-host" edn:"tron-host"`
	SHA      string   `json:"sha" edn:"sha"`
	Props    Props    `json:"props" edn:"props"`
	Host     string   `json:"host" edn:"host"`
	Path     string   `json:"path" edn:"path"`
	URL      string   `json:"url,omitempty" edn:"url,omitempty"`
	// QueueType is the type of the route queue (spec/protocol.md §9); "" (an older Tron)
	// is classic. A runner declares the queue with it, so its arguments match the Tron's.
	QueueType QueueType `json:"queue-type,omitempty" edn:"queue-type,omitempty"`
}

// Disable asks a runner to stop serving bundle SHA.
type Disable struct {
	Header
	TronHost HostPort `json:"tron-host" edn:"tron-host"`
	SHA      string   `json:"sha" edn:"sha"`
}

// ResendAwake asks a node the Tron does not know to introduce itself again.
type ResendAwake struct {
	Header
}

// Route gives a frontend the whole route table, in the order to consult it (longest path
// first). It never carries props: they may hold secrets.
type Route struct {
	Header
	Routes []RouteEntry `json:"routes" edn:"routes"`
	// TableVersion is raised by the Tron on every change of the table; a frontend that has
	// not acked the current one gets the table again with its next heartbeat's reply.
	TableVersion uint64 `json:"table-version" edn:"table-version"`
}

// RouteEntry is one route: requests for Host (empty or "*" = any) under Path go to Queue,
// served by bundle SHA. Runners report the routes they serve in the same shape. An empty
// Host goes on the wire as null (routehost.go), and null decodes as "".
type RouteEntry struct {
	Host  string `json:"host" edn:"host"`
	Path  string `json:"path" edn:"path"`
	Queue string `json:"queue" edn:"queue"`
	SHA   string `json:"sha,omitempty" edn:"sha,omitempty"`
	// Status is, in a runner's heartbeat, the health of the bundle serving the route:
	// "ok", "unavailable" or "dirty" (spec/bundles.md §5). An addition to the catalogue.
	Status string `json:"status,omitempty" edn:"status,omitempty"`
	// Runners is, in the Tron's route table, how many runners consume the route's queue
	// now (spec/frontend.md "No runner, no wait"): at 0 a frontend answers 503 at once.
	// Absent when the Tron does not know (yet); then the route counts as served. An
	// addition to the catalogue.
	Runners *int `json:"runners,omitempty" edn:"runners,omitempty"`
}

// Die tells the older of two frontends that claim one instance-id to stop.
type Die struct {
	Header
	InstanceID string `json:"instance-id" edn:"instance-id"`
}

// SetStatsd tells every node where to send StatsD metrics (or to stop).
type SetStatsd struct {
	Header
	Statsd StatsdTarget `json:"statsd" edn:"statsd"`
}

// StatsdTarget is a StatsD destination; Enabled false means send none.
type StatsdTarget struct {
	Enabled bool   `json:"enabled" edn:"enabled"`
	Host    string `json:"host,omitempty" edn:"host,omitempty"`
	Port    Port   `json:"port,omitempty" edn:"port,omitempty"`
}

// Service is one HTTP request, put by a frontend on the route's queue. Field names are the
// nginx variables of the catalogue; absent nginx values are absent keys (empty strings).
type Service struct {
	Header
	Headers           Headers `json:"headers,omitempty" edn:"headers,omitempty"`
	Method            string  `json:"method,omitempty" edn:"method,omitempty"`
	URIArgs           URIArgs `json:"uri-args,omitempty" edn:"uri-args,omitempty"`
	Host              string  `json:"host,omitempty" edn:"host,omitempty"`
	ContentType       string  `json:"content-type,omitempty" edn:"content-type,omitempty"`
	RemoteAddr        string  `json:"remote-addr,omitempty" edn:"remote-addr,omitempty"`
	ServerProtocol    string  `json:"server-protocol,omitempty" edn:"server-protocol,omitempty"`
	ServerPort        string  `json:"server-port,omitempty" edn:"server-port,omitempty"`
	ServerAddr        string  `json:"server-addr,omitempty" edn:"server-addr,omitempty"`
	RemotePort        string  `json:"remote-port,omitempty" edn:"remote-port,omitempty"`
	RequestURI        string  `json:"request-uri,omitempty" edn:"request-uri,omitempty"`
	RequestID         string  `json:"request-id,omitempty" edn:"request-id,omitempty"`
	Args              string  `json:"args,omitempty" edn:"args,omitempty"`
	RemoteUser        string  `json:"remote-user,omitempty" edn:"remote-user,omitempty"`
	Request           string  `json:"request,omitempty" edn:"request,omitempty"`
	HTTPReferer       string  `json:"http-referer,omitempty" edn:"http-referer,omitempty"`
	HTTPUserAgent     string  `json:"http-user-agent,omitempty" edn:"http-user-agent,omitempty"`
	Scheme            string  `json:"scheme,omitempty" edn:"scheme,omitempty"`
	URI               string  `json:"uri,omitempty" edn:"uri,omitempty"`
	ReplyTo           string  `json:"reply-to,omitempty" edn:"reply-to,omitempty"`
	ReplyQueue        string  `json:"reply-queue,omitempty" edn:"reply-queue,omitempty"`
	BodyBase64Encoded bool    `json:"body-base64-encoded" edn:"body-base64-encoded"`
	// AnswerHeaders is "pairs" (AnswerHeadersPairs) when the sender wants the answer's
	// headers as pairs; absent, the map form (the 2017 frontend). An addition to the catalogue.
	AnswerHeaders string `json:"answer-headers,omitempty" edn:"answer-headers,omitempty"`
	// BodyLength is, in a records message (records.go, spec/protocol.md §8), the number of
	// raw body bytes after the record's line; absent in the catalogue's form.
	BodyLength int    `json:"body-length,omitempty" edn:"body-length,omitempty"`
	Body       Base64 `json:"body,omitempty" edn:"body,omitempty"`
}

// Answer is a runner's response to a Service, put on the frontend's reply-queue.
// RequestID is the Service's reply-to.
type Answer struct {
	Header
	RequestID string     `json:"request-id" edn:"request-id"`
	Answer    AnswerBody `json:"answer" edn:"answer"`
}

// AnswerBody is the HTTP response: Headers are [name, value] pairs, so repeated headers
// (Set-Cookie) stay separate. On the wire they are pairs or, with MapHeaders, a map name →
// string | array (spec/protocol.md §3; the runner sets it from the request's
// `answer-headers`). Decoding accepts both forms.
//
// Body must stay the last field: encoding/json writes fields in order, so an encoded
// answer ends `"body":"<base64>"}}`, and our Lua frontend's fast path relies on that to
// cut the body out of the text before decoding the rest (funcatron.message, the first
// `,"body":"` of the answer). Moving a field after Body breaks the frontend.
type AnswerBody struct {
	Status     int         `json:"status" edn:"status"`
	MapHeaders bool        `json:"-" edn:"-"`
	Headers    HeaderPairs `json:"headers" edn:"headers"`
	Body       Base64      `json:"body" edn:"body"`
}

// newMessage returns an empty message for action, or nil when the action is unknown.
func newMessage(action string) Message {
	switch action {
	case ActionAwake:
		return &Awake{}
	case ActionHeartbeat:
		return &Heartbeat{}
	case ActionDied:
		return &Died{}
	case ActionAck:
		return &Ack{}
	case ActionTronInfo:
		return &TronInfo{}
	case ActionAllBundles:
		return &AllBundles{}
	case ActionEnable:
		return &Enable{}
	case ActionDisable:
		return &Disable{}
	case ActionResendAwake:
		return &ResendAwake{}
	case ActionRoute:
		return &Route{}
	case ActionDie:
		return &Die{}
	case ActionSetStatsd:
		return &SetStatsd{}
	case ActionService:
		return &Service{}
	case ActionAnswer:
		return &Answer{}
	}
	return nil
}

// Stamp fills the common fields of a message about to be sent: its action, a fresh msg-id
// (unless one is set), the time, and the sender's version and inbox. It returns m.
func Stamp[M Message](m M, from, version string) M {
	h := m.Head()
	h.Action = ActionOf(m)
	if h.MsgID == "" {
		h.MsgID = uuid.NewString()
	}
	h.At = time.Now().UnixMilli()
	h.Version, h.From = version, from
	return m
}
