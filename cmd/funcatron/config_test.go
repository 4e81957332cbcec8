package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestConfigCommand: config get prints one line per node and key (only KEY when given);
// config set posts {key, value, nodes} and prints who took it. The Tron's side is
// tron.TestConfigAPI's; here its answers are canned.
func TestConfigCommand(t *testing.T) {
	var posted map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken || r.URL.Path != "/api/v1/config" {
			http.Error(w, `{"error":"no"}`, 401)
			return
		}
		if r.Method == "POST" {
			b, _ := io.ReadAll(r.Body)
			json.Unmarshal(b, &posted)
			io.WriteString(w, `{"key":"log-level","value":"debug","took":["tron@127.0.0.1:3000"],"refused":{"RU-1":"no such level"}}`)
			return
		}
		io.WriteString(w, `{"nodes":{"tron@127.0.0.1:3000":{"component":"tron","values":{"log-level":"info","statsd":"off"}},"RU-1":{"component":"runner","values":{"log-level":"warn","statsd":"off"}}}}`)
	}))
	defer srv.Close()
	cli := func(args ...string) (string, int) {
		var out bytes.Buffer
		code := run(append([]string{"--tron", srv.URL, "--token", testToken}, args...), &out, &out)
		return out.String(), code
	}
	out, code := cli("config", "get")
	if code != 0 || strings.Count(out, "\n") != 5 || !strings.Contains(out, "RU-1") || !strings.Contains(out, "warn") {
		t.Errorf("config get = %d\n%s", code, out)
	}
	out, _ = cli("config", "get", "statsd")
	if strings.Contains(out, "log-level") || strings.Count(out, "\n") != 3 {
		t.Errorf("config get statsd:\n%s", out)
	}
	out, code = cli("config", "set", "log-level", "debug", "--node", "RU-1", "--node", "tron@127.0.0.1:3000")
	if code != 0 || !strings.Contains(out, "taken by 1 node(s): tron@127.0.0.1:3000") || !strings.Contains(out, "refused by RU-1: no such level") {
		t.Errorf("config set = %d\n%s", code, out)
	}
	if posted["key"] != "log-level" || posted["value"] != "debug" || len(posted["nodes"].([]any)) != 2 {
		t.Errorf("posted %v", posted)
	}
	if _, code := cli("config", "set", "log-level"); code == 0 {
		t.Error("config set without a value succeeded")
	}
	out, code = cli("config", "--help")
	if code != 0 || !strings.Contains(out, "statsd") {
		t.Errorf("config --help = %d\n%s", code, out)
	}
}
