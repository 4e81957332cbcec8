// Request bodies of the admin API, bounded before they are read (spec/tron-api.md "The
// token is checked before the body is read").
//
// fasthttp reads a whole body before it calls a handler, and in streaming mode it still
// waits for the first bytes of it; 30 connections that sent only headers with
// `Content-Length: 268435456` took the Tron to 7.9 GB. So the decision is made in
// fasthttp's HeaderReceived hook, when the headers are in and nothing of the body is:
// a request refused there has its Content-Length set to 0, so fasthttp reads none of its
// body, and its answer (401, 413) closes the connection, which still holds the unread
// bytes. The server streams bodies (StreamRequestBody): a handler reads what it accepts
// itself, through readSmallBody (64 KiB) or, for add_func only, receiveUpload (to a temp
// file, at most --max-uploads at once).

package tron

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/valyala/fasthttp"
)

// maxSmallBody bounds the body of every route but add_func: their bodies are small JSON
// objects (enable with props is the largest).
const maxSmallBody = 64 << 10

// refusedHeader carries admit's verdict to serve. A client's own is removed first.
const refusedHeader = "X-Funcatron-Body-Refused"

// Verdicts of admit.
const (
	refusedToken  = "token"  // no valid token: no body of it is read
	refusedSize   = "size"   // over 64 KiB on a route that is not add_func
	refusedUpload = "upload" // an upload over --max-bundle-bytes
)

// admit is fasthttp's HeaderReceived hook: it runs when a request's headers are in and
// before any of its body is read, and refuses the body of a request without the token,
// over 64 KiB (add_func: over --max-bundle-bytes).
func (t *Tron) admit(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	h.Del(refusedHeader)
	if why := t.bodyVerdict(h); why != "" {
		h.Set(refusedHeader, why)
		h.SetContentLength(0) // fasthttp reads none of it
	}
	return fasthttp.RequestConfig{}
}

// uploadTooLarge is the 413 message for an upload over --max-bundle-bytes.
func (t *Tron) uploadTooLarge() string {
	return "request body larger than --max-bundle-bytes (" + strconv.FormatInt(t.opts.MaxBundleBytes, 10) + " bytes)"
}

// bodyVerdict says why the body announced by h is refused ("": it is not).
func (t *Tron) bodyVerdict(h *fasthttp.RequestHeader) string {
	n := h.ContentLength() // -1: chunked, of unknown length; -2: none
	if n == 0 || n == -2 {
		return ""
	}
	method, path := string(h.Method()), requestPath(h)
	switch {
	case needsToken(method, path) && !t.authorizedHeader(h):
		return refusedToken
	case isUpload(method, path):
		if int64(n) > t.opts.MaxBundleBytes {
			return refusedUpload
		}
	case n > maxSmallBody:
		return refusedSize
	}
	return ""
}

// requestPath is the normalised path of the request, as ctx.Path() will give it.
func requestPath(h *fasthttp.RequestHeader) string {
	u := fasthttp.AcquireURI()
	defer fasthttp.ReleaseURI(u)
	if err := u.Parse(nil, h.RequestURI()); err != nil {
		return ""
	}
	return string(u.Path())
}

// needsToken: every /api/v1/ path, except a bundle download (which may carry a signature
// instead; a body on it is bounded like any other).
func needsToken(method, path string) bool {
	return strings.HasPrefix(path, apiPrefix) && !(method == "GET" && strings.HasPrefix(path, bundlePrefix))
}

func isUpload(method, path string) bool { return method == "POST" && path == apiPrefix+"add_func" }

// acquireUpload takes one of the --max-uploads slots, or answers 503 (the body unread)
// and reports false; release it with releaseUpload.
func (t *Tron) acquireUpload(ctx *fasthttp.RequestCtx) bool {
	select {
	case t.uploads <- struct{}{}:
		return true
	default:
	}
	ctx.SetConnectionClose()
	lingerOnClose(ctx.Conn())
	ctx.Response.Header.Set("Retry-After", "1")
	writeError(ctx, http.StatusServiceUnavailable,
		fmt.Sprintf("%d uploads are being received (--max-uploads); try again", cap(t.uploads)), "accepted", false)
	return false
}

func (t *Tron) releaseUpload() { <-t.uploads }

// refuseBody answers a request whose body admit refused, and closes the connection, which
// still holds that body unread (lingering, so the answer reaches a client still sending).
// It reports false when the body was not refused.
func (t *Tron) refuseBody(ctx *fasthttp.RequestCtx) bool {
	why := string(ctx.Request.Header.Peek(refusedHeader))
	if why == "" {
		return false
	}
	ctx.SetConnectionClose()
	lingerOnClose(ctx.Conn())
	switch why {
	case refusedToken:
		t.unauthorized(ctx, "missing or wrong bearer token")
	case refusedUpload:
		writeError(ctx, http.StatusRequestEntityTooLarge,
			t.uploadTooLarge(), "accepted", false)
	default:
		writeError(ctx, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", maxSmallBody))
	}
	return true
}

// readSmallBody reads a body of at most 64 KiB (a chunked one is cut there: 413).
func readSmallBody(ctx *fasthttp.RequestCtx) ([]byte, error) {
	if !ctx.IsBodyStream() {
		return ctx.PostBody(), nil
	}
	b, err := io.ReadAll(io.LimitReader(ctx.RequestBodyStream(), maxSmallBody+1))
	if err != nil {
		return nil, newAPIError(http.StatusBadRequest, "could not read the request body")
	}
	if len(b) > maxSmallBody {
		ctx.SetConnectionClose()
		lingerOnClose(ctx.Conn())
		return nil, newAPIError(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", maxSmallBody)
	}
	return b, nil
}

// upload is a received bundle: a temp file mapped into memory, so the page cache holds
// it (the kernel can drop and re-read its pages), not the Go heap.
type upload struct {
	data []byte
	file *os.File
}

// receiveUpload streams an add_func body into a temp file of the data dir (removed at
// start if a crash leaves it), at most --max-bundle-bytes of it.
func (t *Tron) receiveUpload(ctx *fasthttp.RequestCtx) (*upload, error) {
	f, err := os.CreateTemp(t.opts.DataDir, tempPrefix+"upload-*")
	if err != nil {
		return nil, fmt.Errorf("creating an upload file: %w", err)
	}
	os.Remove(f.Name()) // the open file stays ours; nothing is left behind
	u := &upload{file: f}
	if err := u.fill(ctx, t.opts.MaxBundleBytes); err != nil {
		u.close()
		return nil, err
	}
	return u, nil
}

// fill copies the body into the file, then maps the file.
func (u *upload) fill(ctx *fasthttp.RequestCtx, limit int64) error {
	body := ctx.RequestBodyStream() // never PostBody: it would read the whole stream into memory
	if body == nil {
		body = bytes.NewReader(ctx.Request.Body())
	}
	n, err := io.Copy(u.file, io.LimitReader(body, limit+1))
	switch {
	case err != nil:
		return newAPIError(http.StatusBadRequest, "could not read the upload")
	case n > limit:
		ctx.SetConnectionClose()
		lingerOnClose(ctx.Conn())
		return newAPIError(http.StatusRequestEntityTooLarge, "request body larger than --max-bundle-bytes (%d bytes)", limit)
	case n == 0:
		return nil
	}
	u.data, err = syscall.Mmap(int(u.file.Fd()), 0, int(n), syscall.PROT_READ, syscall.MAP_PRIVATE)
	if err != nil {
		return fmt.Errorf("mapping the upload: %w", err)
	}
	return nil
}

// close unmaps and closes the file. Nothing may keep a slice of data after it.
func (u *upload) close() {
	if u.data != nil {
		syscall.Munmap(u.data)
		u.data = nil
	}
	u.file.Close()
}
