package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/stack"
)

// describedStack is a stack as stack.Start leaves it, with ports and paths chosen to be
// told apart in the output; nothing is started.
func describedStack() *stack.Stack {
	return &stack.Stack{
		Rabbit: &servers.RabbitMQ{AMQPPort: 15672, STOMPPort: 16613},
		Redis:  &servers.Redis{Port: 16379},
		Nginx:  &servers.Nginx{Port: 18080, Prefix: "/r/nginx"},
		Tron: &stack.Proc{Name: "tron", LogPath: "/r/tron/tron.log",
			Args: []string{"--listen", "127.0.0.1:13000", "--token-file", "/r/tron/admin-token"}},
		Runners: []*stack.Proc{
			{Name: "runner-0", LogPath: "/r/runner-0/runner.log", Args: []string{"--listen", "127.0.0.1:14000"}},
			{Name: "runner-1", LogPath: "/r/runner-1/runner.log", Args: []string{"--listen", "127.0.0.1:14001"}},
		},
		TronURL:    "http://127.0.0.1:13000",
		BusKeyFile: "/r/secrets/bus-key",
	}
}

// TestWelcomeNamesEveryURL: what `make run` prints names every URL and file a user needs,
// each taken from the stack (so a port the stack chose is the port printed).
func TestWelcomeNamesEveryURL(t *testing.T) {
	var out bytes.Buffer
	printWelcome(&out, describedStack(), "/r", 5)
	want := map[string]string{
		"frontend":             "http://127.0.0.1:18080",
		"frontend's error log": "/r/nginx/logs/error.log",
		"frontend metrics":     "http://127.0.0.1:18080/__funcatron/metrics",
		"dashboard":            "dashboard:         http://127.0.0.1:13000/ ",
		"admin API":            "http://127.0.0.1:13000/api/v1/",
		"Tron metrics":         "http://127.0.0.1:13000/metrics",
		"runner-0 metrics":     "runner-0:          http://127.0.0.1:14000/metrics",
		"runner-1 metrics":     "runner-1:          http://127.0.0.1:14001/metrics",
		"runner-0 log":         "/r/runner-0/runner.log",
		"runner-1 log":         "/r/runner-1/runner.log",
		"broker (AMQP)":        "amqp://127.0.0.1:15672/",
		"broker (STOMP)":       "STOMP on port 16613",
		"broker passwords":     "/r/secrets",
		"Redis":                "redis://127.0.0.1:16379/0",
		"token file":           "FUNCATRON_TOKEN_FILE=/r/tron/admin-token",
		"token for dashboard":  "asks for the token in /r/tron/admin-token",
		"CLI's Tron":           "FUNCATRON_TRON=http://127.0.0.1:13000 ",
		"the Tron's log":       "/r/tron/tron.log",
		"a sample's curl":      "curl -i http://127.0.0.1:18080/hello/greet/world",
		"deployed count":       "Deployed 5 sample bundles",
		"troubleshooting":      "docs/troubleshooting.md",
	}
	for what, s := range want {
		if !strings.Contains(out.String(), s) {
			t.Errorf("the welcome does not name the %s (%q):\n%s", what, s, out.String())
		}
	}
}

// TestWelcomeHasNoEmptyValue: no URL or path in the welcome is left blank or unfilled, as
// it would be if printWelcome read a flag the stack no longer passes.
func TestWelcomeHasNoEmptyValue(t *testing.T) {
	var out bytes.Buffer
	printWelcome(&out, describedStack(), "/r", 5)
	for _, bad := range []string{"%!", "FUNCATRON_TOKEN_FILE= ", "token in )", " /metrics", "http:///"} {
		if strings.Contains(out.String(), bad) {
			t.Errorf("the welcome holds %q:\n%s", bad, out.String())
		}
	}
}
