package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/options/optionstest"
	"github.com/funcatron/funcatron/internal/testenv"
)

// sameKeys names one key file as both the bus key and the frontend key.
func sameKeys(t *testing.T) []string {
	path := optionstest.KeyFile(t, 0o600)
	return []string{"FUNCATRON_BUS_KEY_FILE=" + path, "FUNCATRON_FRONTEND_KEY_FILE=" + path}
}

func TestBadOptionsStopWithExit2(t *testing.T) {
	base := []string{"FUNCATRON_DATA_DIR=" + t.TempDir(), "FUNCATRON_LISTEN=127.0.0.1:0"}
	optionstest.BadOptionsExit2(t, run, base, []optionstest.BadOption{
		{Name: "unknown codec", Args: []string{"--codec=xml"}, Want: `"xml" for flag -codec`},
		{Name: "listen without port", Args: []string{"--listen=localhost"}, Want: "--listen"},
		{Name: "zero enable wait", Args: []string{"--enable-wait=0s"}, Want: "--enable-wait"},
		{Name: "url ttl too long", Args: []string{"--url-ttl=48h"}, Want: "--url-ttl"},
		{Name: "not an amqp url", Args: []string{"--rabbit-url=http://x"}, Want: "--rabbit-url"},
		{Name: "bad env value", Env: []string{"FUNCATRON_MAX_BUNDLE_BYTES=lots"}, Want: "FUNCATRON_MAX_BUNDLE_BYTES"},
		{Name: "bad log level", Args: []string{"--log-level=loud"}, Want: "log level"},
		{Name: "bad log format", Env: []string{"FUNCATRON_LOG_FORMAT=xml"}, Want: "log format"},
		{Name: "unknown flag", Args: []string{"--frobnicate"}, Want: "frobnicate"},
		{Name: "stray argument", Args: []string{"serve"}, Want: "unexpected arguments"},
		{Name: "missing token file", Args: []string{"--token-file=/nonexistent/token"}, Want: "token-file"},
		{Name: "missing bus key file", Args: []string{"--bus-key-file=/nonexistent/bus-key"}, Want: "--bus-key-file"},
		{Name: "frontend key readable by others", Env: []string{"FUNCATRON_FRONTEND_KEY_FILE=" + optionstest.KeyFile(t, 0o644)}, Want: "mode 0644"},
		{Name: "negative clock skew", Args: []string{"--max-clock-skew=-1s"}, Want: "--max-clock-skew"},
		{Name: "one key for both roles", Env: sameKeys(t), Want: "must differ"},
		// As the runner's: a zero or negative bound is refused, zero is not the default
		// (internal/options, the package doc).
		{Name: "zero clock skew", Args: []string{"--max-clock-skew=0"}, Want: "--max-clock-skew 0s: must be positive"},
		{Name: "zero heartbeat period", Env: []string{"FUNCATRON_HEARTBEAT_PERIOD=0s"}, Want: "--heartbeat-period 0s: must be positive"},
		{Name: "negative bundle size", Args: []string{"--max-bundle-bytes=-1"}, Want: "--max-bundle-bytes -1: must be positive"},
		{Name: "unknown queue type", Args: []string{"--queue-type=fifo"}, Want: `"fifo" for flag -queue-type: want classic or quorum`},
	})
}

// TestBusyListenAddressExit1: a listen address another process holds is a failure (1),
// not a bad option (2).
func TestBusyListenAddressExit1(t *testing.T) {
	optionstest.BusyListenAddressExit1(t, run, []string{"FUNCATRON_DATA_DIR=" + t.TempDir()})
}

func TestHelpDocumentsEveryOption(t *testing.T) {
	var out testenv.SyncBuffer
	if code := run(context.Background(), []string{"--help"}, nil, &out); code != 0 {
		t.Fatalf("--help exits %d", code)
	}
	for _, want := range []string{
		"--rabbit-url, $FUNCATRON_RABBIT_URL (default \"amqp://guest:guest@127.0.0.1:5672/\")",
		"--tron-queue, $FUNCATRON_TRON_QUEUE (default \"for_tron\")",
		"--listen, $FUNCATRON_LISTEN (default \"127.0.0.1:3000\")",
		"--advertise, $FUNCATRON_ADVERTISE",
		"--data-dir, $FUNCATRON_DATA_DIR (default \"./data/tron\")",
		"--token-file, $FUNCATRON_TOKEN_FILE",
		"--max-bundle-bytes, $FUNCATRON_MAX_BUNDLE_BYTES (default \"268435456\")",
		"--enable-wait, $FUNCATRON_ENABLE_WAIT (default \"10s\")",
		"--codec, $FUNCATRON_CODEC (default \"edn\")",
		"--log-level, $FUNCATRON_LOG_LEVEL (default \"info\")",
		"--log-format, $FUNCATRON_LOG_FORMAT (default \"text\")",
		"$FUNCATRON_TOKEN",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// A Tron whose broker is unreachable still serves /healthz (503) and stops cleanly.
func TestRunStopsCleanlyWithoutBroker(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stderr testenv.SyncBuffer
	done := make(chan int, 1)
	env := []string{"FUNCATRON_DATA_DIR=" + t.TempDir(), "FUNCATRON_LISTEN=127.0.0.1:0", "FUNCATRON_RABBIT_URL=" + optionstest.UnreachableBroker(t)}
	go func() { done <- run(ctx, nil, env, &stderr) }()
	if !testenv.Poll(10*time.Second, func() bool { return strings.Contains(stderr.String(), "admin API listening") }) {
		t.Fatalf("the Tron did not start: %s", stderr.String())
	}
	if strings.Contains(stderr.String(), "token=") {
		t.Error("the token was logged")
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d after cancel, want 0; log:\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return within 15s of cancel")
	}
}

// A bad --rabbit-url is reported without its password, also when it does not parse.
func TestBadRabbitURLHidesPassword(t *testing.T) {
	optionstest.BadRabbitURLHidesPassword(t, run, []string{"FUNCATRON_DATA_DIR=" + t.TempDir(), "FUNCATRON_LISTEN=127.0.0.1:0"})
}

// The admin token comes from --token-file, else $FUNCATRON_TOKEN, else a generated one in
// the data dir, as --help says.
func TestTokenPrecedence(t *testing.T) {
	fileDir := t.TempDir()
	tokenFile := filepath.Join(fileDir, "token")
	if err := os.WriteFile(tokenFile, []byte("from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args, env []string
		good, bad string // a token the API accepts, one it refuses ("": the generated one)
	}{
		{"flag and env", []string{"--token-file", tokenFile}, []string{"FUNCATRON_TOKEN=from-the-env"}, "from-the-file", "from-the-env"},
		{"env file and env", nil, []string{"FUNCATRON_TOKEN_FILE=" + tokenFile, "FUNCATRON_TOKEN=from-the-env"}, "from-the-file", "from-the-env"},
		{"env only", nil, []string{"FUNCATRON_TOKEN=from-the-env"}, "from-the-env", "from-the-file"},
		{"neither", nil, nil, "", "from-the-env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := t.TempDir()
			env := append([]string{"FUNCATRON_DATA_DIR=" + dataDir, "FUNCATRON_LISTEN=127.0.0.1:0", "FUNCATRON_RABBIT_URL=" + optionstest.UnreachableBroker(t)}, tt.env...)
			addr := startTron(t, tt.args, env)
			good := tt.good
			if good == "" {
				b, err := os.ReadFile(filepath.Join(dataDir, "token"))
				if err != nil {
					t.Fatalf("no generated token: %v", err)
				}
				good = strings.TrimSpace(string(b))
			}
			if code := apiStatus(t, addr, good); code != http.StatusOK {
				t.Errorf("token %q: status %d, want 200", good, code)
			}
			if code := apiStatus(t, addr, tt.bad); code != http.StatusUnauthorized {
				t.Errorf("token %q: status %d, want 401", tt.bad, code)
			}
		})
	}
}

// A token file that group or others can read is refused with a message that says so.
func TestLooseTokenFileRefused(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		path := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(path, []byte("a-token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		var stderr testenv.SyncBuffer
		env := []string{"FUNCATRON_DATA_DIR=" + t.TempDir(), "FUNCATRON_LISTEN=127.0.0.1:0", "FUNCATRON_RABBIT_URL=" + optionstest.UnreachableBroker(t)}
		// Bounded: a Tron that accepted the file would run until cancelled.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		code := run(ctx, []string{"--token-file", path}, env, &stderr)
		cancel()
		if code != 2 || !strings.Contains(stderr.String(), "group or others") || !strings.Contains(stderr.String(), "chmod 600") {
			t.Errorf("mode %04o: exit %d, stderr %q; want 2 and a message about group or others and chmod 600", mode, code, stderr.String())
		}
	}
}

// startTron runs the Tron until the test ends and returns its admin API's address.
func startTron(t *testing.T, args, env []string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr testenv.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, env, &stderr) }()
	t.Cleanup(func() { cancel(); <-done })
	re := regexp.MustCompile(`admin API listening".* addr=(\S+)`)
	var addr string
	if !testenv.Poll(10*time.Second, func() bool {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	}) {
		t.Fatalf("the Tron did not start: %s", stderr.String())
	}
	return addr
}

// apiStatus is the status of GET /api/v1/known_funcs with token.
func apiStatus(t *testing.T, addr, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/known_funcs", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
