package bundles

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestOpenHello(t *testing.T) {
	data := withManifest(t, "funcatron.yaml", helloYAML)
	b := mustOpen(t, data)
	sum := sha256.Sum256(data)
	if want := hex.EncodeToString(sum[:]); b.SHA != want {
		t.Errorf("SHA = %s, want %s", b.SHA, want)
	}
	if b.Size != int64(len(data)) {
		t.Errorf("Size = %d, want %d", b.Size, len(data))
	}
	if b.ManifestFile != "funcatron.yaml" || b.Kind != KindExec || b.Host != "example.com" || b.BasePath != "/hello" {
		t.Errorf("file, kind, host, base = %s, %s, %s, %s; want funcatron.yaml, exec, example.com, /hello",
			b.ManifestFile, b.Kind, b.Host, b.BasePath)
	}
	wantOps := []Operation{{"GET", "/echo", "echoGet"}, {"POST", "/echo", "echo"}, {"GET", "/greet/{name}", "greet"}}
	if !reflect.DeepEqual(b.Operations, wantOps) {
		t.Errorf("Operations = %v, want %v", b.Operations, wantOps)
	}
	want := &ExecConfig{
		Command: []string{"bin/hello", "--flag"}, Mode: ModeHTTP, Workers: 3, Concurrency: DefaultConcurrency,
		Timeout: 5 * time.Second, StartTimeout: DefaultStartTimeout,
		Env: map[string]string{"GREETING": "hi", "PORT": "8080"}, Health: "/health", file: "bin/hello",
	}
	if !reflect.DeepEqual(b.Exec, want) {
		t.Errorf("Exec = %+v, want %+v", b.Exec, want)
	}
	if _, err := json.Marshal(b.Manifest); err != nil {
		t.Errorf("Manifest does not encode as JSON: %v", err)
	}
}

// TestOpenFlavours opens the same bundle written as Swagger 2 and OpenAPI
// 3, in YAML and JSON, and checks the route and operations.
func TestOpenFlavours(t *testing.T) {
	tests := []struct {
		name, file, manifest string
		host, base           string
	}{
		{"swagger yaml", "funcatron.yaml", `
swagger: 2.0   # unquoted, a number to YAML
basePath: /api/
paths:
  /greet/{name}: {get: {operationId: greet}}
  /echo: {post: {operationId: echo}, parameters: [], x-thing: 1}
x-funcatron: {exec: {command: bin/hello}}
`, "", "/api"},
		{"swagger json", "funcatron.json", `{
	"swagger": "2.0",
	"info": {"title": "caf\u00e9 \ud83d\ude00", "version": "1"},
	"host": "api.example.com:8443",
	"paths": {
		"/greet/{name}": {"get": {"operationId": "greet", "responses": {"200": {"description": "ok"}}}},
		"/echo": {"post": {"operationId": "echo"}}
	},
	"x-funcatron": {"exec": {"command": ["bin/hello"]}}
}`, "api.example.com:8443", "/"},
		{"openapi yaml absolute url", "funcatron.yml", `
openapi: 3.0.3
servers: [{url: "https://Example.com/hello"}, {url: /ignored}]
paths:
  /greet/{name}:
    get:
      operationId: greet
      responses:
        200: {description: ok}   # an int key in YAML
  /echo: {post: {operationId: echo}}
x-funcatron: {exec: {command: bin/hello}}
`, "example.com", "/hello"},
		{"openapi json relative url", "funcatron.json", `{
	"openapi": "3.1.0",
	"servers": [{"url": "/py"}],
	"paths": {"/greet/{name}": {"get": {"operationId": "greet"}}, "/echo": {"post": {"operationId": "echo"}}},
	"x-funcatron": {"exec": {"command": "bin/hello"}}
}`, "", "/py"},
		{"openapi server variables", "funcatron.yaml", `
openapi: 3.1
servers:
  - url: "{scheme}://{host}/v{major}"
    variables:
      scheme: {default: https}
      host: {default: svc.example.com}
      major: {default: "2", enum: ["1", "2"]}
paths:
  /greet/{name}: {get: {operationId: greet}}
  /echo: {post: {operationId: echo}}
x-funcatron: {exec: {command: bin/hello}}
`, "svc.example.com", "/v2"},
		{"openapi without servers", "funcatron.yaml", `
openapi: "3.0.0"
paths:
  /greet/{name}: {get: {operationId: greet}}
  /echo: {post: {operationId: echo}}
x-funcatron: {exec: {command: bin/hello}}
`, "", "/"},
	}
	wantOps := []Operation{{"POST", "/echo", "echo"}, {"GET", "/greet/{name}", "greet"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustOpen(t, withManifest(t, tt.file, tt.manifest))
			if b.Host != tt.host || b.BasePath != tt.base {
				t.Errorf("host, base = %q, %q; want %q, %q", b.Host, b.BasePath, tt.host, tt.base)
			}
			if !reflect.DeepEqual(b.Operations, wantOps) {
				t.Errorf("Operations = %v, want %v", b.Operations, wantOps)
			}
			if _, err := json.Marshal(b.Manifest); err != nil {
				t.Errorf("Manifest does not encode as JSON: %v", err)
			}
		})
	}
}

func TestOpenKinds(t *testing.T) {
	tests := []struct {
		name, xf string
		kind     Kind
		section  map[string]any
		ops      string
	}{
		{"gilmour", "{kind: gilmour, gilmour: {redis: 'redis://r:6379/0'}}", KindGilmour, map[string]any{"redis": "redis://r:6379/0"},
			"paths:\n  /a:\n    get: {operationId: a, x-gilmour: {request: a}}\n"},
		{"zbus with only a twin", "{kind: zbus, zbus: {twin: 1001}}", KindZbus, map[string]any{"twin": 1001}, opsYAML},
		{"exec section of another kind ignored", "{kind: zbus, exec: {workers: 0}, zbus: {twin: 1001}}", KindZbus, map[string]any{"twin": 1001}, opsYAML},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustOpen(t, makeZip(t, file("funcatron.yaml", "swagger: '2.0'\nx-funcatron: "+tt.xf+"\n"+tt.ops)))
			if b.Kind != tt.kind || !reflect.DeepEqual(b.Section, tt.section) || b.Exec != nil {
				t.Errorf("kind, section, exec = %s, %v, %v; want %s, %v, nil", b.Kind, b.Section, b.Exec, tt.kind, tt.section)
			}
		})
	}
}

// TestOpenLinksInside checks that links staying inside are accepted, and
// that the exec command may be one.
func TestOpenLinksInside(t *testing.T) {
	b := mustOpen(t, makeZip(t,
		file("funcatron.yaml", "swagger: '2.0'\nx-funcatron: {exec: {command: run}}\n"+opsYAML),
		exe("libexec/tool", "#!/bin/sh\n"),
		link("bin/tool", "../libexec/tool"),
		link("run", "bin/tool"),
		link("lib/dir", "../libexec"),
		link("dangling", "nothing/here"),
		link("self", "."),
	))
	if b.Exec.file != "libexec/tool" {
		t.Errorf("exec file = %q, want libexec/tool", b.Exec.file)
	}
}

// TestOpenBareCommand: a command that is the bare name of a program (spec/bundles.md §4
// "The command") is accepted without being a file of the bundle (the runner looks it up on
// its PATH); a bare name that is a file of the bundle is that file, made executable.
func TestOpenBareCommand(t *testing.T) {
	b := mustOpen(t, makeZip(t, file("funcatron.yaml", "swagger: '2.0'\nx-funcatron: {exec: {command: [python3, server.py]}}\n"+opsYAML),
		file("server.py", "print('hi')\n")))
	if got := b.Exec.Command; len(got) != 2 || got[0] != "python3" || got[1] != "server.py" || b.Exec.file != "" {
		t.Errorf("command %v (bundle file %q), want [python3 server.py] on the runner's PATH", got, b.Exec.file)
	}
	b = mustOpen(t, makeZip(t, file("funcatron.yaml", "swagger: '2.0'\nx-funcatron: {exec: {command: run}}\n"+opsYAML), file("run", "#!/bin/sh\n")))
	if b.Exec.file != "run" {
		t.Errorf("bare name of a bundle file: file %q, want run", b.Exec.file)
	}
	for _, bad := range []string{".", ".."} {
		_, err := Open(makeZip(t, file("funcatron.yaml", "swagger: '2.0'\nx-funcatron: {exec: {command: ['"+bad+"']}}\n"+opsYAML)), Limits{})
		if err == nil || !strings.Contains(err.Error(), "must name a program") {
			t.Errorf("command %q: %v, want it refused", bad, err)
		}
	}
}
