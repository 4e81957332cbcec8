// Package optionstest holds the tests of what both daemons' mains share (options.Daemon):
// bad options exit 2, a taken listen address exits 1, a bad --rabbit-url is reported
// without its password. cmd/tron's and cmd/runner's tests call them with their own run
// (options.Main's argument) and the environment each needs to get that far.
package optionstest

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
)

// Run is a daemon's main without the process (options.Main's argument): it returns the
// exit code.
type Run = func(ctx context.Context, args, env []string, stderr io.Writer) int

// BadOption is one case of BadOptionsExit2: the daemon given Args and Env must exit 2 with
// a message naming Want.
type BadOption struct {
	Name      string
	Args, Env []string
	Want      string
}

// BadOptionsExit2 runs each case as a subtest, with base (the environment that gets the
// daemon past every other check) before the case's Env.
func BadOptionsExit2(t *testing.T, run Run, base []string, tests []BadOption) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			var stderr testenv.SyncBuffer
			env := append(append([]string{}, base...), tt.Env...)
			// Bounded: a daemon that accepted the options would run (or wait for a broker)
			// until ctx ends.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			code := run(ctx, tt.Args, env, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tt.Want) {
				t.Errorf("run(%v, %v) = %d, stderr %q; want 2 and a message naming %q", tt.Args, tt.Env, code, stderr.String(), tt.Want)
			}
		})
	}
}

// BusyListenAddressExit1: a listen address another process holds is a failure (1), not a
// bad option (2). env is the daemon's environment but for FUNCATRON_LISTEN.
func BusyListenAddressExit1(t *testing.T, run Run, env []string) {
	t.Helper()
	var stderr testenv.SyncBuffer
	env = append(append([]string{}, env...), "FUNCATRON_LISTEN="+testenv.TakenAddr(t))
	if code := run(context.Background(), nil, env, &stderr); code != 1 || !strings.Contains(stderr.String(), "listening on") {
		t.Errorf("exit %d, stderr %q; want 1 and a message about listening", code, stderr.String())
	}
}

// BadRabbitURLHidesPassword: a bad --rabbit-url is reported without its password, whether
// it parses (wrong scheme) or not (a password with an unescaped '/' or '#'). env is the
// daemon's environment but for FUNCATRON_RABBIT_URL.
func BadRabbitURLHidesPassword(t *testing.T, run Run, env []string) {
	t.Helper()
	for _, raw := range []string{"http://guest:s3cretpw@127.0.0.1:5672/", "amqp://guest:s3cret/pw@127.0.0.1:5672/", "amqp://guest:s3cret#pw@127.0.0.1/"} {
		var stderr testenv.SyncBuffer
		code := run(context.Background(), nil, append(append([]string{}, env...), "FUNCATRON_RABBIT_URL="+raw), &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "--rabbit-url") {
			t.Errorf("rabbit url %q: exit %d, stderr %q; want 2 and a message naming --rabbit-url", raw, code, stderr.String())
		}
		if strings.Contains(stderr.String(), "s3cret") {
			t.Errorf("rabbit url %q: the password is in the message: %s", raw, stderr.String())
		}
	}
}

// KeyFile writes a valid key (--bus-key-file, --frontend-key-file) to a file of mode perm:
// 0600 to be accepted, 0644 to be refused as readable by others.
func KeyFile(t *testing.T, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte("0123456789abcdef0123456789abcdef\n"), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// UnreachableBroker is an AMQP URL on a free loopback port nothing listens on: a daemon
// given it waits for its broker.
func UnreachableBroker(t *testing.T) string {
	t.Helper()
	ports, err := servers.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return "amqp://guest:guest@127.0.0.1:" + strconv.Itoa(ports[0]) + "/"
}
