// Command tron runs Funcatron's control plane: flags and environment → tron.Options →
// tron.New → Run, until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/funcatron/funcatron/internal/logging"
	"github.com/funcatron/funcatron/internal/options"
	"github.com/funcatron/funcatron/internal/version"
	"github.com/funcatron/funcatron/tron"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stderr))
}

// run is main without the process: it returns the exit code (2 for bad options).
func run(ctx context.Context, args, env []string, stderr io.Writer) int {
	opts := tron.NewOptions()
	fs := flag.NewFlagSet("tron", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts.Flags(fs)
	level := fs.String("log-level", "info", "log level: silly, debug, info, notice, warn, error, alert or emerg")
	format := fs.String("log-format", "text", "log format: text or json")
	fs.Usage = options.Usage(fs, "tron "+version.Version+": the Funcatron control plane (admin API, bundle store, membership, routes).\n\n"+
		"The admin token comes from --token-file (refused when group or others can read it), else $FUNCATRON_TOKEN,\n"+
		"else one generated in --data-dir. A broker password belongs in $FUNCATRON_RABBIT_URL, not on the command line.")
	if err := options.Parse(fs, args, env, map[string][]string{"tron-queue": {"TRON_QUEUE"}}); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "tron: %v\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tron: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	opts.Token = lookupEnv(env, "FUNCATRON_TOKEN")
	logs, err := logging.Open(stderr, "tron", *level, *format)
	if err != nil {
		fmt.Fprintf(stderr, "tron: %v\n", err)
		return 2
	}
	log := logs.Logger
	opts.Logger, opts.Logs = log, logs
	t, err := tron.New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "tron: %v\n", err)
		if errors.Is(err, tron.ErrInvalidOptions) {
			return 2
		}
		return 1
	}
	log.Info("tron starting", "version", version.Version, "listen", t.Addr().String(), "data_dir", opts.DataDir)
	if err := t.Run(ctx); err != nil {
		log.Error("tron failed", "err", err)
		return 1
	}
	return 0
}

func lookupEnv(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}
