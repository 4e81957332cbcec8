// This file prints the help texts: the command list and each command's help, with its
// flags and the global options.

package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

const usageHead = `funcatron: the command-line client of Funcatron's Tron

Usage: funcatron [OPTIONS] COMMAND [ARGS]
       funcatron help COMMAND      (or funcatron COMMAND --help)

Commands:
`

const usageTail = `
Options (before or after the command; each also an environment variable):
  --tron URL         the Tron's admin API, $FUNCATRON_TRON (default http://127.0.0.1:3000)
  --token TOKEN      the admin token, $FUNCATRON_TOKEN
  --token-file FILE  a file holding it, $FUNCATRON_TOKEN_FILE (default data/tron/token,
                     where a Tron started in this directory stores its generated token)
  --version          print the version
  -h, --help         help

Exit status: 0 done, 1 the Tron refused or could not be reached, 2 bad command line.
The manual: docs/cli.md.
`

func printUsage(out io.Writer) error {
	var b strings.Builder
	b.WriteString(usageHead)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString(usageTail)
	_, err := io.WriteString(out, b.String())
	return err
}

// printHelp prints `funcatron help CMD`: usage, what it does, its own flags.
func (cmd *command) printHelp(out io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: funcatron %s %s\n\n%s.\n", cmd.name, cmd.args, upperFirst(cmd.summary))
	if cmd.details != "" {
		fmt.Fprintf(&b, "\n%s\n", cmd.details)
	}
	if flags := cmd.flagHelp(); flags != "" {
		fmt.Fprintf(&b, "\nOptions:\n%s", flags)
	}
	b.WriteString("\nGlobal options: --tron URL, --token TOKEN, --token-file FILE (see funcatron help).\n")
	_, err := io.WriteString(out, b.String())
	return err
}

// flagHelp lists the command's own flags (not the global ones) with their defaults.
func (cmd *command) flagHelp() string {
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	cmd.setup(fs)
	var b strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		line := dash + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(&b, "  %-20s %s", line, usage)
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(&b, " (default %s)", f.DefValue)
		}
		b.WriteString("\n")
	})
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
