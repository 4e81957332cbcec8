// Command runner is Funcatron's worker: it serves the route queues the Tron enables.
// Options come from flags and FUNCATRON_* environment variables (runner --help).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/funcatron/funcatron/internal/logging"
	"github.com/funcatron/funcatron/internal/options"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/version"
	"github.com/funcatron/funcatron/runner"
	"github.com/funcatron/funcatron/runner/kinds"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stderr))
}

// run parses the options, builds the runner and runs it until ctx ends; it returns the
// exit code: 0 after a clean shutdown, 1 on failure, 2 for bad options.
func run(ctx context.Context, args, env []string, stderr io.Writer) int {
	opts, logLevel, logFormat, err := parse(args, env, stderr)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "runner: %v\n", err)
		return 2
	}
	logs, err := logging.Open(stderr, "runner", logLevel, logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "runner: %v\n", err)
		return 2
	}
	log := logs.Logger
	opts.Logger, opts.Logs = log, logs
	r, err := runner.New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "runner: %v\n", err)
		return 2
	}
	log.Info("runner starting", "version", version.Version, "listen", r.HealthAddr().String(), "inbox", r.Inbox())
	if err := r.Run(ctx); err != nil {
		log.Error("runner failed", "err", err)
		return 1
	}
	return 0
}

// parse reads flags, then the environment (spec/architecture.md "Options of the Go daemons").
func parse(args, env []string, out io.Writer) (*runner.Options, string, string, error) {
	o := runner.NewOptions()
	o.Kinds = kinds.All()
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	fs.SetOutput(out)
	codec := "edn"
	logLevel, logFormat := "info", "text"
	fs.StringVar(&o.RabbitURL, "rabbit-url", o.RabbitURL, "AMQP URL of RabbitMQ")
	fs.StringVar(&o.TronQueue, "tron-queue", o.TronQueue, "the Tron's queue (also $TRON_QUEUE)")
	fs.StringVar(&o.Listen, "listen", o.Listen, "address of /healthz and /metrics")
	fs.StringVar(&o.DataDir, "data-dir", o.DataDir, "bundle cache and unpacked bundles")
	fs.StringVar(&codec, "codec", codec, "codec of messages to the Tron: edn or json")
	fs.StringVar(&logLevel, "log-level", logLevel, "silly, debug, info, notice, warn, error, alert or emerg")
	fs.StringVar(&logFormat, "log-format", logFormat, "text or json")
	fs.DurationVar(&o.HeartbeatInterval, "heartbeat-period", o.HeartbeatInterval, "time between heartbeats (the Tron drops a node silent for 3 periods)")
	fs.DurationVar(&o.StopGrace, "stop-grace", o.StopGrace, "time between SIGTERM and SIGKILL for bundle processes")
	fs.DurationVar(&o.DisableLinger, "disable-linger", o.DisableLinger, "how long a disabled route is still served, for requests queued before frontends dropped it")
	fs.Int64Var(&o.MaxBundleBytes, "max-bundle-bytes", o.MaxBundleBytes, "largest bundle download")
	fs.Int64Var(&o.MaxUnpackedBytes, "max-unpacked-bytes", o.MaxUnpackedBytes, "most bytes one bundle may unpack to")
	fs.StringVar(&o.BusKeyFile, "bus-key-file", o.BusKeyFile, "file holding the runner key that signs control messages (the Tron's <data-dir>/bus-key; mode 0600; required)")
	fs.DurationVar(&o.MaxClockSkew, "max-clock-skew", o.MaxClockSkew, "how far a control message's time may be from this clock")
	fs.Var(&o.BundleUIDs, "bundle-uids", "uids for bundle processes, one per started bundle, e.g. 61000-61999 (needs root or CAP_SETUID, CAP_SETGID, CAP_KILL, CAP_CHOWN, CAP_DAC_OVERRIDE; as root it is required)")
	fs.Int64Var(&o.MaxManifestBytes, "max-manifest-bytes", o.MaxManifestBytes, "most bytes a bundle's manifest may decode to, YAML aliases expanded (at least the Tron's)")
	fs.IntVar(&o.MaxMessageBytes, "max-message-bytes", o.MaxMessageBytes, "largest bus message read, and largest answer sent (a larger one becomes a 502)")
	fs.Usage = options.Usage(fs, "runner: Funcatron's worker; serves the route queues the Tron enables")
	if err := options.Parse(fs, args, env, map[string][]string{"tron-queue": {"TRON_QUEUE"}}); err != nil {
		return nil, "", "", err
	}
	if fs.NArg() > 0 {
		return nil, "", "", fmt.Errorf("unexpected argument %q (options start with --)", fs.Arg(0))
	}
	c, ok := protocol.ParseCodec(codec)
	if !ok {
		return nil, "", "", fmt.Errorf("--codec %q: want edn or json", codec)
	}
	o.Codec = c
	return o, logLevel, logFormat, nil
}
