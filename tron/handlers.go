// This file holds the admin API's handlers, one per route of spec/tron-api.md.

package tron

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/valyala/fasthttp"
)

func (t *Tron) getHealth(ctx *fasthttp.RequestCtx) {
	if b := t.getBus(); b != nil && b.Connected() {
		writeJSON(ctx, http.StatusOK, map[string]any{"ok": true, "bus": "connected"})
		return
	}
	writeJSON(ctx, http.StatusServiceUnavailable, map[string]any{"ok": false, "bus": "down"})
}

// addFuncResult is the answer of POST /api/v1/add_func.
type addFuncResult struct {
	Accepted   bool           `json:"accepted"`
	SHA        string         `json:"sha"`
	Type       string         `json:"type"`
	Host       string         `json:"host"`
	Route      string         `json:"route"`
	Operations []Operation    `json:"operations"`
	Swagger    map[string]any `json:"swagger"`
	Size       int64          `json:"size"`
	UploadedAt int64          `json:"uploaded-at"`
	New        bool           `json:"new"` // false when the same bytes were already stored
}

func (t *Tron) postAddFunc(ctx *fasthttp.RequestCtx) {
	if !t.acquireUpload(ctx) {
		return
	}
	defer t.releaseUpload()
	u, err := t.receiveUpload(ctx)
	if err != nil {
		t.writeErr(ctx, err, "accepted", false)
		return
	}
	defer u.close()
	m, created, err := t.addBundle(t.runCtx, u.data)
	if err != nil {
		t.writeErr(ctx, err, "accepted", false)
		return
	}
	writeJSON(ctx, http.StatusOK, addFuncResult{
		Accepted: true, SHA: m.SHA, Type: m.Kind, Host: m.Host, Route: m.BasePath, Operations: m.Operations,
		Swagger: m.Manifest, Size: m.Size, UploadedAt: m.UploadedAt, New: created,
	})
}

func (t *Tron) postEnable(ctx *fasthttp.RequestCtx) {
	var req enableRequest
	if err := decodeBody(ctx, &req); err != nil {
		t.writeErr(ctx, err, "success", false)
		return
	}
	res, err := t.enable(t.runCtx, req)
	var failed *enableFailedError
	if errors.As(err, &failed) {
		writeJSON(ctx, http.StatusUnprocessableEntity, failed.body())
		return
	}
	if err != nil {
		t.writeErr(ctx, err, "success", false)
		return
	}
	writeJSON(ctx, res.Status, res)
}

func (t *Tron) postDisable(ctx *fasthttp.RequestCtx) {
	var req struct {
		SHA string `json:"sha"`
	}
	if err := decodeBody(ctx, &req); err != nil {
		t.writeErr(ctx, err, "success", false)
		return
	}
	res, err := t.disable(t.runCtx, req.SHA)
	if err != nil {
		t.writeErr(ctx, err, "success", false)
		return
	}
	writeJSON(ctx, http.StatusOK, res)
}

func (t *Tron) getKnownFuncs(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, http.StatusOK, map[string]any{"func-bundles": t.knownBundles()})
}

func (t *Tron) getRoutes(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, http.StatusOK, t.currentRoutes())
}

func (t *Tron) getStats(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, http.StatusOK, t.stats())
}

func (t *Tron) postStats(ctx *fasthttp.RequestCtx) {
	var req statsdRequest
	if err := decodeBody(ctx, &req); err != nil {
		t.writeErr(ctx, err, "accepted", false)
		return
	}
	msg, took, err := t.setStatsd(t.runCtx, req)
	if err != nil {
		t.writeErr(ctx, err, "accepted", false)
		return
	}
	writeJSON(ctx, http.StatusOK, map[string]any{"accepted": true, "msg": msg, "nodes": took})
}

// getBundle answers the exact uploaded bytes. It is open to a request with a valid signed
// query (exp, sig) as runners get in enable / all-bundles (the full sha: it is what is
// signed); otherwise it needs the token, and takes a sha prefix too.
func (t *Tron) getBundle(ctx *fasthttp.RequestCtx) {
	sha := strings.TrimPrefix(string(ctx.Path()), bundlePrefix)
	if t.authorized(ctx) {
		var ok bool
		if sha, ok = t.pathSHA(ctx); !ok {
			return
		}
	} else {
		args := ctx.QueryArgs()
		exp, sig := string(args.Peek("exp")), string(args.Peek("sig"))
		if sig == "" {
			t.unauthorized(ctx, "missing or wrong bearer token")
			return
		}
		if err := t.signer.verify(sha, exp, sig); err != nil {
			t.unauthorized(ctx, "signed URL refused: "+err.Error())
			return
		}
	}
	if !isSHA(sha) {
		writeError(ctx, http.StatusNotFound, "no Func bundle with sha "+sha)
		return
	}
	data, err := t.bundleBytes(sha)
	if err != nil {
		t.writeErr(ctx, err)
		return
	}
	ctx.SetStatusCode(http.StatusOK)
	ctx.SetContentType("application/zip")
	ctx.Response.Header.Set("Content-Disposition", `attachment; filename="`+sha+`.funcbundle"`)
	ctx.SetBody(data)
}

func (t *Tron) deleteBundleHandler(ctx *fasthttp.RequestCtx) {
	sha, ok := t.pathSHA(ctx)
	if !ok {
		return
	}
	if err := t.deleteBundle(t.runCtx, sha); err != nil {
		t.writeErr(ctx, err)
		return
	}
	writeJSON(ctx, http.StatusOK, map[string]any{"success": true, "sha": sha, "msg": "deleted Func bundle " + sha})
}

// decodeBody reads a JSON request body of at most 64 KiB into v; anything else is a 400
// (413) naming the problem.
func decodeBody(ctx *fasthttp.RequestCtx, v any) error {
	body, err := readSmallBody(ctx)
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return newAPIError(http.StatusBadRequest, "the request body must be a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return newAPIError(http.StatusBadRequest, "the request body is not the expected JSON: %v", err)
	}
	return nil
}
