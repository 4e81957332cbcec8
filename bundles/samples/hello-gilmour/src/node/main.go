// Command node is the hello-gilmour sample's Gilmour node: an HTTP/1.1 server on the unix
// socket named by FUNCATRON_LISTEN, whose handlers the runner calls for the Gilmour
// service hello.greet and the slot hello.events.* (docs/bundle-gilmour.md, "The node").
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// call is what the runner POSTs for each Gilmour message.
type call struct {
	Topic   string          `json:"topic"`
	Sender  string          `json:"sender"`
	Data    json.RawMessage `json:"data"`
	Timeout int             `json:"timeout"`
}

// events counts the signals this node's slot handled.
var events atomic.Int64

func main() {
	log.SetFlags(0)
	log.SetPrefix("hello-gilmour: ")
	sock := os.Getenv("FUNCATRON_LISTEN")
	if sock == "" {
		log.Fatal("FUNCATRON_LISTEN is not set: run me under a Funcatron runner")
	}
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		log.Fatalf("listening on %s: %v", sock, err)
	}
	srv := &http.Server{Handler: routes(greeting()), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// greeting is the "greeting" prop (FUNCATRON_PROPS), "Hello" by default.
func greeting() string {
	var props struct{ Greeting string }
	json.Unmarshal([]byte(os.Getenv("FUNCATRON_PROPS")), &props)
	if props.Greeting == "" {
		return "Hello"
	}
	return props.Greeting
}

func routes(hello string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	// hello.greet: data {"name": "bob"} (or "bob"), plus "shout": true to shout; answers
	// {"greeting": "Hello, bob!", "name": "bob", "events": <signals seen>}.
	mux.HandleFunc("POST /greet", func(w http.ResponseWriter, r *http.Request) {
		var c call
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			http.Error(w, `{"error":"not a Gilmour call"}`, http.StatusBadRequest)
			return
		}
		var in struct {
			Name  string `json:"name"`
			Shout bool   `json:"shout"`
		}
		if json.Unmarshal(c.Data, &in) != nil {
			json.Unmarshal(c.Data, &in.Name) // a plain string is the name
		}
		if in.Name == "" {
			in.Name = "world"
		}
		g := fmt.Sprintf("%s, %s!", hello, in.Name)
		if in.Shout {
			g = strings.ToUpper(g)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"greeting": g, "name": in.Name, "events": events.Load()})
	})
	// hello.events.*: counts the signal and logs it.
	mux.HandleFunc("POST /event", func(w http.ResponseWriter, r *http.Request) {
		var c call
		json.NewDecoder(r.Body).Decode(&c)
		log.Printf("event %s: %s", c.Topic, c.Data)
		events.Add(1)
	})
	return mux
}
