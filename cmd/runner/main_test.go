package main

import (
	"context"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/options"
	"github.com/funcatron/funcatron/internal/options/optionstest"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/funcatron/funcatron/runner"
	"github.com/funcatron/funcatron/runner/kinds"
)

func TestBadOptionsExit2(t *testing.T) {
	base := []string{"FUNCATRON_DATA_DIR=" + t.TempDir(), "FUNCATRON_LISTEN=127.0.0.1:0",
		"FUNCATRON_BUNDLE_UIDS=61000-61999", "FUNCATRON_BUS_KEY_FILE=" + optionstest.KeyFile(t, 0o600)}
	optionstest.BadOptionsExit2(t, run, base, []optionstest.BadOption{
		{Name: "unknown codec", Args: []string{"--codec=xml"}, Want: `"xml" for flag -codec`},
		{Name: "not an amqp url", Args: []string{"--rabbit-url=http://x"}, Want: "rabbit-url"},
		{Name: "bad env value", Env: []string{"FUNCATRON_HEARTBEAT_PERIOD=often"}, Want: "FUNCATRON_HEARTBEAT_PERIOD"},
		{Name: "bad log level", Args: []string{"--log-level=loud"}, Want: "log level"},
		{Name: "bad log format", Env: []string{"FUNCATRON_LOG_FORMAT=xml"}, Want: "log format"},
		{Name: "unknown flag", Args: []string{"--frobnicate"}, Want: "frobnicate"},
		{Name: "stray argument", Args: []string{"serve"}, Want: "unexpected argument"},
		{Name: "bad bundle uids", Args: []string{"--bundle-uids=9-1"}, Want: "bundle-uids"},
		{Name: "no bus key", Args: []string{"--bus-key-file="}, Want: "bus-key-file"},
		{Name: "bus key readable by others", Env: []string{"FUNCATRON_BUS_KEY_FILE=" + optionstest.KeyFile(t, 0o644)}, Want: "mode 0644"},
		// As the Tron's: host:port, and a zero or negative bound is refused, not replaced
		// by the default (internal/options, the package doc).
		{Name: "listen without port", Args: []string{"--listen=localhost"}, Want: "--listen"},
		{Name: "zero heartbeat period", Args: []string{"--heartbeat-period=0"}, Want: "--heartbeat-period 0s: must be positive"},
		{Name: "negative bundle size", Args: []string{"--max-bundle-bytes=-1"}, Want: "--max-bundle-bytes -1: must be positive"},
		{Name: "zero clock skew", Env: []string{"FUNCATRON_MAX_CLOCK_SKEW=0s"}, Want: "--max-clock-skew"},
		{Name: "zero batch", Args: []string{"--max-batch=0"}, Want: "--max-batch"},
		{Name: "negative stop grace", Args: []string{"--stop-grace=-1s"}, Want: "--stop-grace"},
		{Name: "empty data dir", Args: []string{"--data-dir="}, Want: "--data-dir"},
	})
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
	optionstest.BusyListenAddressExit1(t, run, []string{"FUNCATRON_DATA_DIR=" + t.TempDir(),
		"FUNCATRON_BUNDLE_UIDS=61000-61999", "FUNCATRON_BUS_KEY_FILE=" + optionstest.KeyFile(t, 0o600)})
}

// TestStopWhileWaitingForTheBroker: SIGTERM (ctx's end) before RabbitMQ is reachable is a
// clean exit.
func TestStopWhileWaitingForTheBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var stderr testenv.SyncBuffer
	env := []string{"FUNCATRON_DATA_DIR=" + t.TempDir(), "FUNCATRON_LISTEN=127.0.0.1:0", "FUNCATRON_BUNDLE_UIDS=61000-61999",
		"FUNCATRON_RABBIT_URL=" + optionstest.UnreachableBroker(t), "FUNCATRON_BUS_KEY_FILE=" + optionstest.KeyFile(t, 0o600)}
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
	env := []string{"FUNCATRON_DATA_DIR=" + t.TempDir(), "FUNCATRON_LISTEN=127.0.0.1:0", "FUNCATRON_BUS_KEY_FILE=" + optionstest.KeyFile(t, 0o600)}
	if code := run(context.Background(), nil, env, &stderr); code != 2 || !strings.Contains(stderr.String(), "--bundle-uids") {
		t.Errorf("exit %d, stderr %q; want 2 and a message naming --bundle-uids", code, stderr.String())
	}
}

// A bad --rabbit-url is reported without its password, also when it does not parse.
func TestBadRabbitURLHidesPassword(t *testing.T) {
	optionstest.BadRabbitURLHidesPassword(t, run, []string{"FUNCATRON_DATA_DIR=" + t.TempDir(), "FUNCATRON_LISTEN=127.0.0.1:0"})
}
