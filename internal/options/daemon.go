// This file holds what the Tron's and the runner's mains share: the order of their steps,
// the logging flags and the exit codes.

package options

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
)

// ErrInvalid is wrapped by every error that means "bad options": a flag or variable that
// does not parse, an option that cannot work (tron.Options.Validate, runner.Options.Validate).
// A daemon exits 2 for it and 1 for any other failure (ExitCode).
var ErrInvalid = errors.New("invalid options")

// Invalid wraps err (when not nil) in ErrInvalid.
func Invalid(err error) error {
	if err == nil || errors.Is(err, ErrInvalid) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrInvalid, err)
}

// ExitCode is a daemon's exit code for err: 0 for none (or --help), 2 for bad options, 1
// for anything else (a taken listen address, an unreachable broker, a failed run).
func ExitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrInvalid):
		return 2
	}
	return 1
}

// Aliases are the extra environment variables both daemons read (see Parse): the 2017
// Funcatron's $TRON_QUEUE.
var Aliases = map[string][]string{"tron-queue": {"TRON_QUEUE"}}

// Main is a daemon's func main: it calls run (a Daemon's Run, bound to the daemon's
// options) with the process's arguments, environment and stderr, until SIGINT or SIGTERM,
// and exits with its code.
func Main(run func(ctx context.Context, args, env []string, stderr io.Writer) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stderr)
	stop()
	os.Exit(code)
}

// Service is a daemon built from its options: Run serves until ctx ends.
type Service interface {
	Run(ctx context.Context) error
}

// Daemon is one daemon's main, step by step: bind the flags (Flags, then --log-level and
// --log-format), parse the command line and the environment, build the logger, build the
// daemon (New), run it. Both cmd/tron and cmd/runner are one Daemon.
type Daemon struct {
	// Name is the program's name: the flag set's and the prefix of its error lines.
	Name string
	// Summary opens --help.
	Summary string
	// Flags binds the daemon's options (tron.Options.Flags, runner.Options.Flags).
	Flags func(fs *flag.FlagSet)
	// New builds the daemon with the parsed options and its logging (logs.Logger, and
	// logs for funcatron.logging and the run-time log level). An error wrapping ErrInvalid
	// is a bad option (exit 2); another is a failure (exit 1).
	New func(logs *logging.Logs) (Service, error)
}

// Run is the daemon's main without the process: it returns the exit code (ExitCode).
// A failure before the logger exists, or while building, is one line on stderr; a failed
// run is logged.
func (d Daemon) Run(ctx context.Context, args, env []string, stderr io.Writer) int {
	logs, err := d.parse(args, env, stderr)
	var svc Service
	if err == nil {
		svc, err = d.New(logs)
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "%s: %v\n", d.Name, err)
		}
		return ExitCode(err)
	}
	if err := svc.Run(ctx); err != nil {
		logs.Logger.Error(d.Name+" failed", "err", err)
		return 1
	}
	return 0
}

// parse binds and parses the flags and the environment and builds the logger; every error
// but flag.ErrHelp wraps ErrInvalid.
func (d Daemon) parse(args, env []string, stderr io.Writer) (*logging.Logs, error) {
	fs := flag.NewFlagSet(d.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	d.Flags(fs)
	level := fs.String("log-level", "info", "log level: silly, debug, info, notice, warn, error, alert or emerg")
	format := fs.String("log-format", "text", "log format: text or json")
	fs.Usage = Usage(fs, d.Summary)
	if err := Parse(fs, args, env, Aliases); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, Invalid(err)
	}
	if fs.NArg() > 0 {
		return nil, Invalid(fmt.Errorf("unexpected arguments: %s (options start with --)", strings.Join(fs.Args(), " ")))
	}
	logs, err := logging.Open(stderr, d.Name, *level, *format)
	return logs, Invalid(err)
}
