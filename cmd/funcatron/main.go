// Command funcatron is the command-line client of the Tron's admin API: pack, upload,
// enable, disable, list and remove Func Bundles, and watch the system (status, events).
// docs/cli.md is its manual; `funcatron help` and `funcatron CMD --help` say the same.
//
//	funcatron deploy hello.zip --props '{"greeting":"hi"}'
//	funcatron ls
//	funcatron events -f
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/funcatron/funcatron/internal/version"
)

// Exit codes (docs/cli.md).
const (
	exitOK    = 0
	exitFail  = 1 // the Tron refused, or could not be reached
	exitUsage = 2 // bad command line
)

// usageError is a bad command line: exit 2, with a hint to the command's help.
type usageError struct {
	cmd string
	msg string
}

func (e *usageError) Error() string {
	help := "funcatron help"
	if e.cmd != "" {
		help = "funcatron " + e.cmd + " --help"
	}
	return e.msg + " (see " + help + ")"
}

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs one command line and returns the exit code; errors go to stderr.
func run(args []string, stdout, stderr io.Writer) int {
	err := dispatch(args, stdout)
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "funcatron:", err)
		return exitUsage
	}
	fmt.Fprintln(stderr, "funcatron:", err)
	return exitFail
}

// dispatch parses the global options, then runs the command named by the first argument.
func dispatch(args []string, out io.Writer) error {
	g := defaultGlobals()
	fs := newFlagSet("funcatron", g)
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return printUsage(out)
		}
		return usagef("", "%v", err)
	}
	switch {
	case *showVersion:
		return printVersion(out)
	case fs.NArg() == 0:
		return printUsage(out)
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	cmd := findCommand(name)
	if cmd == nil {
		return usagef("", "unknown command %q", name)
	}
	return cmd.execute(g, rest, out)
}

func printVersion(out io.Writer) error {
	_, err := fmt.Fprintf(out, "funcatron %s\n", version.Version)
	return err
}

// globals are the options every command takes, before or after the command's name.
type globals struct {
	tron      string
	token     string
	tokenFile string
}

// defaultTokenFile is where `make run` and a Tron started in the repository keep the
// generated token (--data-dir ./data/tron).
const defaultTokenFile = "data/tron/token"

// defaultGlobals are the global options from the environment, before any flag.
func defaultGlobals() *globals {
	return &globals{
		tron:      envOr("FUNCATRON_TRON", "http://127.0.0.1:3000"),
		token:     os.Getenv("FUNCATRON_TOKEN"),
		tokenFile: envOr("FUNCATRON_TOKEN_FILE", defaultTokenFile),
	}
}

// newFlagSet is a flag set carrying the global options (their current values as
// defaults), that reports errors instead of printing them.
func newFlagSet(name string, g *globals) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&g.tron, "tron", g.tron, "the Tron's admin API `URL` ($FUNCATRON_TRON)")
	fs.StringVar(&g.token, "token", g.token, "the admin `TOKEN` ($FUNCATRON_TOKEN)")
	fs.StringVar(&g.tokenFile, "token-file", g.tokenFile, "a `FILE` holding the admin token ($FUNCATRON_TOKEN_FILE)")
	return fs
}

// parseInterspersed parses fs over args, letting flags come before, between or after the
// positional arguments (`funcatron deploy b.zip --replace`), and returns the positionals.
// "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func trimNewline(s string) string { return strings.TrimRight(s, "\r\n") }
