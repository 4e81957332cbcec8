// Command runner is Funcatron's worker: it serves the route queues the Tron enables.
// Options come from flags and FUNCATRON_* environment variables (runner --help).
package main

import (
	"context"
	"github.com/funcatron/funcatron/internal/logging"
	"io"

	"github.com/funcatron/funcatron/internal/options"
	"github.com/funcatron/funcatron/internal/version"
	"github.com/funcatron/funcatron/runner"
	"github.com/funcatron/funcatron/runner/kinds"
)

func main() { options.Main(run) }

// run is main without the process: flags and environment → runner.Options → runner.New →
// Run, until ctx ends. It returns the exit code: 0 after a clean shutdown, 2 for bad
// options, 1 for any other failure (options.ExitCode).
func run(ctx context.Context, args, env []string, stderr io.Writer) int {
	opts := runner.NewOptions()
	opts.Kinds = kinds.All()
	return options.Daemon{
		Name:    "runner",
		Summary: "runner " + version.Version + ": Funcatron's worker; serves the route queues the Tron enables",
		Flags:   opts.Flags,
		New: func(logs *logging.Logs) (options.Service, error) {
			log := logs.Logger
			opts.Logger, opts.Logs = log, logs
			r, err := runner.New(opts)
			if err != nil {
				return nil, err
			}
			log.Info("runner starting", "version", version.Version, "listen", r.HealthAddr().String(), "inbox", r.Inbox())
			return r, nil
		},
	}.Run(ctx, args, env, stderr)
}
