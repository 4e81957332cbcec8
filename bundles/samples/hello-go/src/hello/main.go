// Command hello is the hello-go sample bundle: an HTTP/1.1 server on the unix
// socket named by FUNCATRON_LISTEN, as the exec kind's http mode runs it
// (spec/bundles.md §4). Its routes are in ../../funcatron.yaml and described
// in bundles/samples/README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// basePath is the manifest's basePath. Requests arrive with their original
// URI (base path included); the runner's health probe asks for /health
// without it, so both forms are served.
const basePath = "/hello"

func main() {
	log.SetFlags(0)
	log.SetPrefix("hello-go: ")
	sock := os.Getenv("FUNCATRON_LISTEN")
	if sock == "" {
		log.Fatal("FUNCATRON_LISTEN is not set: run me under a Funcatron runner")
	}
	os.Remove(sock) // a socket left by a crashed predecessor
	ln, err := net.Listen("unix", sock)
	if err != nil {
		log.Fatalf("listening on %s: %v", sock, err)
	}
	srv := &http.Server{Handler: stripBase(routes(greeting())), ReadHeaderTimeout: 10 * time.Second}
	go stopOnSignal(srv)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("serving: %v", err)
	}
}

// stopOnSignal lets in-flight requests finish on SIGTERM, as the runner
// expects before it escalates to SIGKILL.
func stopOnSignal(srv *http.Server) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}

// greeting reads the "greeting" prop from FUNCATRON_PROPS; default "Hello".
func greeting() string {
	var props struct{ Greeting string }
	if err := json.Unmarshal([]byte(os.Getenv("FUNCATRON_PROPS")), &props); err != nil || props.Greeting == "" {
		return "Hello"
	}
	return props.Greeting
}

// routes maps the manifest's operations to handlers.
func routes(greet string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /greet/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "a=1; Path=/")
		w.Header().Add("Set-Cookie", "b=2; Path=/")
		writeJSON(w, map[string]string{
			"greeting":  fmt.Sprintf("%s, %s!", greet, r.PathValue("name")),
			"operation": r.Header.Get("X-Funcatron-Operation"),
		})
	})
	mux.HandleFunc("GET /args", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"query": r.URL.RawQuery, "args": r.URL.Query()})
	})
	mux.HandleFunc("POST /echo", echo)
	mux.HandleFunc("GET /env", env)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /sleep", sleep)
	mux.HandleFunc("GET /crash", func(http.ResponseWriter, *http.Request) {
		os.Exit(3) // on purpose: the runner must answer 502 and restart us
	})
	return mux
}

// stripBase removes the base path, so /hello/greet/x and /greet/x are the
// same, and one trailing slash, which the runner's router ignores too.
func stripBase(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, basePath)
		if len(p) == len(r.URL.Path) || !strings.HasPrefix(p, "/") {
			p = r.URL.Path // not under the base path after all
		}
		if len(p) > 1 {
			p = strings.TrimSuffix(p, "/")
		}
		if p != r.URL.Path {
			r2 := r.Clone(r.Context())
			r2.URL.Path, r2.URL.RawPath = p, ""
			r = r2
		}
		h.ServeHTTP(w, r)
	})
}

// echo answers the request body with its content type.
func echo(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<20))
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Echo-Length", fmt.Sprint(len(body)))
	w.Write(body)
}

// env lists the environment, sorted, one NAME=value a line: a runner test
// uses it to check that nothing of the runner's environment leaks in.
func env(w http.ResponseWriter, r *http.Request) {
	vars := os.Environ()
	sort.Strings(vars)
	w.Header().Set("Content-Type", "text/plain")
	for _, v := range vars {
		fmt.Fprintln(w, v)
	}
}

// sleep waits ms milliseconds (or until the request is cancelled).
func sleep(w http.ResponseWriter, r *http.Request) {
	ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
	if err != nil || ms < 0 {
		http.Error(w, "ms must be a number of milliseconds", http.StatusBadRequest)
		return
	}
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
	case <-r.Context().Done():
		return
	}
	writeJSON(w, map[string]int{"slept_ms": ms})
}

// writeJSON answers v as compact JSON with a newline, keys sorted, no HTML
// escaping: the same bytes hello-py and hello-sh write.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
