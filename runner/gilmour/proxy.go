// The node's own proxy API (the seed's control and publish routes), served to the node
// alone on a unix socket (GILMOUR_PROXY), for its id alone (GILMOUR_NODE_ID).

package gilmour

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/funcatron/funcatron/bundles"
)

// maxProxyBody bounds a request body of the proxy API.
const maxProxyBody = maxMessageBytes

// proxyAPI is the HTTP server of the node's proxy API.
type proxyAPI struct {
	in   *instance
	id   string // the node's id
	sock string
	srv  *http.Server
	sem  chan struct{} // bounds publishes in flight
}

// startProxy listens on a socket in dir, the bundle's private directory (only the runner
// and the bundle's processes reach it, so the socket may be 0666 for the bundle's uid),
// and serves the API.
func startProxy(in *instance, dir string) (*proxyAPI, error) {
	p := &proxyAPI{in: in, id: uuid.NewString(), sock: filepath.Join(dir, "gilmour-proxy.sock"),
		sem: make(chan struct{}, in.cfg.Concurrency)}
	ln, err := net.Listen("unix", p.sock)
	if err != nil {
		return nil, fmt.Errorf("listening on the gilmour proxy socket: %w", err)
	}
	if err := os.Chmod(p.sock, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("opening the gilmour proxy socket to the bundle: %w", err)
	}
	p.srv = &http.Server{Handler: p.routes(), ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

func (p *proxyAPI) close() {
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if p.srv.Shutdown(ctx) != nil {
		p.srv.Close()
	}
	os.Remove(p.sock)
}

func (p *proxyAPI) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /nodes/{id}", p.own(p.getNode))
	mux.HandleFunc("DELETE /nodes/{id}", p.own(p.deleteNode))
	mux.HandleFunc("POST /nodes", func(w http.ResponseWriter, _ *http.Request) {
		status(w, http.StatusForbidden, "this node is registered by its bundle's manifest")
	})
	for _, kind := range []string{"slots", "services"} {
		slot := kind == "slots"
		mux.HandleFunc("GET /nodes/{id}/"+kind, p.own(func(w http.ResponseWriter, _ *http.Request) { p.list(w, slot) }))
		mux.HandleFunc("POST /nodes/{id}/"+kind, p.own(func(w http.ResponseWriter, r *http.Request) { p.add(w, r, slot) }))
		mux.HandleFunc("DELETE /nodes/{id}/"+kind, p.own(func(w http.ResponseWriter, r *http.Request) { p.remove(w, r, slot) }))
	}
	mux.HandleFunc("POST /request/{id}", p.own(p.request))
	mux.HandleFunc("POST /request/{id}/", p.own(p.request))
	mux.HandleFunc("POST /signal/{id}", p.own(p.signal))
	mux.HandleFunc("POST /signal/{id}/", p.own(p.signal))
	return mux
}

// own lets only the node's own id through: a node cannot act for another.
func (p *proxyAPI) own(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != p.id {
			status(w, http.StatusForbidden, "a node can only act for itself")
			return
		}
		if p.in.node.dirty.Load() && r.Method != http.MethodGet {
			status(w, http.StatusServiceUnavailable, "the node is dirty: all its activity is stopped")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxProxyBody)
		h(w, r)
	}
}

// subView is a subscription as the API shows it: timeout in seconds.
type subView struct {
	Topic   string  `json:"topic"`
	Group   string  `json:"group,omitempty"`
	Path    string  `json:"path"`
	Timeout float64 `json:"timeout"`
}

func (p *proxyAPI) views(slot bool) []subView {
	n := p.in.node
	n.mu.Lock()
	defer n.mu.Unlock()
	out := []subView{}
	for _, s := range n.subs {
		if s.slot == slot {
			out = append(out, subView{s.Topic, s.Group, s.Path, s.Timeout.Seconds()})
		}
	}
	return out
}

func (p *proxyAPI) getNode(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"id": p.id, "health_check": p.in.cfg.Node.HealthCheck, "status": p.in.Health(),
		"slots": p.views(true), "services": p.views(false),
	})
}

func (p *proxyAPI) list(w http.ResponseWriter, slot bool) {
	key := "services"
	if slot {
		key = "slots"
	}
	writeJSON(w, http.StatusOK, map[string]any{key: p.views(slot)})
}

// deleteNode removes every slot and service of the node (the node keeps running: the
// bundle's manifest owns it).
func (p *proxyAPI) deleteNode(w http.ResponseWriter, r *http.Request) {
	n := p.in.node
	n.mu.Lock()
	n.subs = nil
	n.mu.Unlock()
	p.applied(w, r)
}

// add adds a slot or service {topic, group, path, timeout}; one already there is fine.
func (p *proxyAPI) add(w http.ResponseWriter, r *http.Request, slot bool) {
	var v any
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
		status(w, http.StatusBadRequest, "the body is not JSON: "+err.Error())
		return
	}
	s, err := bundles.ParseSubscription(v, slot)
	if err != nil {
		status(w, http.StatusBadRequest, err.Error())
		return
	}
	n := p.in.node
	n.mu.Lock()
	if !containsSub(n.subs, s, slot) {
		n.subs = append(n.subs, sub{s, slot})
	}
	n.mu.Unlock()
	p.applied(w, r)
}

func containsSub(subs []sub, s bundles.Subscription, slot bool) bool {
	for _, x := range subs {
		if x.slot == slot && x.Topic == s.Topic && x.Group == s.Group && x.Path == s.Path {
			return true
		}
	}
	return false
}

// remove removes the slots or services of a topic (query topic, or a JSON body
// {topic, path}), only those at path when it is given.
func (p *proxyAPI) remove(w http.ResponseWriter, r *http.Request, slot bool) {
	topic, path := r.URL.Query().Get("topic"), r.URL.Query().Get("path")
	if topic == "" {
		var b struct{ Topic, Path string }
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil && !errors.Is(err, io.EOF) {
			status(w, http.StatusBadRequest, "the body is not JSON: "+err.Error())
			return
		}
		topic, path = b.Topic, b.Path
	}
	if topic == "" {
		status(w, http.StatusBadRequest, "name the topic to remove (query topic= or body {topic, path})")
		return
	}
	n := p.in.node
	n.mu.Lock()
	kept := n.subs[:0:0]
	for _, s := range n.subs {
		if s.slot != slot || s.Topic != topic || (path != "" && s.Path != path) {
			kept = append(kept, s)
		}
	}
	n.subs = kept
	n.mu.Unlock()
	p.applied(w, r)
}

// applied makes the subscriptions follow a change and answers {status}.
func (p *proxyAPI) applied(w http.ResponseWriter, r *http.Request) {
	if err := p.in.node.apply(r.Context(), true); err != nil {
		status(w, http.StatusServiceUnavailable, "the Gilmour bus is unreachable")
		return
	}
	status(w, http.StatusOK, "ok")
}

// publishBody is the body of POST /request/:id and /signal/:id.
type publishBody struct {
	Topic       string          `json:"topic"`
	Composition any             `json:"composition"`
	Message     json.RawMessage `json:"message"`
	Timeout     any             `json:"timeout"`
}

func (p *proxyAPI) readPublish(w http.ResponseWriter, r *http.Request) (*publishBody, time.Duration, bool) {
	var b publishBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		status(w, http.StatusBadRequest, "the body is not JSON: "+err.Error())
		return nil, 0, false
	}
	timeout := bundles.DefaultTimeout
	if b.Timeout != nil {
		var err error
		if timeout, err = bundles.ParseGilmourTimeout(b.Timeout); err != nil {
			status(w, http.StatusBadRequest, err.Error())
			return nil, 0, false
		}
	}
	if len(b.Message) == 0 {
		b.Message = jsonNull
	}
	return &b, timeout, true
}

// request publishes a request to a topic, or runs a composition, and answers
// {messages, code, length} with code as the HTTP status.
func (p *proxyAPI) request(w http.ResponseWriter, r *http.Request) {
	b, timeout, ok := p.readPublish(w, r)
	if !ok {
		return
	}
	c, err := compositionOf(b)
	if err != nil {
		status(w, http.StatusBadRequest, err.Error())
		return
	}
	select {
	case p.sem <- struct{}{}:
		defer func() { <-p.sem }()
	default:
		status(w, http.StatusServiceUnavailable, "too many requests in flight")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	o := compose(ctx, p.in.pub.request, c, b.Message)
	writeJSON(w, proxyStatus(o.final.Code), answerOf(o))
}

// proxyStatus is the seed's "the code is the HTTP status", when it is one (200-599).
func proxyStatus(code int) int {
	if code >= 200 && code <= 599 {
		return code
	}
	return http.StatusBadGateway
}

// compositionOf is the body's composition, or a one-step one for its topic.
func compositionOf(b *publishBody) (*bundles.Composition, error) {
	switch {
	case (b.Topic == "") == (b.Composition == nil):
		return nil, errors.New("give exactly one of topic and composition")
	case b.Composition != nil:
		return bundles.ParseComposition(b.Composition)
	}
	if err := bundles.CheckTopic(b.Topic, false); err != nil {
		return nil, err
	}
	return &bundles.Composition{Topic: b.Topic}, nil
}

// signal publishes a signal: 202 {"status":"ok","receivers":n}.
func (p *proxyAPI) signal(w http.ResponseWriter, r *http.Request) {
	b, timeout, ok := p.readPublish(w, r)
	if !ok {
		return
	}
	if err := bundles.CheckTopic(b.Topic, false); err != nil {
		status(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	n, err := p.in.pub.signal(ctx, b.Topic, b.Message)
	if err != nil {
		status(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "ok", "receivers": n})
}

// status answers the seed's {status: "ok" | error message}.
func status(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"status": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
