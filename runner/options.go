// The runner's options, their defaults and their checks.

package runner

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/protocol"
)

// Options configures a Runner. NewOptions gives the defaults; New fills any zero field with
// its default too, so a literal Options{RabbitURL: ...} works.
type Options struct {
	// RabbitURL is the AMQP URL of the broker. Default "amqp://guest:guest@127.0.0.1:5672/".
	RabbitURL string
	// TronQueue is the Tron's queue: awake, heartbeat, ack and died go there.
	// Default "for_tron".
	TronQueue string
	// Listen is the address of the HTTP server for /healthz and /metrics; ":0" or
	// "127.0.0.1:0" picks a free port (see Runner.HealthAddr). Default "127.0.0.1:4000".
	Listen string
	// DataDir holds the bundle cache (bundles/<sha>.funcbundle) and the unpacked bundles
	// (unpacked/<sha>/). Created if missing. Default "./data/runner".
	DataDir string
	// Codec is the codec of messages to the Tron. Answers to frontends are always JSON.
	// Default EDN.
	Codec protocol.Codec
	// Logger receives the runner's logs (component=runner). Default slog.Default().
	Logger *slog.Logger
	// HeartbeatInterval is the time between two heartbeats. Default 10s.
	HeartbeatInterval time.Duration
	// StopGrace is how long a bundle process has between SIGTERM and SIGKILL. Default 5s.
	StopGrace time.Duration
	// DisableLinger is how long a disabled route is still served before its consumer stops.
	// The Tron tells frontends before runners, but a request a frontend published a moment
	// before it dropped the route is already queued: served during the linger, it gets its
	// answer instead of expiring into a 504 at the frontend's timeout. Default 1s.
	DisableLinger time.Duration
	// PublishTimeout bounds the wait for the broker's confirm of one answer; past it the
	// request is requeued (or left to the broker to redeliver). Default 10s.
	PublishTimeout time.Duration
	// MaxBundleBytes bounds a bundle download. Default 256 MiB.
	MaxBundleBytes int64
	// MaxUnpackedBytes bounds what one bundle may unpack to. Default 1 GiB.
	MaxUnpackedBytes int64
	// MaxManifestBytes bounds a bundle's manifest, decoded (YAML aliases expanded): the
	// Tron's --max-manifest-bytes, which it must not be below. Default 1 MiB.
	MaxManifestBytes int64
	// MaxMessageBytes bounds both ways what the runner handles on the bus: a message on its
	// inbox or a route queue over it is dead-lettered unread (and counted), and an answer
	// whose message would be over it is replaced by a 502 (frontends cannot receive it:
	// their frame limit is the same number, see docs/security.md "Bounded input").
	// Default protocol.DefaultMaxMessageBytes (16 MiB).
	MaxMessageBytes int
}

// Defaults of Options.
const (
	DefaultRabbitURL         = "amqp://guest:guest@127.0.0.1:5672/"
	DefaultListen            = "127.0.0.1:4000"
	DefaultDataDir           = "./data/runner"
	DefaultHeartbeatInterval = 10 * time.Second
	DefaultStopGrace         = 5 * time.Second
	DefaultDisableLinger     = time.Second
	DefaultPublishTimeout    = 10 * time.Second
	DefaultMaxBundleBytes    = 256 << 20
	DefaultMaxUnpackedBytes  = 1 << 30
)

// NewOptions returns the default options.
func NewOptions() *Options {
	o := &Options{}
	o.setDefaults()
	return o
}

func (o *Options) setDefaults() {
	if o.RabbitURL == "" {
		o.RabbitURL = DefaultRabbitURL
	}
	if o.TronQueue == "" {
		o.TronQueue = protocol.DefaultTronQueue
	}
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if o.DataDir == "" {
		o.DataDir = DefaultDataDir
	}
	if o.Codec == "" {
		o.Codec = protocol.EDN
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
	if o.DisableLinger <= 0 {
		o.DisableLinger = DefaultDisableLinger
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = DefaultPublishTimeout
	}
	if o.MaxBundleBytes <= 0 {
		o.MaxBundleBytes = DefaultMaxBundleBytes
	}
	if o.MaxUnpackedBytes <= 0 {
		o.MaxUnpackedBytes = DefaultMaxUnpackedBytes
	}
	if o.MaxManifestBytes <= 0 {
		o.MaxManifestBytes = bundles.DefaultMaxManifestBytes
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = protocol.DefaultMaxMessageBytes
	}
}

// Validate reports the first option that cannot work.
func (o *Options) Validate() error {
	u, err := url.Parse(o.RabbitURL)
	if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
		return fmt.Errorf("rabbit-url %q: want amqp://user:pass@host:port/vhost", redact(o.RabbitURL))
	}
	if o.TronQueue == "" {
		return errors.New("tron-queue must not be empty")
	}
	if _, ok := protocol.ParseCodec(string(o.Codec)); !ok {
		return fmt.Errorf("codec %q: want edn or json", o.Codec)
	}
	return nil
}

// redact hides the password of a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
