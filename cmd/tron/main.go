// Command tron runs Funcatron's control plane: flags and environment → tron.Options →
// tron.New → Run, until SIGINT or SIGTERM.
package main

import (
	"context"
	"github.com/funcatron/funcatron/internal/logging"
	"io"
	"strings"

	"github.com/funcatron/funcatron/internal/options"
	"github.com/funcatron/funcatron/internal/version"
	"github.com/funcatron/funcatron/tron"
)

func main() { options.Main(run) }

// run is main without the process: flags and environment → tron.Options → tron.New →
// Run, until ctx ends. It returns the exit code: 0 after a clean shutdown, 2 for bad
// options, 1 for any other failure (options.ExitCode).
func run(ctx context.Context, args, env []string, stderr io.Writer) int {
	opts := tron.NewOptions()
	return options.Daemon{
		Name: "tron",
		Summary: "tron " + version.Version + ": the Funcatron control plane (admin API, bundle store, membership, routes).\n\n" +
			"The admin token comes from --token-file (refused when group or others can read it), else $FUNCATRON_TOKEN,\n" +
			"else one generated in --data-dir. A broker password belongs in $FUNCATRON_RABBIT_URL, not on the command line.",
		Flags: opts.Flags,
		New: func(logs *logging.Logs) (options.Service, error) {
			log := logs.Logger
			opts.Logger, opts.Logs = log, logs
			opts.Token = lookupEnv(env, "FUNCATRON_TOKEN")
			t, err := tron.New(opts)
			if err != nil {
				return nil, err
			}
			log.Info("tron starting", "version", version.Version, "listen", t.Addr().String(), "data_dir", opts.DataDir)
			return t, nil
		},
	}.Run(ctx, args, env, stderr)
}

func lookupEnv(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}
