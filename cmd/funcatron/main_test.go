package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTron records the calls it gets and answers like the Tron's admin API.
func fakeTron(t *testing.T, calls *[]string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"missing or wrong token"}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		*calls = append(*calls, r.Method+" "+r.URL.Path+" "+string(body))
		switch r.URL.Path {
		case "/api/v1/add_func":
			io.WriteString(w, `{"accepted":true,"sha":"abc","route":"/hello"}`)
		case "/api/v1/enable":
			io.WriteString(w, `{"success":true,"runners":["RU-1"]}`)
		default:
			w.WriteHeader(404)
			io.WriteString(w, `{"error":"unknown sha"}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDeployUploadsThenEnablesWithProps(t *testing.T) {
	var calls []string
	srv := fakeTron(t, &calls)
	file := filepath.Join(t.TempDir(), "b.zip")
	os.WriteFile(file, []byte("PK-bytes"), 0o644)
	var out bytes.Buffer
	err := run([]string{"--tron", srv.URL, "--token", "s3cret", "deploy", file, "--props", `{"greeting":"hi"}`}, &out)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if len(calls) != 2 || calls[0] != "POST /api/v1/add_func PK-bytes" {
		t.Fatalf("calls = %q", calls)
	}
	var enable map[string]any
	json.Unmarshal([]byte(strings.TrimPrefix(calls[1], "POST /api/v1/enable ")), &enable)
	if enable["sha"] != "abc" || enable["props"].(map[string]any)["greeting"] != "hi" {
		t.Errorf("enable body = %v", enable)
	}
	if !strings.Contains(out.String(), "sha abc") {
		t.Errorf("output %q does not name the sha", out.String())
	}
}

func TestErrorsCarryTheTronsMessage(t *testing.T) {
	var calls []string
	srv := fakeTron(t, &calls)
	err := run([]string{"--tron", srv.URL, "--token", "wrong", "ls"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "401: missing or wrong token") {
		t.Errorf("ls with a wrong token = %v", err)
	}
	err = run([]string{"--tron", srv.URL, "--token", "s3cret", "disable", "nope"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "404: unknown sha") {
		t.Errorf("disable of an unknown sha = %v", err)
	}
	if err := run([]string{"--tron", srv.URL, "frobnicate"}, io.Discard); err == nil {
		t.Error("an unknown command is no error")
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
	if err := run([]string{"pack", filepath.Join(dir, "fn"), "-o", out}, &buf); err != nil {
		t.Fatalf("pack: %v", err)
	}
	if !strings.Contains(buf.String(), "route /t, 1 operations") {
		t.Errorf("pack said %q", buf.String())
	}
	if _, err := os.Stat(out); err != nil {
		t.Error(err)
	}
	os.Remove(filepath.Join(dir, "fn", "bin", "run")) // the command is gone: invalid
	if err := run([]string{"pack", filepath.Join(dir, "fn"), "-o", out}, io.Discard); err == nil || !strings.Contains(err.Error(), "not a valid bundle") {
		t.Errorf("pack of a bundle without its command = %v", err)
	}
}
