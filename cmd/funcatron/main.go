// Command funcatron is the command-line client of the Tron's admin API: upload, enable,
// disable, list and remove Func Bundles (spec/tron-api.md).
//
//	funcatron deploy hello.zip --props '{"greeting":"hi"}'
//	funcatron ls
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `funcatron: the Tron's command-line client

Usage: funcatron [--tron URL] [--token TOKEN | --token-file FILE] COMMAND [ARGS]

Commands:
  pack DIR [-o FILE]                   zip a bundle directory and check it (no Tron needed)
  upload FILE                          upload a bundle; prints its sha
  enable SHA [--props JSON|@FILE] [--replace]
                                       serve the bundle on its route
  deploy FILE [--props JSON|@FILE] [--replace]
                                       upload, then enable
  disable SHA                          stop serving the bundle
  rm SHA                               delete a disabled bundle
  ls                                   list the uploaded bundles
  routes                               print the route table the frontends have
  stats                                print nodes and per-route counters

Options (each also an environment variable):
  --tron URL        $FUNCATRON_TRON (default http://127.0.0.1:3000)
  --token TOKEN     $FUNCATRON_TOKEN
  --token-file FILE $FUNCATRON_TOKEN_FILE (default: the Tron's data/tron/token, if readable)
`

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(os.Stdout, usage)
			return
		}
		fmt.Fprintln(os.Stderr, "funcatron:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("funcatron", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	tron := fs.String("tron", envOr("FUNCATRON_TRON", "http://127.0.0.1:3000"), "")
	token := fs.String("token", os.Getenv("FUNCATRON_TOKEN"), "")
	tokenFile := fs.String("token-file", envOr("FUNCATRON_TOKEN_FILE", "data/tron/token"), "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return flag.ErrHelp
	}
	c := &client{base: *tron, token: *token, out: out}
	if c.token == "" {
		if b, err := os.ReadFile(*tokenFile); err == nil {
			c.token = string(trimNewline(b))
		}
	}
	return c.command(fs.Arg(0), fs.Args()[1:])
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
