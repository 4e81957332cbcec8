// calc is the node of the hello-zbus sample: it serves HTTP/1.1 on the unix socket named
// by FUNCATRON_LISTEN, and the runner POSTs each calc.add command's data to /add.
//
//	POST /add {"a": 2, "b": 3}  ->  200 {"sum":5}
//	anything that is not two numbers -> 400 with the reason (the command's err)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	sock := os.Getenv("FUNCATRON_LISTEN")
	if sock == "" {
		log.Fatal("FUNCATRON_LISTEN is not set: run me as a Funcatron bundle")
	}
	_ = os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add", add)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// add sums {"a","b"}.
func add(w http.ResponseWriter, r *http.Request) {
	var in struct{ A, B *float64 }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil || in.A == nil || in.B == nil {
		http.Error(w, `want {"a": <number>, "b": <number>}`, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	b, _ := json.Marshal(map[string]float64{"sum": *in.A + *in.B})
	w.Write(b)
}
