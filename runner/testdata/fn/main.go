// Command fn is the function the runner's tests put in their bundles: an http-mode exec
// program serving on $FUNCATRON_LISTEN, with one route per behaviour a test needs.
// Behaviour at start-up is chosen by the manifest's env: START=never (never listens),
// START=exit (exits at once), START=unhealthy (/health answers 500).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	switch os.Getenv("START") {
	case "never":
		time.Sleep(time.Hour)
	case "exit":
		fmt.Fprintln(os.Stderr, "fn: refusing to start")
		os.Exit(3)
	}
	ln, err := net.Listen("unix", os.Getenv("FUNCATRON_LISTEN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fn:", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: underBase(mux())}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		if os.Getenv("IGNORE_TERM") == "1" {
			time.Sleep(time.Hour)
		}
		srv.Close()
	}()
	srv.Serve(ln)
}

func mux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("START") == "unhealthy" {
			w.WriteHeader(500)
		}
	})
	m.HandleFunc("/hello/", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/hello/")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.Header().Set("Connection", "keep-alive, X-Private")
		w.Header().Set("X-Private", "hop")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s from %s", greeting(), name, os.Getenv("VERSION"))
	})
	m.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "uri": r.RequestURI, "host": r.Host, "headers": r.Header,
			"body": string(body), "env": environ(), "cwd": cwd(),
		})
	})
	m.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) { os.Exit(7) })
	m.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) { time.Sleep(time.Hour) })
	m.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprintf(w, "%s %d", os.Getenv("VERSION"), os.Getpid())
	})
	m.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	m.HandleFunc("/pid", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, os.Getpid()) })
	m.HandleFunc("/probe", probe)
	return m
}

// underBase serves the bundle's routes under any basePath: the runner forwards the
// original request-uri, basePath included.
func underBase(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range []string{"/health", "/hello/", "/echo", "/crash", "/hang", "/slow", "/pid", "/empty", "/probe"} {
			if i := strings.Index(r.URL.Path, p); i > 0 {
				r.URL.Path = r.URL.Path[i:]
				break
			}
		}
		h.ServeHTTP(w, r)
	})
}

// probe is what a hostile bundle tries (the isolation tests): read=PATH reads a file,
// write=PATH writes one, spawn=setsid|group starts `sleep 1000` in a session of its own or
// in the worker's process group and leaves it. The answer says what worked:
// {"read": {PATH: "ok" or the error}, "write": {...}, "child": pid}.
func probe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	out := map[string]any{"read": try(q["read"], func(p string) error { _, err := os.ReadFile(p); return err }),
		"write": try(q["write"], func(p string) error { return os.WriteFile(p, []byte("pwned"), 0o644) })}
	if how := q.Get("spawn"); how != "" {
		cmd := exec.Command("sleep", "1000")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: how == "setsid"}
		if err := cmd.Start(); err != nil {
			out["child"] = err.Error()
		} else {
			out["child"] = cmd.Process.Pid
			cmd.Process.Release()
		}
	}
	json.NewEncoder(w).Encode(out)
}

func try(paths []string, fn func(string) error) map[string]string {
	res := map[string]string{}
	for _, p := range paths {
		res[p] = "ok"
		if err := fn(p); err != nil {
			res[p] = err.Error()
		}
	}
	return res
}

func greeting() string {
	var props map[string]any
	json.Unmarshal([]byte(os.Getenv("FUNCATRON_PROPS")), &props)
	if g, ok := props["greeting"].(string); ok {
		return g
	}
	return "hello"
}

func environ() []string {
	env := os.Environ()
	sort.Strings(env)
	return env
}

func cwd() string {
	d, _ := os.Getwd()
	return d
}
