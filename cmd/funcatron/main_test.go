package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/version"
)

func TestEveryCommandHasHelp(t *testing.T) {
	for _, cmd := range commands {
		for _, args := range [][]string{{cmd.name, "--help"}, {cmd.name, "-h"}, {"help", cmd.name}} {
			var out, errOut bytes.Buffer
			code := run(args, &out, &errOut)
			if code != 0 || !strings.HasPrefix(out.String(), "Usage: funcatron "+cmd.name) || errOut.Len() != 0 {
				t.Errorf("funcatron %s = %d, stdout %q, stderr %q; want 0 and its usage", strings.Join(args, " "), code, out.String(), errOut.String())
			}
		}
	}
	var out bytes.Buffer
	if code := run([]string{"deploy", "--help"}, &out, &out); !strings.Contains(out.String(), "--replace") {
		t.Errorf("deploy --help = %d %q, want its flags listed", code, out.String())
	}
	for _, args := range [][]string{{}, {"help"}, {"--help"}, {"-h"}} {
		out.Reset()
		if code := run(args, &out, &out); code != 0 || !strings.Contains(out.String(), "Commands:") {
			t.Errorf("funcatron %v = %d %q, want the command list", args, code, out.String())
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		var out bytes.Buffer
		if code := run(args, &out, &out); code != 0 || out.String() != "funcatron "+version.Version+"\n" {
			t.Errorf("funcatron %v = %d %q", args, code, out.String())
		}
	}
}

func TestBadCommandLinesExit2(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"deploy"}, {"ls", "extra"}, {"enable", "x", "--nope"}, {"help", "nope"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "--help") && !strings.Contains(errOut.String(), "funcatron help") {
			t.Errorf("funcatron %v = %d %q, want 2 and a pointer to the help", args, code, errOut.String())
		}
	}
}

func TestMissingTokenSaysWhereItLooked(t *testing.T) {
	tt := startTron(t)
	var out bytes.Buffer
	missing := filepath.Join(t.TempDir(), "token")
	t.Setenv("FUNCATRON_TOKEN", "")
	code := run([]string{"--tron", tt.url, "--token-file", missing, "ls"}, &out, &out)
	for _, want := range []string{"401", missing, "--token", "$FUNCATRON_TOKEN", "--token-file"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("ls without a token said %q; want it to mention %q", out.String(), want)
		}
	}
	if code != exitFail {
		t.Errorf("ls without a token exited %d, want 1", code)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600)
	out.Reset()
	if code := run([]string{"--tron", tt.url, "--token-file", tokenFile, "ls"}, &out, &out); code != 0 {
		t.Errorf("ls with the token file = %d %q", code, out.String())
	}
}

var rfc3339 = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)`)

func TestLsAndRoutesAreTablesWithNames(t *testing.T) {
	tt := startTron(t)
	file := bundleFile(t, "hello", "1.0", "/hello", "a")
	if out, code := tt.cli(t, "deploy", file); code != 0 {
		t.Fatalf("deploy = %d %q", code, out)
	}
	out, code := tt.cli(t, "ls")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !regexp.MustCompile(`^TITLE +VERSION +SHA +KIND +ROUTE +STATE +UPLOADED +SIZE$`).MatchString(lines[0]) {
		t.Fatalf("ls = %d %q, want a header and one row", code, out)
	}
	if f := strings.Fields(lines[1]); len(f) < 8 || f[0] != "hello" || f[1] != "1.0" || len(f[2]) != 12 || f[4] != "*/hello" || f[5] != "enabled" || !rfc3339.MatchString(f[6]) {
		t.Errorf("ls row = %q, want hello 1.0 <sha12> exec */hello enabled <RFC 3339>", lines[1])
	}
	if regexp.MustCompile(`\b\d{13}\b`).MatchString(out) {
		t.Errorf("ls shows epoch milliseconds: %q", out)
	}
	if strings.Index(lines[0], "SHA") != strings.Index(lines[1], strings.Fields(lines[1])[2]) {
		t.Errorf("ls columns are not aligned:\n%s", out)
	}
	out, _ = tt.cli(t, "routes")
	if !regexp.MustCompile(`(?m)^\*/hello +hello 1\.0 \([0-9a-f]{12}\) +`).MatchString(out) {
		t.Errorf("routes = %q, want */hello served by hello 1.0", out)
	}
	for _, cmd := range []string{"ls", "routes", "status"} {
		out, _ = tt.cli(t, cmd, "--json", "--interval", "0")
		if cmd != "status" {
			out, _ = tt.cli(t, cmd, "--json")
		}
		if !json.Valid([]byte(out)) || !strings.Contains(out, "/hello") {
			t.Errorf("%s --json = %q, want JSON", cmd, out)
		}
	}
}

func TestBundlesByTitleAndShaPrefix(t *testing.T) {
	tt := startTron(t)
	v1 := bundleFile(t, "greeter", "1", "/g", "1")
	v2 := bundleFile(t, "greeter", "2", "/g", "2")
	tt.cli(t, "upload", v1)
	tt.cli(t, "upload", v2)
	if out, code := tt.cli(t, "enable", "greeter"); code != exitFail || !strings.Contains(out, "greeter@1") || !strings.Contains(out, "greeter@2") {
		t.Errorf("enable of an ambiguous title = %d %q, want 1 listing greeter@1 and greeter@2", code, out)
	}
	if out, code := tt.cli(t, "enable", "greeter@1"); code != 0 || !strings.Contains(out, "enabled") {
		t.Errorf("enable greeter@1 = %d %q", code, out)
	}
	if out, code := tt.cli(t, "disable", "greeter"); code != 0 || !strings.HasPrefix(out, "disabled") {
		t.Errorf("disable by title (one enabled) = %d %q", code, out)
	}
	ls, _ := tt.cli(t, "ls", "--json")
	var list []bundleInfo
	json.Unmarshal([]byte(ls), &list)
	if len(list) != 2 {
		t.Fatalf("ls --json = %q", ls)
	}
	if out, code := tt.cli(t, "rm", list[1].SHA[:8]); code != 0 || !strings.Contains(out, "deleted "+shortSHA(list[1].SHA)) {
		t.Errorf("rm by an 8-digit prefix = %d %q", code, out)
	}
	if out, code := tt.cli(t, "rm", "nosuchbundle"); code != exitFail || !strings.Contains(out, "funcatron ls") {
		t.Errorf("rm of an unknown title = %d %q", code, out)
	}
}

func TestDeployOnATakenRouteSaysReplace(t *testing.T) {
	tt := startTron(t)
	tt.cli(t, "deploy", bundleFile(t, "app", "1", "/app", "1"))
	v2 := bundleFile(t, "app", "2", "/app", "2")
	out, code := tt.cli(t, "deploy", v2)
	if code != exitFail || !strings.Contains(out, "funcatron deploy "+v2+" --replace") || strings.Contains(out, `"replace":true`) {
		t.Errorf("deploy on a taken route = %d %q, want the --replace command, not the API's wording", code, out)
	}
	if out, code := tt.cli(t, "deploy", v2, "--replace"); code != 0 || !strings.Contains(out, "replacing") {
		t.Errorf("deploy --replace = %d %q", code, out)
	}
}

func TestAcceptedEnableIsPrintedOnce(t *testing.T) {
	tt := startTron(t) // no runner: 202
	out, code := tt.cli(t, "deploy", bundleFile(t, "lonely", "1", "/l", "1"))
	if code != 0 || strings.Count(out, "no runner is connected") != 1 || strings.Count(out, "\nenabled ") != 1 {
		t.Errorf("deploy with no runner = %d %q, want the warning once", code, out)
	}
	if strings.Contains(out, "\r") {
		t.Errorf("deploy drew a progress bar on a non-terminal: %q", out)
	}
}

// A bundle no runner can start does not deploy: exit 1, each runner's error (with the
// bundle's stderr) printed, and it is not enabled (spec/tron-api.md "A failed enable fails").
func TestFailedDeployExitsNonZero(t *testing.T) {
	tt := startTron(t)
	tt.runnerAcking(t, "RU-bad", protocol.AckError, "bin/run exited with status 1 at start\nstderr: cannot bind :80")
	out, code := tt.cli(t, "deploy", bundleFile(t, "crash", "1", "/crash", "1"))
	if code != exitFail {
		t.Errorf("deploy of a crashing bundle exited %d, want %d: %q", code, exitFail, out)
	}
	for _, want := range []string{"422", "not enabled", "runner RU-bad:", "\n    stderr: cannot bind :80"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output %q lacks %q", out, want)
		}
	}
	if out, _ := tt.cli(t, "ls"); strings.Contains(out, "enabled") && !strings.Contains(out, "disabled") {
		t.Errorf("the crashing bundle is listed enabled: %q", out)
	}
}

func TestDeployReplaceKeepsProps(t *testing.T) {
	tt := startTron(t)
	props := tt.runner(t)
	if out, code := tt.cli(t, "deploy", bundleFile(t, "cfg", "1", "/cfg", "1"), "--props", `{"db":"pg://x"}`); code != 0 || !strings.Contains(out, "served by RU-cli") {
		t.Fatalf("deploy = %d %q", code, out)
	}
	<-props
	if out, code := tt.cli(t, "deploy", bundleFile(t, "cfg", "2", "/cfg", "2"), "--replace"); code != 0 {
		t.Fatalf("deploy --replace = %d %q", code, out)
	}
	select {
	case p := <-props:
		if p["db"] != "pg://x" {
			t.Errorf("the new version was enabled with props %v, want the replaced one's", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no enable reached the runner")
	}
}

func TestStatusShowsBundlesRoutesAndNodes(t *testing.T) {
	tt := startTron(t)
	tt.runner(t)
	tt.cli(t, "deploy", bundleFile(t, "st", "1", "/st", "1"))
	out, code := tt.cli(t, "status", "--interval", "10ms")
	for _, want := range []string{
		`(?m)^BUNDLES$`, `(?m)^st +1 +[0-9a-f]{12} +exec +\*/st +enabled$`,
		`(?m)^ROUTE +BUNDLE +REQ/S +ERR/S +AVG MS +INFLIGHT +TOTAL +ERRORS$`, `(?m)^\*/st +st 1 \([0-9a-f]{12}\) +0\.0 +0\.0 +- +0 +0 +0$`,
		`(?m)^runner +RU-cli +- +test-runner +` + rfc3339.String(),
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("status (%d) lacks %s:\n%s", code, want, out)
		}
	}
}

func TestEventsSnapshotAndFollow(t *testing.T) {
	tt := startTron(t)
	tt.cli(t, "upload", bundleFile(t, "ev", "1", "/ev", "1"))
	out, code := tt.cli(t, "events")
	if code != 0 || !regexp.MustCompile(`^`+rfc3339.String()+` +bundle\.uploaded +bundle [0-9a-f]{12} +route \*/ev\n$`).MatchString(out) {
		t.Errorf("events = %d %q, want one line with an RFC 3339 time", code, out)
	}
	c := newClient(&globals{tron: tt.url, token: testToken}, io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 10)
	done := make(chan error, 1)
	go func() {
		done <- c.followSSE(ctx, "/api/v1/events", func(raw []byte) error {
			var e event
			json.Unmarshal(raw, &e)
			got <- e.Event
			return nil
		})
	}()
	if e := <-got; e != "bundle.uploaded" {
		t.Errorf("first followed event = %s, want the replayed upload", e)
	}
	tt.cli(t, "deploy", bundleFile(t, "ev", "2", "/ev2", "2"))
	for e := ""; e != "bundle.enabled"; {
		select {
		case e = <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("the enable did not arrive on the followed stream")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("following ended with %v, want nil when interrupted", err)
	}
}

func TestProgressBar(t *testing.T) {
	var out bytes.Buffer
	p := &progressReader{r: bytes.NewReader(make([]byte, 5<<20)), out: &out, label: "b.zip", total: 5 << 20}
	io.Copy(io.Discard, p)
	p.clear()
	if !strings.Contains(out.String(), "uploading b.zip [==============================] 100%  5.0 MiB / 5.0 MiB") {
		t.Errorf("progress = %q", out.String())
	}
	if r, _ := withProgress(bytes.NewReader(nil), &out, "x", 10<<20); r == nil || func() bool { _, ok := r.(*progressReader); return ok }() {
		t.Error("a progress bar on a writer that is no terminal")
	}
}

// TestUploadAndDeployPrintTheRoute (issue 14): upload's and deploy's "uploaded … on …" line
// names the route host/path, or */path for a bundle of any host.
func TestUploadAndDeployPrintTheRoute(t *testing.T) {
	tt := startTron(t)
	for _, c := range []struct {
		cmd, host, path, route string
	}{
		{"upload", "api.example.com", "/up", "api.example.com/up"},
		{"deploy", "api.example.com", "/dep", "api.example.com/dep"},
		{"upload", "", "/anyup", "*/anyup"},
		{"deploy", "", "/anydep", "*/anydep"},
	} {
		out, code := tt.cli(t, c.cmd, bundleFileOn(t, c.host, "r"+c.path[1:], "1", c.path, c.path))
		line := `(?m)^uploaded .*: r` + c.path[1:] + ` 1 \([0-9a-f]{12}\), exec on ` + regexp.QuoteMeta(c.route) + `, sha [0-9a-f]{64}$`
		if code != 0 || !regexp.MustCompile(line).MatchString(out) {
			t.Errorf("%s of a bundle on %q%s = %d %q, want \"uploaded … on %s\"", c.cmd, c.host, c.path, code, out, c.route)
		}
	}
}

// TestPackPrintsTheRoute (issue 14): pack's line names the route host/path, or */path.
func TestPackPrintsTheRoute(t *testing.T) {
	for host, route := range map[string]string{"api.example.com": "api.example.com/p", "": "*/p"} {
		dir := filepath.Join(t.TempDir(), "fn")
		os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
		os.WriteFile(filepath.Join(dir, "bin", "run"), []byte("#!/bin/sh\necho\n"), 0o755)
		manifest := "swagger: \"2.0\"\ninfo: {title: p, version: \"1\"}\nbasePath: /p\n" +
			"x-funcatron: {kind: exec, exec: {command: [bin/run], mode: cgi}}\npaths:\n  /x: {get: {operationId: x}}\n"
		if host != "" {
			manifest = "host: " + host + "\n" + manifest
		}
		os.WriteFile(filepath.Join(dir, "funcatron.yaml"), []byte(manifest), 0o644)
		var buf bytes.Buffer
		if code := run([]string{"pack", dir, "-o", filepath.Join(t.TempDir(), "p.zip")}, &buf, &buf); code != 0 || !strings.Contains(buf.String(), ", route "+route+", 1 operations") {
			t.Errorf("pack of a bundle on %q = %d %q, want route %s", host, code, buf.String(), route)
		}
	}
}

func TestPackChecksTheBundle(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "fn", "bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "fn", "bin", "run"), []byte("#!/bin/sh\necho\n"), 0o755)
	manifest := "swagger: \"2.0\"\ninfo: {title: t, version: \"1\"}\nbasePath: /t\n" +
		"x-funcatron: {kind: exec, exec: {command: [bin/run], mode: cgi}}\npaths:\n  /x: {get: {operationId: x}}\n"
	os.WriteFile(filepath.Join(dir, "fn", "funcatron.yaml"), []byte(manifest), 0o644)
	out := filepath.Join(dir, "fn.zip")
	var buf bytes.Buffer
	if code := run([]string{"pack", filepath.Join(dir, "fn"), "-o", out}, &buf, &buf); code != 0 || !strings.Contains(buf.String(), "route */t, 1 operations") {
		t.Errorf("pack = %d %q", code, buf.String())
	}
	if _, err := os.Stat(out); err != nil {
		t.Error(err)
	}
	os.Remove(filepath.Join(dir, "fn", "bin", "run")) // the command is gone: invalid
	buf.Reset()
	if code := run([]string{"pack", filepath.Join(dir, "fn"), "-o", out}, &buf, &buf); code != exitFail || !strings.Contains(buf.String(), "not a valid bundle") {
		t.Errorf("pack of a bundle without its command = %d %q", code, buf.String())
	}
}

func TestStatusRatesAreOverTheInterval(t *testing.T) {
	route := []routeEntry{{Path: "/r", Queue: "q", SHA: strings.Repeat("a", 64)}}
	before := statsAnswer{RouteMap: route, Routes: map[string]routeCounts{"q": {Count: 10, Errors: 1, TotalMS: 100}}}
	after := statsAnswer{RouteMap: route, Routes: map[string]routeCounts{"q": {Count: 30, Errors: 5, TotalMS: 500, Inflight: 2}}}
	var out bytes.Buffer
	c := &client{out: &out}
	c.printStatus(nil, before, after, 2*time.Second)
	if !regexp.MustCompile(`(?m)^\*/r +aaaaaaaaaaaa +10\.0 +2\.0 +20\.0 +2 +30 +5$`).MatchString(out.String()) {
		t.Errorf("status = %q, want 10 req/s, 2 err/s, 20 ms mean over the window", out.String())
	}
}
