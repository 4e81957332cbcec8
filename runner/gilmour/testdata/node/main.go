// The test node of package gilmour: serves HTTP on FUNCATRON_LISTEN with the handlers the
// tests subscribe, and records what happened in files under MARKS (a dir the test owns).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

func main() {
	marks := os.Getenv("MARKS")
	mark := func(name, line string) {
		f, err := os.OpenFile(filepath.Join(marks, name), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(filepath.Join(marks, "unhealthy")); err == nil {
			http.Error(w, "sick", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	// /echo answers {"echo": <the call>, "by": NAME}.
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		var call map[string]any
		json.NewDecoder(r.Body).Decode(&call)
		mark("echo", os.Getenv("NAME"))
		json.NewEncoder(w).Encode(map[string]any{"echo": call, "by": os.Getenv("NAME")})
	})
	mux.HandleFunc("POST /audit", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mark("audit", string(b))
	})
	mux.HandleFunc("POST /text", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain words") })
	mux.HandleFunc("POST /fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"why":"broken"}`, http.StatusInternalServerError)
	})
	// /slow waits 5 s or until the runner closes the connection (marked "cancelled").
	mux.HandleFunc("POST /slow", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // net/http watches the connection once the body is read
		select {
		case <-r.Context().Done():
			mark("slow", "cancelled")
		case <-time.After(5 * time.Second):
			io.WriteString(w, `"late"`)
		}
	})
	mux.HandleFunc("POST /crash", func(w http.ResponseWriter, r *http.Request) { os.Exit(3) })
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(os.Environ())
	})
	ln, err := net.Listen("unix", os.Getenv("FUNCATRON_LISTEN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	http.Serve(ln, mux)
}
