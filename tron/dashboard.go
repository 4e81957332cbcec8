// This file serves the dashboard (spec/tron-api.md "Dashboard"): the plain HTML, JS and CSS
// of tron/web, embedded in the binary. GET / and its assets are open and hold no data; the
// page asks for the token and calls the admin API with it.

package tron

import (
	"embed"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/valyala/fasthttp"
)

const dashboardAssets = "/ui/"

//go:embed web
var webFiles embed.FS

// dashboardCSP keeps the page to its own origin: its scripts and styles, and calls to the
// Tron; nothing inline, nothing from elsewhere, no framing.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (t *Tron) getDashboard(ctx *fasthttp.RequestCtx) {
	serveWebFile(ctx, "index.html")
}

func (t *Tron) getDashboardAsset(ctx *fasthttp.RequestCtx) {
	name := strings.TrimPrefix(string(ctx.Path()), dashboardAssets)
	if name == "" || strings.Contains(name, "/") || name == "index.html" {
		writeError(ctx, http.StatusNotFound, "no such file: "+string(ctx.Path()))
		return
	}
	serveWebFile(ctx, name)
}

// serveWebFile answers web/name, or 404.
func serveWebFile(ctx *fasthttp.RequestCtx, name string) {
	b, err := webFiles.ReadFile("web/" + name)
	if err != nil {
		writeError(ctx, http.StatusNotFound, "no such file: "+string(ctx.Path()))
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h := &ctx.Response.Header
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache") // a new Tron binary brings a new page
	ctx.SetStatusCode(http.StatusOK)
	ctx.SetContentType(ctype)
	ctx.SetBody(b)
}
