// The HTTP/1.1 request a call becomes for an exec bundle in http mode, and the answer its
// response becomes.

package exec

import (
	"bytes"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/runner/kind"
	"github.com/valyala/fasthttp"
)

// buildRequest writes c into req: method, request-uri, the client's headers (without
// hop-by-hop ones), the body, and the X-Request-Id, X-Funcatron-Operation and
// X-Forwarded-* headers of spec/bundles.md §4.
func buildRequest(req *fasthttp.Request, c *kind.Call) {
	req.Header.SetMethod(c.Method())
	req.SetRequestURI(c.Target())
	f := forwardedOf(c)
	req.Header.SetHost(f.Host)
	eachClientHeader(c, nil, func(name string, values []string) {
		if name == "cookie" { // one Cookie header (RFC 6265 §5.4); others stay repeated
			req.Header.Add(name, joinValues(name, values))
			return
		}
		for _, v := range values {
			req.Header.Add(name, v)
		}
	})
	if f.For != "" {
		req.Header.Set("X-Forwarded-For", f.For)
	}
	if f.RequestID != "" {
		req.Header.Set("X-Request-Id", f.RequestID)
	}
	req.Header.Set("X-Funcatron-Operation", f.Operation)
	if f.Proto != "" {
		req.Header.Set("X-Forwarded-Proto", f.Proto)
	}
	req.Header.Set("X-Forwarded-Host", f.Host)
	if len(c.Svc.Body) > 0 {
		req.SetBodyRaw(c.Svc.Body)
	}
}

// readResponse turns the bundle's response into the answer: status, every header as its
// own pair (repeated ones such as Set-Cookie stay separate) except hop-by-hop ones and
// those the response's Connection header names, and a copy of the body.
func readResponse(resp *fasthttp.Response, out *protocol.AnswerBody) {
	out.Status = resp.StatusCode()
	out.Headers = out.Headers[:0]
	// fasthttp reports text/plain for a response without Content-Type unless told not to.
	resp.Header.SetNoDefaultContentType(true)
	conn := resp.Header.Peek("Connection")
	for k, v := range resp.Header.All() {
		if isHopByHop(string(k)) || len(conn) > 0 && namedIn(conn, k) {
			continue
		}
		out.Headers = append(out.Headers, [2]string{string(k), string(v)})
	}
	out.Body = append([]byte(nil), resp.Body()...)
}

// namedIn reports whether the comma-separated token list holds name (any case).
func namedIn(list, name []byte) bool {
	for len(list) > 0 {
		tok := list
		if i := bytes.IndexByte(list, ','); i >= 0 {
			tok, list = list[:i], list[i+1:]
		} else {
			list = nil
		}
		if bytes.EqualFold(bytes.TrimSpace(tok), name) {
			return true
		}
	}
	return false
}
