// Kind exec: the x-funcatron.exec section.

package bundles

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Mode is how a runner talks to an exec bundle's program.
type Mode string

const (
	// ModeHTTP keeps Workers processes running, each serving HTTP/1.1 on the
	// unix socket named by FUNCATRON_LISTEN.
	ModeHTTP Mode = "http"
	// ModeCGI runs Command once per request as a CGI/1.1 script.
	ModeCGI Mode = "cgi"
)

// Defaults of ExecConfig.
const (
	// DefaultCommand is run when the manifest names no command.
	DefaultCommand = "bin/run"
	// DefaultWorkers is 2 so that a crashing process does not take the
	// function down while it restarts: the other keeps serving.
	DefaultWorkers      = 2
	DefaultConcurrency  = 32
	DefaultTimeout      = 30 * time.Second
	DefaultStartTimeout = 10 * time.Second
)

// Upper bounds, so one manifest cannot make a runner fork without end.
const (
	maxWorkers     = 64
	maxConcurrency = 10000
)

// ExecConfig is the x-funcatron.exec section of a bundle of kind exec, with
// defaults applied (spec/bundles.md §4).
type ExecConfig struct {
	// Command is the program and its arguments, run from the unpacked
	// directory. Command[0] is either a clean path relative to the bundle root
	// (Open checked it is a file in the bundle) or the bare name (no /) of a
	// program on the runner's PATH, such as python3, which the runner looks
	// up when it enables the bundle. Default [DefaultCommand].
	// YAML may give a single string, taken as the program without arguments.
	Command []string
	// Mode is ModeHTTP (default) or ModeCGI.
	Mode Mode
	// Workers is the number of warm processes per runner in http mode, 1 to
	// 64. Default 2. Unused in cgi mode.
	Workers int
	// Concurrency is the most requests in flight per runner, 1 to 10000.
	// Default 32.
	Concurrency int
	// Timeout bounds one request. Default 30s. YAML gives "30s" or 30.
	Timeout time.Duration
	// StartTimeout bounds the wait for an http-mode process to be ready
	// (key start-timeout). Default 10s.
	StartTimeout time.Duration
	// Env is added to the process environment. Names starting FUNCATRON_
	// are refused: those are the runner's to set.
	Env map[string]string
	// Health is a path answering 2xx once an http-mode process is ready
	// (e.g. "/health"), or "" to only wait for the socket.
	Health string

	file string // the real path of Command[0] in the bundle, links followed
}

// execSetters set one field of an ExecConfig from a manifest value; their
// errors complete "x-funcatron.exec.<key> ...".
var execSetters = map[string]func(c *ExecConfig, v any) error{
	"command":       setCommand,
	"mode":          setMode,
	"workers":       intSetter(1, maxWorkers, func(c *ExecConfig, n int) { c.Workers = n }),
	"concurrency":   intSetter(1, maxConcurrency, func(c *ExecConfig, n int) { c.Concurrency = n }),
	"timeout":       durationSetter(func(c *ExecConfig, d time.Duration) { c.Timeout = d }),
	"start-timeout": durationSetter(func(c *ExecConfig, d time.Duration) { c.StartTimeout = d }),
	"env":           setEnv,
	"health":        setHealth,
}

// readExec reads the exec section (nil when absent). Unknown keys are
// refused, so a typo ("comand") is not silently a default.
func (r *sectionReader) readExec(sec map[string]any) (*ExecConfig, error) {
	c := &ExecConfig{
		Command: []string{DefaultCommand}, Mode: ModeHTTP, Workers: DefaultWorkers,
		Concurrency: DefaultConcurrency, Timeout: DefaultTimeout, StartTimeout: DefaultStartTimeout,
	}
	for _, key := range sortedKeys(sec) {
		at := []string{"x-funcatron", "exec", key}
		set, ok := execSetters[key]
		if !ok {
			return nil, r.m.errorf(at, "unknown key %q in x-funcatron.exec", key)
		}
		if err := set(c, sec[key]); err != nil && !r.deferred(sec[key]) {
			return nil, r.m.errorf(at, "x-funcatron.exec.%s %v", key, err)
		}
	}
	return c, r.checkCommand(c, sec["command"] != nil)
}

// checkCommand checks Command[0] (spec/bundles.md §4 "The command"): a path (it holds a
// /) must be a file in the bundle; a bare name is the bundle's file of that name when it
// has one, else a program the runner looks up on its PATH when it enables the bundle (a
// missing one fails the enable, naming it). It notes the real path of a bundle file.
func (r *sectionReader) checkCommand(c *ExecConfig, given bool) error {
	if r.deferred(c.Command[0]) {
		return nil
	}
	e := r.a.resolve(c.Command[0])
	if e != nil && e.kind == kindFile {
		c.file = e.name
		return nil
	}
	if e == nil && !strings.Contains(c.Command[0], "/") {
		return nil // a program on the runner's PATH
	}
	if !given {
		return r.m.errorf([]string{"x-funcatron"}, "exec command %q (the default, as x-funcatron.exec.command is not set) is not a file in the bundle", c.Command[0])
	}
	return r.m.errorf([]string{"x-funcatron", "exec", "command"}, "exec command %q is not a file in the bundle", c.Command[0])
}

func setCommand(c *ExecConfig, v any) error {
	cmd, ok := toStrings(v)
	switch {
	case !ok:
		return fmt.Errorf("must be a list of strings")
	case len(cmd) == 0 || cmd[0] == "" || cmd[0] == "." || cmd[0] == "..":
		return fmt.Errorf("must name a program")
	case path.IsAbs(cmd[0]):
		return fmt.Errorf("%q must be a path inside the bundle, relative to its root", cmd[0])
	}
	cmd[0] = path.Clean(cmd[0])
	c.Command = cmd
	return nil
}

func setMode(c *ExecConfig, v any) error {
	m, _ := v.(string)
	if Mode(m) != ModeHTTP && Mode(m) != ModeCGI {
		return fmt.Errorf("must be http or cgi, not %v", v)
	}
	c.Mode = Mode(m)
	return nil
}

// intSetter sets an integer field within [lo, hi].
func intSetter[C any](lo, hi int, set func(*C, int)) func(*C, any) error {
	return func(c *C, v any) error {
		n, ok := toInt(v)
		if !ok || n < lo || n > hi {
			return fmt.Errorf("must be a whole number from %d to %d, not %v", lo, hi, v)
		}
		set(c, n)
		return nil
	}
}

// durationSetter sets a positive duration field.
func durationSetter[C any](set func(*C, time.Duration)) func(*C, any) error {
	return func(c *C, v any) error {
		d, ok := toDuration(v)
		if !ok || d <= 0 {
			return fmt.Errorf("must be a positive duration such as 30s or a number of seconds, not %v", v)
		}
		set(c, d)
		return nil
	}
}

func setEnv(c *ExecConfig, v any) error {
	env, err := envOf(v)
	c.Env = env
	return err
}

// envOf reads an env mapping: names to scalar values, no FUNCATRON_ names.
func envOf(v any) (map[string]string, error) {
	m, ok := v.(map[string]any)
	if !ok && v != nil {
		return nil, fmt.Errorf("must be a mapping of names to values")
	}
	env := make(map[string]string, len(m))
	for name, x := range m {
		if name == "" || strings.ContainsAny(name, "=\x00") || strings.HasPrefix(name, "FUNCATRON_") {
			return nil, fmt.Errorf("has the name %q; names must be non-empty, without = and not start with FUNCATRON_", name)
		}
		s, ok := scalarString(x)
		if !ok && x != nil {
			return nil, fmt.Errorf("%s must be a string, number or boolean", name)
		}
		if strings.ContainsRune(s, 0) {
			return nil, fmt.Errorf("%s holds a NUL byte", name)
		}
		env[name] = s
	}
	return env, nil
}

func setHealth(c *ExecConfig, v any) error {
	h, ok := v.(string)
	if !ok || !strings.HasPrefix(h, "/") {
		return fmt.Errorf("must be a path starting with /, not %v", v)
	}
	c.Health = h
	return nil
}
