// The HTTP/1.1 request a call becomes for an exec bundle in http mode, and the answer its
// response becomes.

package runner

import (
	"bytes"
	"strings"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/valyala/fasthttp"
)

// requestTarget is the request-target to forward: the original request-uri (path and
// query as the client sent them), else uri and args.
func requestTarget(svc *protocol.Service) string {
	switch {
	case svc.RequestURI != "":
		return svc.RequestURI
	case svc.URI == "":
		return "/"
	case svc.Args != "":
		return svc.URI + "?" + svc.Args
	}
	return svc.URI
}

// methodOf is the service's method, GET when absent.
func methodOf(svc *protocol.Service) string {
	if svc.Method == "" {
		return "GET"
	}
	return svc.Method
}

// buildRequest writes c into req: method, request-uri, the client's headers (without
// hop-by-hop ones), the body, and the X-Request-Id, X-Funcatron-Operation and
// X-Forwarded-* headers of spec/bundles.md §4.
func buildRequest(req *fasthttp.Request, c *call) {
	svc := c.svc
	req.Header.SetMethod(methodOf(svc))
	req.SetRequestURI(requestTarget(svc))
	host := svc.Host
	if host == "" {
		host = svc.Headers.Get("host")
	}
	if host == "" {
		host = "localhost"
	}
	req.Header.SetHost(host)
	var forwardedFor string
	for name, values := range svc.Headers {
		switch name {
		case "host", "x-request-id", "x-funcatron-operation", "x-forwarded-proto", "x-forwarded-host":
			continue
		case "x-forwarded-for":
			forwardedFor = strings.Join(values, ", ")
			continue
		}
		if isHopByHop(name) {
			continue
		}
		for _, v := range values {
			req.Header.Add(name, v)
		}
	}
	if svc.RemoteAddr != "" {
		if forwardedFor != "" {
			forwardedFor += ", "
		}
		forwardedFor += svc.RemoteAddr
	}
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	if id := requestID(svc); id != "" {
		req.Header.Set("X-Request-Id", id)
	}
	req.Header.Set("X-Funcatron-Operation", c.op)
	if svc.Scheme != "" {
		req.Header.Set("X-Forwarded-Proto", svc.Scheme)
	}
	req.Header.Set("X-Forwarded-Host", host)
	if len(svc.Body) > 0 {
		req.SetBodyRaw(svc.Body)
	}
}

// requestID is the id of the client's request: nginx's request-id, else reply-to.
func requestID(svc *protocol.Service) string {
	if svc.RequestID != "" {
		return svc.RequestID
	}
	return svc.ReplyTo
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
