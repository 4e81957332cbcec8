// The test node of package zbus: serves HTTP on FUNCATRON_LISTEN. /add sums {"a","b"},
// /fail answers 500 "division by zero", /hang never answers, /echo returns the body,
// /crash exits.
package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	l, err := net.Listen("unix", os.Getenv("FUNCATRON_LISTEN"))
	if err != nil {
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ A, B float64 }
		if json.NewDecoder(r.Body).Decode(&in) != nil {
			http.Error(w, "want {\"a\",\"b\"}", http.StatusBadRequest)
			return
		}
		b, _ := json.Marshal(map[string]float64{"sum": in.A + in.B})
		w.Write(b)
	})
	mux.HandleFunc("POST /fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "division by zero", http.StatusInternalServerError)
	})
	mux.HandleFunc("POST /hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got-Cmd", r.Header.Get("X-Zbus-Cmd"))
		w.Write(b)
	})
	mux.HandleFunc("POST /crash", func(w http.ResponseWriter, r *http.Request) { os.Exit(3) })
	http.Serve(l, mux)
}
