// This file is the admin API's plumbing: the fasthttp server, routing, authentication and
// JSON answers (spec/tron-api.md). The handlers are in handlers.go.

package tron

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

const (
	apiPrefix    = "/api/v1/"
	bundlePrefix = apiPrefix + "bundle/"
)

// route is one method of one admin API path.
type route struct {
	method string
	path   string // exact, or a prefix ending in "/" when prefix is set
	prefix bool
	open   bool // no bearer token needed (a handler may check a signature instead)
	h      fasthttp.RequestHandler
}

func (t *Tron) newServer() *fasthttp.Server {
	t.table = t.routes()
	t.uploads = make(chan struct{}, t.opts.MaxUploads)
	return &fasthttp.Server{
		Handler:      t.serve,
		ErrorHandler: t.serveError,
		Name:         "funcatron-tron",
		// Bodies are bounded before they are read (apibody.go): admit decides on the
		// headers alone, handlers read what it let through from the stream.
		HeaderReceived:               t.admit,
		StreamRequestBody:            true,
		MaxRequestBodySize:           int(t.opts.MaxBundleBytes),
		DisablePreParseMultipartForm: true,
		ReadTimeout:                  10 * time.Minute, // a 256 MiB upload over a slow link
		WriteTimeout:                 10 * time.Minute,
		IdleTimeout:                  2 * time.Minute,
		CloseOnShutdown:              true,
		Logger:                       fasthttpLogger{t},
	}
}

// routes is the admin API.
func (t *Tron) routes() []route {
	metrics := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(t.metrics.reg, promhttp.HandlerOpts{}))
	return []route{
		{method: "GET", path: "/healthz", open: true, h: t.getHealth},
		{method: "GET", path: "/metrics", open: true, h: metrics},
		{method: "POST", path: apiPrefix + "add_func", h: t.postAddFunc},
		{method: "POST", path: apiPrefix + "enable", h: t.postEnable},
		{method: "POST", path: apiPrefix + "disable", h: t.postDisable},
		{method: "GET", path: apiPrefix + "known_funcs", h: t.getKnownFuncs},
		{method: "GET", path: apiPrefix + "routes", h: t.getRoutes},
		{method: "GET", path: apiPrefix + "stats", h: t.getStats},
		{method: "POST", path: apiPrefix + "stats", h: t.postStats},
		{method: "GET", path: apiPrefix + "config", h: t.getConfig},
		{method: "POST", path: apiPrefix + "config", h: t.postConfig},
		{method: "GET", path: apiPrefix + "events", h: t.getEvents},
		{method: "GET", path: apiPrefix + "logs", h: t.getLogs},
		{method: "GET", path: bundlePrefix, prefix: true, open: true, h: t.getBundle},
		{method: "DELETE", path: bundlePrefix, prefix: true, h: t.deleteBundleHandler},
		{method: "GET", path: "/", open: true, h: t.getDashboard},
		{method: "GET", path: dashboardAssets, prefix: true, open: true, h: t.getDashboardAsset},
	}
}

// serve routes a request: every /api/v1/ path needs the bearer token (checked before
// anything else, so an unauthenticated caller learns nothing; its body was not read, see
// admit), except a bundle download that carries a valid signature.
func (t *Tron) serve(ctx *fasthttp.RequestCtx) {
	if t.refuseBody(ctx) {
		return
	}
	path := string(ctx.Path())
	method := string(ctx.Method())
	if needsToken(method, path) && !t.authorized(ctx) {
		t.unauthorized(ctx, "missing or wrong bearer token")
		return
	}
	var allow []string
	for _, r := range t.table {
		if r.path != path && !(r.prefix && strings.HasPrefix(path, r.path)) {
			continue
		}
		if r.method == method || (r.method == "GET" && method == "HEAD") {
			r.h(ctx)
			return
		}
		allow = append(allow, r.method)
	}
	if len(allow) > 0 {
		ctx.Response.Header.Set("Allow", strings.Join(allow, ", "))
		writeError(ctx, http.StatusMethodNotAllowed, method+" is not allowed on "+path)
		return
	}
	writeError(ctx, http.StatusNotFound, "no such route: "+method+" "+path)
}

// authorized tells whether the request carries the admin token.
func (t *Tron) authorized(ctx *fasthttp.RequestCtx) bool {
	return t.authorizedHeader(&ctx.Request.Header)
}

func (t *Tron) authorizedHeader(h *fasthttp.RequestHeader) bool {
	auth := string(h.Peek("Authorization"))
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(auth, "bearer ")
	}
	return ok && tokenEqual(strings.TrimSpace(tok), t.token)
}

func (t *Tron) unauthorized(ctx *fasthttp.RequestCtx, msg string) {
	ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="funcatron"`)
	writeError(ctx, http.StatusUnauthorized, msg)
}

// serveError answers requests fasthttp could not read: too large (413), too slow, malformed.
// The client may still be sending: the connection lingers so the answer reaches it.
func (t *Tron) serveError(ctx *fasthttp.RequestCtx, err error) {
	lingerOnClose(ctx.Conn())
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		writeError(ctx, http.StatusRequestEntityTooLarge, t.uploadTooLarge())
	case errors.As(err, &small):
		writeError(ctx, http.StatusRequestHeaderFieldsTooLarge, "request headers too large")
	case isTimeout(err):
		writeError(ctx, http.StatusRequestTimeout, "request timed out")
	default:
		writeError(ctx, http.StatusBadRequest, "could not read the request: "+err.Error())
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// writeJSON answers status with v as JSON.
func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"could not encode the answer"}`)
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.SetBody(append(b, '\n'))
}

// writeError answers {"error": msg} with status, plus the extra fields given.
func writeError(ctx *fasthttp.RequestCtx, status int, msg string, extra ...any) {
	body := map[string]any{"error": msg}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i].(string)] = extra[i+1]
	}
	writeJSON(ctx, status, body)
}

// writeErr answers an operation's error: its status when it is an apiError, else 500
// without internals (the cause is logged).
func (t *Tron) writeErr(ctx *fasthttp.RequestCtx, err error, extra ...any) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(ctx, ae.Status, ae.Msg, extra...)
		return
	}
	t.log.Error("admin API", "path", string(ctx.Path()), "err", err)
	writeError(ctx, http.StatusInternalServerError, "internal error", extra...)
}

// fasthttpLogger sends fasthttp's own messages to the Tron's logger.
type fasthttpLogger struct{ t *Tron }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.t.log.Debug("fasthttp", "msg", fmt.Sprintf(format, args...))
}
