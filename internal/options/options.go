// Package options binds a daemon's command-line flags to environment variables, so every
// option is both `--rabbit-url` and `FUNCATRON_RABBIT_URL` (spec/architecture.md). A flag
// given on the command line wins over the environment, which wins over the default.
//
// Both daemons' options (tron.Options, runner.Options) follow one rule for defaults and
// ranges, so a value means the same in either:
//
//   - NewOptions returns the defaults, and Flags binds each flag with its field's current
//     value as default: --help shows exactly NewOptions. A Go caller starts from NewOptions
//     and changes what it needs.
//   - New uses every option as given: a zero is a zero, never "the default" (a flag value
//     cannot be told from a Go caller's, so zero-means-default would let
//     --heartbeat-period=0 through unseen). New only fills what has no flag and whose doc
//     says nil means a default (Logger), and spells Codec and QueueType canonically.
//   - Validate refuses every value outside its field's range, all at once, in an error
//     wrapping ErrInvalid (the daemons exit 2): a bound, period or timeout must be
//     positive (Positive), a grace or linger must not be negative (NotNegative), a listen
//     address is host:port (Problems.Listen). A flag that does not even parse (--codec=xml,
//     --queue-type=fifo, --heartbeat-period=often) is refused by the flag itself, also exit 2.
package options

import (
	"flag"
	"fmt"
	"strings"
)

// EnvName is the environment variable of flag name: FUNCATRON_ + upper snake case.
func EnvName(name string) string {
	return "FUNCATRON_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Parse parses args into fs, then fills every flag not given on the command line from env
// (`KEY=value` strings, as os.Environ gives them): first EnvName(flag), then any alias in
// aliases (flag name → extra variable names, e.g. "tron-queue": {"TRON_QUEUE"}). A value
// that does not parse is an error naming the variable, never a silent default.
func Parse(fs *flag.FlagSet, args, env []string, aliases map[string][]string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	vars := envMap(env)
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		for _, key := range append([]string{EnvName(f.Name)}, aliases[f.Name]...) {
			v, ok := vars[key]
			if !ok {
				continue
			}
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("invalid value %q for %s: %v", v, key, serr)
			}
			return
		}
	})
	return err
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// Usage returns a FlagSet.Usage that lists every flag with its default and its variable.
func Usage(fs *flag.FlagSet, summary string) func() {
	return func() {
		out := fs.Output()
		fmt.Fprintf(out, "%s\n\nOptions (each also an environment variable):\n", summary)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" {
				def = fmt.Sprintf(" (default %q)", f.DefValue)
			}
			fmt.Fprintf(out, "  --%s, $%s%s\n      %s\n", f.Name, EnvName(f.Name), def, f.Usage)
		})
	}
}
