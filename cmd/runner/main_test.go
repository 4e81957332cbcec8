package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/options"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/funcatron/funcatron/runner"
	"github.com/funcatron/funcatron/runner/kinds"
)

func TestBadOptionsExit2(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"unknown codec", []string{"--codec=xml"}, nil, `"xml" for flag -codec`},
		{"not an amqp url", []string{"--rabbit-url=http://x"}, nil, "rabbit-url"},
		{"bad env value", nil, []string{"FUNCATRON_HEARTBEAT_PERIOD=often"}, "FUNCATRON_HEARTBEAT_PERIOD"},
		{"bad log level", []string{"--log-level=loud"}, nil, "log level"},
		{"bad log format", nil, []string{"FUNCATRON_LOG_FORMAT=xml"}, "log format"},
		{"unknown flag", []string{"--frobnicate"}, nil, "frobnicate"},
		{"stray argument", []string{"serve"}, nil, "unexpected argument"},
		{"bad bundle uids", []string{"--bundle-uids=9-1"}, nil, "bundle-uids"},
		{"no bus key", []string{"--bus-key-file="}, nil, "bus-key-file"},
		{"bus key readable by others", nil, []string{"FUNCATRON_BUS_KEY_FILE=" + keyFile(t, 0o644)}, "mode 0644"},
		// As the Tron's: host:port, and a zero or negative bound is refused, not replaced
		// by the default (internal/options, the package doc).
		{"listen without port", []string{"--listen=localhost"}, nil, "--listen"},
		{"zero heartbeat period", []string{"--heartbeat-period=0"}, nil, "--heartbeat-period 0s: must be positive"},
		{"negative bundle size", []string{"--max-bundle-bytes=-1"}, nil, "--max-bundle-bytes -1: must be positive"},
		{"zero clock skew", nil, []string{"FUNCATRON_MAX_CLOCK_SKEW=0s"}, "--max-clock-skew"},
		{"zero batch", []string{"--max-batch=0"}, nil, "--max-batch"},
		{"negative stop grace", []string{"--stop-grace=-1s"}, nil, "--stop-grace"},
		{"empty data dir", []string{"--data-dir="}, nil, "--data-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr testenv.SyncBuffer
			env := append([]string{"FUNCATRON_DATA_DIR=" + t.TempDir(), "FUNCATRON_LISTEN=127.0.0.1:0",
				"FUNCATRON_BUNDLE_UIDS=61000-61999", "FUNCATRON_BUS_KEY_FILE=" + keyFile(t, 0o600)}, tt.env...)
			// Bounded: a runner that accepted the options would wait for a broker until ctx ends.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			code := run(ctx, tt.args, env, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("run(%v, %v) = %d, stderr %q; want 2 and a message naming %q", tt.args, tt.env, code, stderr.String(), tt.want)
			}
		})
	}
}

// keyFile writes a runner key file with mode perm.
func keyFile(t *testing.T, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bus-key")
	if err := os.WriteFile(path, []byte("0123456789abcdef0123456789abcdef\n"), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

func TestHelpExit0(t *testing.T) {
	var out testenv.SyncBuffer
	if code := run(context.Background(), []string{"--help"}, nil, &out); code != 0 {
		t.Errorf("--help exit %d", code)
	}
	for _, want := range []string{"--rabbit-url", "FUNCATRON_RABBIT_URL", "--tron-queue", "--data-dir", "127.0.0.1:4000"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help does not mention %s:\n%s", want, out.String())
		}
	}
}

func TestEnvAndFlags(t *testing.T) {
	o := runner.NewOptions()
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	o.Flags(fs)
	env := []string{"TRON_QUEUE=from_env", "FUNCATRON_CODEC=edn", "FUNCATRON_HEARTBEAT_PERIOD=3s"}
	if err := options.Parse(fs, []string{"--codec=json"}, env, options.Aliases); err != nil {
		t.Fatal(err)
	}
	if o.TronQueue != "from_env" || o.Codec != protocol.JSON || o.HeartbeatPeriod != 3*time.Second || o.Listen != "127.0.0.1:4000" {
		t.Errorf("options %+v", o)
	}
}

// TestZeroGraceAndLingerKept: --stop-grace=0 and --disable-linger=0 mean none (SIGKILL at
// once, no linger): kept as given and valid, where a zero bound is refused.
func TestZeroGraceAndLingerKept(t *testing.T) {
	o := runner.NewOptions()
	o.Kinds = kinds.All()
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	o.Flags(fs)
	if err := options.Parse(fs, []string{"--stop-grace=0", "--disable-linger=0s"}, nil, options.Aliases); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil || o.StopGrace != 0 || o.DisableLinger != 0 {
		t.Errorf("Validate = %v, stop grace %s, linger %s; want nil, 0s, 0s", err, o.StopGrace, o.DisableLinger)
	}
}

// TestBusyListenAddressExit1: a listen address another process holds is a failure (1),
// not a bad option (2).
func TestBusyListenAddressExit1(t *testing.T) {
	var stderr testenv.SyncBuffer
	env := []string{"FUNCATRON_DATA_DIR=" + t.TempDir(), "FUNCATRON_LISTEN=" + testenv.TakenAddr(t),
		"FUNCATRON_BUNDLE_UIDS=61000-61999", "FUNCATRON_BUS_KEY_FILE=" + keyFile(t, 0o600)}
	if code := run(context.Background(), nil, env, &stderr); code != 1 || !strings.Contains(stderr.String(), "listening on") {
		t.Errorf("exit %d, stderr %q; want 1 and a message about listening", code, stderr.String())
	}
}

// TestStopWhileWaitingForTheBroker: SIGTERM (ctx's end) before RabbitMQ is reachable is a
// clean exit.
func TestStopWhileWaitingForTheBroker(t *testing.T) {
	ports, err := servers.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var stderr testenv.SyncBuffer
	env := []string{"FUNCATRON_DATA_DIR=" + t.TempDir(), "FUNCATRON_LISTEN=127.0.0.1:0", "FUNCATRON_BUNDLE_UIDS=61000-61999",
		"FUNCATRON_RABBIT_URL=amqp://guest:guest@127.0.0.1:" + strconv.Itoa(ports[0]) + "/",
		"FUNCATRON_BUS_KEY_FILE=" + keyFile(t, 0o600)}
	if code := run(ctx, nil, env, &stderr); code != 0 {
		t.Errorf("exit %d, want 0; stderr:\n%s", code, stderr.String())
	}
}

// TestRootWithoutBundleUIDs: a runner that is root refuses to start without --bundle-uids
// (its bundles would run as root), naming the option. The tests run as root.
func TestRootWithoutBundleUIDs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (the test suite runs as root)")
	}
	var stderr testenv.SyncBuffer
	env := []string{"FUNCATRON_DATA_DIR=" + t.TempDir(), "FUNCATRON_LISTEN=127.0.0.1:0", "FUNCATRON_BUS_KEY_FILE=" + keyFile(t, 0o600)}
	if code := run(context.Background(), nil, env, &stderr); code != 2 || !strings.Contains(stderr.String(), "--bundle-uids") {
		t.Errorf("exit %d, stderr %q; want 2 and a message naming --bundle-uids", code, stderr.String())
	}
}

// A bad --rabbit-url is reported without its password, also when it does not parse (a
// password with an unescaped '/' or '#').
func TestBadRabbitURLHidesPassword(t *testing.T) {
	for _, raw := range []string{"http://guest:s3cretpw@127.0.0.1:5672/", "amqp://guest:s3cret/pw@127.0.0.1:5672/", "amqp://guest:s3cret#pw@127.0.0.1/"} {
		var stderr testenv.SyncBuffer
		env := []string{"FUNCATRON_DATA_DIR=" + t.TempDir(), "FUNCATRON_LISTEN=127.0.0.1:0", "FUNCATRON_RABBIT_URL=" + raw}
		code := run(context.Background(), nil, env, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "rabbit-url") {
			t.Errorf("rabbit url %q: exit %d, stderr %q; want 2 and a message naming rabbit-url", raw, code, stderr.String())
		}
		if strings.Contains(stderr.String(), "s3cret") {
			t.Errorf("rabbit url %q: the password is in the message: %s", raw, stderr.String())
		}
	}
}
