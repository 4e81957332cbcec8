// This file holds the Tron's options: their defaults, their flags and their validation.

package tron

import (
	"flag"
	"log/slog"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/logging"
	"github.com/funcatron/funcatron/internal/options"
	"github.com/funcatron/funcatron/internal/protocol"
)

// Options configures a Tron. NewOptions gives the defaults; Flags binds each option to a
// command-line flag (and, through internal/options, to a FUNCATRON_* variable); New uses the
// values as given and Validate refuses those out of range: the runner's rule too (the
// internal/options package doc).
type Options struct {
	// RabbitURL is the AMQP URL of the broker, or several separated by commas: the nodes of
	// one cluster (amqpbus.Dial). Default "amqp://guest:guest@127.0.0.1:5672/".
	RabbitURL string
	// TronQueue is the durable queue the Tron consumes control messages from. Default "for_tron".
	TronQueue string
	// Listen is the address of the admin API. Default "127.0.0.1:3000"; ":0" picks a free
	// port (see Tron.Addr).
	Listen string
	// Advertise is the "host:port" runners are told (tron-host) and that signed download URLs
	// point to. Default "": the listen address, with the machine's host name when the listen
	// host is unspecified (":3000", "0.0.0.0:3000").
	Advertise string
	// DataDir holds the bundle store, the state file, the generated token and the URL-signing
	// key. Default "./data/tron". Created (mode 0700) when missing.
	DataDir string
	// TokenFile is a file holding the admin bearer token; it wins over Token. It must not be
	// readable by group or others (mode 0600 or 0400), or New refuses it. Default "": use
	// Token, or else a random token generated on first start and kept in DataDir/token
	// (mode 0600).
	TokenFile string
	// Token is the admin bearer token itself (from FUNCATRON_TOKEN), used when TokenFile is
	// not set. It has no flag, so it never shows in a process listing. Default "".
	Token string
	// MaxBundleBytes bounds an uploaded bundle, in bytes; a larger upload gets 413.
	// Default bundles.DefaultMaxBundleBytes (256 MiB).
	MaxBundleBytes int64
	// MaxUnpackedBytes bounds what an uploaded bundle may unpack to, in bytes; a larger one
	// is refused (400). Default bundles.DefaultMaxUnpackedBytes (1 GiB).
	MaxUnpackedBytes int64
	// MaxManifestBytes bounds a manifest's decoded size, YAML aliases counted in the bytes
	// they expand to; a larger one is refused (400). Default bundles.DefaultMaxManifestBytes
	// (1 MiB).
	MaxManifestBytes int64
	// MaxUploads bounds the add_func uploads read at once (each streams to a temp file); one
	// more waits for a free slot until its client gives up. Default 4.
	MaxUploads int
	// MaxMessageBytes bounds a message the Tron takes off its queue; a larger one is
	// dead-lettered unread and counted. Default protocol.DefaultMaxMessageBytes (16 MiB).
	MaxMessageBytes int
	// EnableWait is how long POST /api/v1/enable waits for the first runner's ack before it
	// answers 202. Default 10s.
	EnableWait time.Duration
	// HeartbeatPeriod is the nodes' heartbeat period; a node silent for 3 periods is dropped.
	// Default 10s.
	HeartbeatPeriod time.Duration
	// URLTTL is how long a signed bundle download URL stays valid. Default 1h, at most 24h.
	URLTTL time.Duration
	// Codec is what the Tron speaks to runners until they spoke to it (--codec edn or json;
	// replies always use the codec the node spoke in its awake; frontends always get JSON).
	// Default protocol.EDN.
	Codec protocol.Codec
	// QueueType is the type of the route queues, the Tron queue and funcatron.dead
	// (spec/protocol.md §9, docs/deploy.md): protocol.QueueClassic (the default, for a
	// single broker) or protocol.QueueQuorum (replicated over a cluster's nodes). Enable
	// carries it, so runners declare route queues identically. Queues that exist already
	// keep their type: switching needs them deleted first (docs/deploy.md).
	QueueType protocol.QueueType
	// BusKeyFile holds the runner key, which signs the control messages between the Tron
	// and the runners (spec/protocol.md §7). Default "": DataDir/bus-key, generated (mode
	// 0600) on first start. A key file readable by group or others is refused.
	BusKeyFile string
	// FrontendKeyFile holds the frontend key (Tron ↔ frontends), given to nginx as
	// FUNCATRON_FRONTEND_KEY_FILE. Default "": DataDir/frontend-key, generated likewise.
	FrontendKeyFile string
	// MaxClockSkew is how far a signed message's fc-at may be from this Tron's clock; it is
	// also how long a processed msg-id is remembered against replays. Positive; default
	// protocol.DefaultMaxClockSkew (5m).
	MaxClockSkew time.Duration
	// AcceptUnsignedFrontends lets frontends that cannot sign (the 2017 frontend) join.
	// A risk: anyone who can publish to the Tron queue can then pose as a frontend with any
	// instance-id. Unsigned messages never count as a runner's, and an unsigned awake never
	// makes the Tron send `die`. Default false.
	AcceptUnsignedFrontends bool
	// EventBuffer is how many recent lifecycle events GET /api/v1/events keeps (no flag).
	// Positive; default 256.
	EventBuffer int
	// Logger receives the Tron's logs. Default slog.Default(), or Logs.Logger.
	Logger *slog.Logger
	// Logs, when set, is the logging Logger belongs to: the Tron ships its records to
	// funcatron.logging with Logs.Shipper once its bus is connected, and the configuration
	// RPC changes Logs.Level. Default nil: neither.
	Logs *logging.Logs
	// Bus, when set, is used instead of connecting to RabbitMQ at RabbitURL (unit tests use
	// bus.Memory). The Tron does not close a Bus it was given. Default nil.
	Bus bus.Bus
	// Inspect validates an uploaded bundle. Default: the bundles package's validation.
	Inspect Inspector

	// eventHeartbeat is how often an idle event stream gets a comment line (sse.go); tests
	// shorten it. Default sseHeartbeat.
	eventHeartbeat time.Duration
	// maxEventStreams bounds the open event streams (sse.go); tests lower it. Default
	// sseMaxStreams.
	maxEventStreams int
}

// Defaults of the options that have one.
const (
	DefaultRabbitURL       = "amqp://guest:guest@127.0.0.1:5672/"
	DefaultListen          = "127.0.0.1:3000"
	DefaultDataDir         = "./data/tron"
	DefaultMaxUploads      = 4
	DefaultEnableWait      = 10 * time.Second
	DefaultHeartbeatPeriod = 10 * time.Second
	DefaultURLTTL          = time.Hour
	DefaultEventBuffer     = 256
	maxURLTTL              = 24 * time.Hour
)

// NewOptions returns the default options.
func NewOptions() *Options {
	return &Options{
		RabbitURL:        DefaultRabbitURL,
		TronQueue:        protocol.DefaultTronQueue,
		Listen:           DefaultListen,
		DataDir:          DefaultDataDir,
		MaxBundleBytes:   bundles.DefaultMaxBundleBytes,
		MaxUnpackedBytes: bundles.DefaultMaxUnpackedBytes,
		MaxManifestBytes: bundles.DefaultMaxManifestBytes,
		MaxUploads:       DefaultMaxUploads,
		MaxMessageBytes:  protocol.DefaultMaxMessageBytes,
		EnableWait:       DefaultEnableWait,
		HeartbeatPeriod:  DefaultHeartbeatPeriod,
		URLTTL:           DefaultURLTTL,
		Codec:            protocol.EDN,
		QueueType:        protocol.QueueClassic,
		MaxClockSkew:     protocol.DefaultMaxClockSkew,
		EventBuffer:      DefaultEventBuffer,
	}
}

// Flags binds every option that has a flag to fs, with the current values as defaults.
// The logging options (--log-level, --log-format) belong to the main program.
func (o *Options) Flags(fs *flag.FlagSet) {
	options.URLListVar(fs, &o.RabbitURL, "rabbit-url", "AMQP URL of RabbitMQ; several (repeated or comma-separated) are the nodes of one cluster, tried in a shuffled order")
	fs.StringVar(&o.TronQueue, "tron-queue", o.TronQueue, "queue the Tron consumes control messages from (also $TRON_QUEUE)")
	fs.StringVar(&o.Listen, "listen", o.Listen, "address of the admin HTTP API (host:port; port 0 picks a free one)")
	fs.StringVar(&o.Advertise, "advertise", o.Advertise, "host:port runners download bundles from (tron-host); default: the listen address")
	fs.StringVar(&o.DataDir, "data-dir", o.DataDir, "directory of the bundle store, the state, the token and the URL-signing key")
	fs.StringVar(&o.TokenFile, "token-file", o.TokenFile, "file holding the admin bearer token, mode 0600 (wins over $FUNCATRON_TOKEN; without either, one is generated in the data dir)")
	fs.Int64Var(&o.MaxBundleBytes, "max-bundle-bytes", o.MaxBundleBytes, "largest bundle upload accepted, in bytes")
	fs.Int64Var(&o.MaxUnpackedBytes, "max-unpacked-bytes", o.MaxUnpackedBytes, "most bytes an uploaded bundle may unpack to")
	fs.Int64Var(&o.MaxManifestBytes, "max-manifest-bytes", o.MaxManifestBytes, "most bytes a bundle's manifest may decode to, YAML aliases expanded")
	fs.IntVar(&o.MaxUploads, "max-uploads", o.MaxUploads, "most bundle uploads read at once")
	fs.IntVar(&o.MaxMessageBytes, "max-message-bytes", o.MaxMessageBytes, "largest bus message read; larger ones are dead-lettered unread")
	fs.DurationVar(&o.EnableWait, "enable-wait", o.EnableWait, "how long an enable call waits for a runner's ack")
	fs.DurationVar(&o.HeartbeatPeriod, "heartbeat-period", o.HeartbeatPeriod, "nodes' heartbeat period; a node silent for 3 periods is dropped")
	fs.DurationVar(&o.URLTTL, "url-ttl", o.URLTTL, "validity of signed bundle download URLs (at most 24h)")
	options.CodecVar(fs, &o.Codec, "codec", "codec toward runners before they spoke: edn or json")
	options.QueueTypeVar(fs, &o.QueueType, "queue-type", "type of the route queues, the Tron queue and funcatron.dead: classic (one broker) or quorum (a cluster)")
	fs.StringVar(&o.BusKeyFile, "bus-key-file", o.BusKeyFile, "file holding the runner key that signs Tron <-> runner messages (mode 0600; default: generated as <data-dir>/bus-key)")
	fs.StringVar(&o.FrontendKeyFile, "frontend-key-file", o.FrontendKeyFile, "file holding the frontend key that signs Tron <-> frontend messages (mode 0600; default: generated as <data-dir>/frontend-key)")
	fs.DurationVar(&o.MaxClockSkew, "max-clock-skew", o.MaxClockSkew, "how far a signed message's time may be from this clock")
	fs.BoolVar(&o.AcceptUnsignedFrontends, "accept-unsigned-frontends", o.AcceptUnsignedFrontends,
		"RISK: accept unsigned frontend messages (the 2017 frontend); such a node can claim any instance-id")
}

// ErrInvalidOptions is wrapped by every error of Validate (and so of New) about an option;
// it is the runner's too (options.ErrInvalid): the daemons exit 2 for it.
var ErrInvalidOptions = options.ErrInvalid

// setDefaults fills what has no flag and defaults when nil (Logger, Inspect) and spells
// Codec and QueueType canonically; it changes no option with a flag (the rule: the
// internal/options package doc).
func (o *Options) setDefaults() {
	if c, ok := protocol.ParseCodec(string(o.Codec)); ok {
		o.Codec = c
	}
	if q, ok := protocol.ParseQueueType(string(o.QueueType)); ok {
		o.QueueType = q
	}
	if o.Logger == nil && o.Logs != nil {
		o.Logger = o.Logs.Logger
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Inspect == nil {
		o.Inspect = inspector(bundles.Limits{MaxUnpackedBytes: o.MaxUnpackedBytes, MaxManifestBytes: o.MaxManifestBytes})
	}
}

// Validate reports every option that cannot work, at once, in an error wrapping
// ErrInvalidOptions; nil when all can.
func (o *Options) Validate() error {
	var p options.Problems
	if o.Bus == nil {
		p.AMQPURLs(o.RabbitURL)
	}
	if o.TronQueue == "" {
		p.Add("--tron-queue: must not be empty")
	}
	p.Listen(o.Listen)
	if o.Advertise != "" {
		if h, port, err := options.SplitHostPort(o.Advertise); err != nil || h == "" || port == 0 {
			p.Add("--advertise %q: want host:port with a host and a non-zero port", o.Advertise)
		}
	}
	if o.DataDir == "" {
		p.Add("--data-dir: must not be empty")
	}
	o.validateBounds(&p)
	if o.URLTTL <= 0 || o.URLTTL > maxURLTTL {
		p.Add("--url-ttl %s: must be positive and at most %s", o.URLTTL, maxURLTTL)
	}
	p.Codec(o.Codec)
	p.QueueType(o.QueueType)
	return p.Err()
}

// validateBounds checks the sizes, counts and durations, which must be positive.
func (o *Options) validateBounds(p *options.Problems) {
	options.Positive(p, "--max-bundle-bytes", o.MaxBundleBytes)
	options.Positive(p, "--max-unpacked-bytes", o.MaxUnpackedBytes)
	options.Positive(p, "--max-manifest-bytes", o.MaxManifestBytes)
	options.Positive(p, "--max-uploads", o.MaxUploads)
	options.Positive(p, "--max-message-bytes", o.MaxMessageBytes)
	options.Positive(p, "--enable-wait", o.EnableWait)
	options.Positive(p, "--heartbeat-period", o.HeartbeatPeriod)
	options.Positive(p, "--max-clock-skew", o.MaxClockSkew)
	options.Positive(p, "EventBuffer", o.EventBuffer)
}
