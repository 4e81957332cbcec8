// This file is the table of commands: each one's arguments, flags, help text and action.

package main

import (
	"errors"
	"flag"
	"io"
	"time"
)

// command is one `funcatron CMD`.
type command struct {
	name    string
	args    string // the arguments' synopsis, for usage lines
	summary string // one line, for the command list
	details string // the rest of `funcatron help CMD`: what it does, examples
	minArgs int
	maxArgs int
	// setup defines the command's own flags on fs and returns its action, which reads them.
	setup func(fs *flag.FlagSet) func(c *client, args []string) error
}

var commands []*command

func init() {
	commands = []*command{
		packCommand, uploadCommand, enableCommand, deployCommand, disableCommand, rmCommand,
		lsCommand, routesCommand, statusCommand, eventsCommand, logsCommand, statsCommand, configCommand, versionCommand, helpCommand,
	}
}

func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// execute parses the command's flags (global ones included) and runs it.
func (cmd *command) execute(g *globals, args []string, out io.Writer) error {
	fs := newFlagSet(cmd.name, g)
	action := cmd.setup(fs)
	pos, err := parseInterspersed(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return cmd.printHelp(out)
	case err != nil:
		return usagef(cmd.name, "%v", err)
	case len(pos) < cmd.minArgs || len(pos) > cmd.maxArgs:
		return usagef(cmd.name, "usage: funcatron %s %s", cmd.name, cmd.args)
	}
	return action(newClient(g, out), pos)
}

// bundleArg is how every command that takes a bundle describes it.
const bundleArg = `BUNDLE is a sha, a unique prefix of it (at least 8 hex digits, as ls shows),
or the bundle's title (info.title; title@version when several versions are stored).`

var packCommand = &command{
	name: "pack", args: "DIR [-o FILE]", minArgs: 1, maxArgs: 1,
	summary: "zip a bundle directory and check it (no Tron needed)",
	details: `Zips DIR reproducibly (the same files give the same sha) and checks the result with
the rules the Tron applies at upload, so a broken bundle is caught before it is sent.

Example:
  funcatron pack myfn -o myfn.zip`,
	setup: func(fs *flag.FlagSet) func(*client, []string) error {
		output := fs.String("o", "", "the zip `FILE` to write (default DIR's name + .zip)")
		return func(c *client, args []string) error { return packDir(args[0], *output, c.out) }
	},
}

var uploadCommand = &command{
	name: "upload", args: "FILE", minArgs: 1, maxArgs: 1,
	summary: "upload a bundle; prints its sha",
	details: `Uploads the bundle file to the Tron, which checks and stores it (uploading the same
bytes again is harmless). It is not served until enabled. A progress bar shows on a
terminal for files over 4 MiB.

Example:
  funcatron upload myfn.zip`,
	setup: func(fs *flag.FlagSet) func(*client, []string) error {
		return func(c *client, args []string) error { _, err := c.upload(args[0]); return err }
	},
}

// enableFlags defines --props and --replace.
func enableFlags(fs *flag.FlagSet) *enableOptions {
	o := &enableOptions{}
	fs.StringVar(&o.props, "props", "", "the bundle's props: a `JSON` object, or @FILE holding one (default: none; with --replace, the replaced bundle's)")
	fs.BoolVar(&o.replace, "replace", false, "replace the bundle that serves the same host and path")
	return o
}

var enableCommand = &command{
	name: "enable", args: "BUNDLE [--props JSON|@FILE] [--replace]", minArgs: 1, maxArgs: 1,
	summary: "serve an uploaded bundle on its route",
	details: bundleArg + `

Waits until a runner serves it (up to the Tron's --enable-wait); when none did in time
the bundle stays enabled and runners that arrive later get it. When every runner that
answered failed to start it, it is not enabled: each runner's error is printed (the
bundle's stderr among it) and the exit status is 1. Another bundle on the same
host and path is refused unless --replace; with --replace and no --props the replaced
bundle's props are kept.

Examples:
  funcatron enable hello --props '{"greeting":"hi"}'
  funcatron enable 3f2a9c1e --replace`,
	setup: func(fs *flag.FlagSet) func(*client, []string) error {
		o := enableFlags(fs)
		return func(c *client, args []string) error {
			sha, err := c.resolve(args[0], false)
			if err != nil {
				return err
			}
			return c.enable(sha, *o, "funcatron enable "+args[0]+" --replace")
		}
	},
}

var deployCommand = &command{
	name: "deploy", args: "FILE [--props JSON|@FILE] [--replace]", minArgs: 1, maxArgs: 1,
	summary: "upload a bundle, then enable it",
	details: `upload, then enable, in one step; see funcatron enable --help. To deploy a new
version over the one serving its route, add --replace (its props are kept unless --props
is given).

Examples:
  funcatron deploy hello.zip --props '{"greeting":"hi"}'
  funcatron deploy hello-v2.zip --replace`,
	setup: func(fs *flag.FlagSet) func(*client, []string) error {
		o := enableFlags(fs)
		return func(c *client, args []string) error {
			b, err := c.upload(args[0])
			if err != nil {
				return err
			}
			retry := "funcatron deploy " + args[0] + " --replace   (or: funcatron enable " + shortSHA(b.SHA) + " --replace)"
			return c.enable(b.SHA, *o, retry)
		}
	},
}

var disableCommand = &command{
	name: "disable", args: "BUNDLE", minArgs: 1, maxArgs: 1,
	summary: "stop serving a bundle (it stays stored)",
	details: bundleArg + ` A title names the enabled one among its versions.

Example:
  funcatron disable hello`,
	setup: func(fs *flag.FlagSet) func(*client, []string) error {
		return func(c *client, args []string) error { return c.disable(args[0]) }
	},
}

var rmCommand = &command{
	name: "rm", args: "BUNDLE", minArgs: 1, maxArgs: 1,
	summary: "delete a disabled bundle from the Tron",
	details: bundleArg + `

Example:
  funcatron rm 3f2a9c1e4b5d`,
	setup: func(fs *flag.FlagSet) func(*client, []string) error {
		return func(c *client, args []string) error { return c.remove(args[0]) }
	},
}

func jsonFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("json", false, "print JSON for scripts instead of a table")
}

var lsCommand = &command{
	name: "ls", args: "[--json]", maxArgs: 0,
	summary: "list the uploaded bundles",
	details: `One line per stored bundle, oldest upload first: title, version, sha (12 digits;
every command takes it back), kind, route (host/path, */path for any host), state,
upload time (RFC 3339), size.`,
	setup: func(fs *flag.FlagSet) func(*client, []string) error {
		asJSON := jsonFlag(fs)
		return func(c *client, _ []string) error { return c.ls(*asJSON) }
	},
}

var routesCommand = &command{
	name: "routes", args: "[--json]", maxArgs: 0,
	summary: "print the route table the frontends have",
	details: `One line per enabled route, in the order frontends match them (longest path first):
route (host/path, */path for any host), the bundle serving it, its queue.`,
	setup: func(fs *flag.FlagSet) func(*client, []string) error {
		asJSON := jsonFlag(fs)
		return func(c *client, _ []string) error { return c.routes(*asJSON) }
	},
}

var statusCommand = &command{
	name: "status", args: "[--interval D] [--json]", maxArgs: 0,
	summary: "show bundles, routes with request rates, and live nodes",
	details: `Samples the Tron's stats twice, --interval apart, and prints three tables: the
bundles; the routes with requests and errors per second, mean latency, requests in
flight and totals since the Tron started; the live nodes with their last heartbeat.

Example:
  funcatron status --interval 5s`,
	setup: func(fs *flag.FlagSet) func(*client, []string) error {
		interval := fs.Duration("interval", time.Second, "the window the rates are measured over (0: totals only)")
		asJSON := jsonFlag(fs)
		return func(c *client, _ []string) error { return c.status(*interval, *asJSON) }
	},
}

var logsCommand = &command{
	name: "logs", args: "[sha-prefix|title|route] [-f] [--json]", maxArgs: 1,
	summary: "print the bundles' recent output; -f follows new lines",
	details: `Prints the lines the bundles wrote to stdout and stderr that the Tron keeps (the last
1000), oldest first, times in RFC 3339: of every bundle, of one bundle (a sha, a sha
prefix of at least 8 hex digits, or a title, title@version), or of one route (host/path,
or */path for a route of any host; an argument with a slash is a route). With -f it then
prints new lines as they come, until interrupted (Ctrl-C).

Examples:
  funcatron logs hello -f
  funcatron logs '*/hello'`,
	setup: func(fs *flag.FlagSet) func(*client, []string) error {
		follow := fs.Bool("f", false, "follow: keep printing new lines")
		asJSON := fs.Bool("json", false, "print each record as one line of JSON")
		return func(c *client, args []string) error {
			arg := ""
			if len(args) > 0 {
				arg = args[0]
			}
			return c.logs(arg, *follow, *asJSON)
		}
	},
}

var eventsCommand = &command{
	name: "events", args: "[-f] [--json]", maxArgs: 0,
	summary: "print the recent lifecycle events; -f follows new ones",
	details: `Prints the events the Tron keeps (uploads, enables, disables, nodes found and lost,
route table changes), oldest first, times in RFC 3339. With -f it then prints new events
as they happen, until interrupted (Ctrl-C).

Example:
  funcatron events -f`,
	setup: func(fs *flag.FlagSet) func(*client, []string) error {
		follow := fs.Bool("f", false, "follow: keep printing new events")
		asJSON := fs.Bool("json", false, "print each event as one line of JSON")
		return func(c *client, _ []string) error { return c.events(*follow, *asJSON) }
	},
}

var statsCommand = &command{
	name: "stats", args: "", maxArgs: 0,
	summary: "print the Tron's raw stats as JSON (nodes, route map, per-route counters)",
	details: `The answer of GET /api/v1/stats, indented; funcatron status shows the same as tables.`,
	setup: func(fs *flag.FlagSet) func(*client, []string) error {
		return func(c *client, _ []string) error {
			var raw any
			if err := c.getJSON("/api/v1/stats", &raw); err != nil {
				return err
			}
			return printJSON(c.out, raw)
		}
	},
}

var versionCommand = &command{
	name: "version", args: "", maxArgs: 0,
	summary: "print the version (also: funcatron --version)",
	setup: func(fs *flag.FlagSet) func(*client, []string) error {
		return func(c *client, _ []string) error { return printVersion(c.out) }
	},
}

var helpCommand = &command{
	name: "help", args: "[COMMAND]", maxArgs: 1,
	summary: "show this help, or a command's",
	setup: func(fs *flag.FlagSet) func(*client, []string) error {
		return func(c *client, args []string) error {
			if len(args) == 0 {
				return printUsage(c.out)
			}
			if cmd := findCommand(args[0]); cmd != nil {
				return cmd.printHelp(c.out)
			}
			return usagef("", "unknown command %q", args[0])
		}
	},
}
