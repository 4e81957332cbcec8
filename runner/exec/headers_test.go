package exec

import (
	"slices"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/funcatron/funcatron/runner/kind"
)

// headerCall is a request with repeated headers, a client-sent X-Forwarded-For and headers
// the runner must replace.
func headerCall() *kind.Call {
	svc := service("example.com", "GET", "/api/x?a=1", nil)
	svc.Headers["cookie"] = []string{"a=1", "b=2"}
	svc.Headers["accept"] = []string{"text/html", "application/json"}
	svc.Headers["x-forwarded-for"] = []string{"192.0.2.1"}
	svc.Headers["x-funcatron-operation"] = []string{"forged"}
	svc.Headers["connection"] = []string{"close"}
	svc.Headers["proxy"] = []string{"http://evil"}
	svc.RequestID = "rid"
	return &kind.Call{Svc: svc, Op: "op", Path: "/x", BasePath: "/api"}
}

// TestForwardedHeadersHTTP: cookies are one header joined by "; " (RFC 6265 §5.4), other
// repeated headers stay repeated, the runner's own headers replace the client's.
func TestForwardedHeadersHTTP(t *testing.T) {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	buildRequest(req, headerCall())
	if got := string(req.Header.Peek("Cookie")); got != "a=1; b=2" {
		t.Errorf("Cookie = %q, want %q", got, "a=1; b=2")
	}
	var accept []string
	for _, v := range req.Header.PeekAll("Accept") {
		accept = append(accept, string(v))
	}
	if !slices.Equal(accept, []string{"text/html", "application/json"}) {
		t.Errorf("Accept = %q, want both values as separate headers", accept)
	}
	for name, want := range map[string]string{
		"X-Forwarded-For": "192.0.2.1, 10.1.2.3", "X-Funcatron-Operation": "op",
		"X-Request-Id": "rid", "X-Forwarded-Host": "example.com", "X-Forwarded-Proto": "http",
		"Connection": "",
	} {
		if got := string(req.Header.Peek(name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// noHostCall is a request whose client sent no Host (HTTP/1.0): the bundle sees defaultHost
// in both modes.
func noHostCall() *kind.Call {
	c := headerCall()
	c.Svc.Host = ""
	delete(c.Svc.Headers, "host")
	return c
}

// TestForwardedHeadersHTTPNoHost: a request without Host gets Host and X-Forwarded-Host
// "localhost", as HTTP/1.1 requires one.
func TestForwardedHeadersHTTPNoHost(t *testing.T) {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	buildRequest(req, noHostCall())
	for name, want := range map[string]string{"Host": "localhost", "X-Forwarded-Host": "localhost"} {
		if got := string(req.Header.Peek(name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// TestForwardedHeadersCGINoHost: the same fallback in CGI's SERVER_NAME, HTTP_HOST and
// HTTP_X_FORWARDED_HOST (RFC 3875 §4.1.14: SERVER_NAME is never empty).
func TestForwardedHeadersCGINoHost(t *testing.T) {
	vars := cgiVars(noHostCall())
	for _, want := range []string{"SERVER_NAME=localhost", "HTTP_HOST=localhost", "HTTP_X_FORWARDED_HOST=localhost"} {
		if !slices.Contains(vars, want) {
			t.Errorf("CGI variables lack %q: %q", want, vars)
		}
	}
}

// TestForwardedHeadersCGI: the same headers as meta-variables; Proxy never becomes
// HTTP_PROXY (httpoxy).
func TestForwardedHeadersCGI(t *testing.T) {
	vars := cgiVars(headerCall())
	for _, want := range []string{
		"HTTP_COOKIE=a=1; b=2", "HTTP_ACCEPT=text/html, application/json",
		"HTTP_X_FORWARDED_FOR=192.0.2.1, 10.1.2.3", "HTTP_X_FUNCATRON_OPERATION=op",
		"HTTP_X_REQUEST_ID=rid", "HTTP_X_FORWARDED_HOST=example.com", "HTTP_X_FORWARDED_PROTO=http",
		"PATH_INFO=/x", "SCRIPT_NAME=/api", "QUERY_STRING=a=1", "REQUEST_URI=/api/x?a=1",
	} {
		if !slices.Contains(vars, want) {
			t.Errorf("CGI variables lack %q: %q", want, vars)
		}
	}
	for _, v := range vars {
		for _, bad := range []string{"HTTP_PROXY=", "HTTP_CONNECTION=", "HTTP_X_FUNCATRON_OPERATION=forged"} {
			if len(v) >= len(bad) && v[:len(bad)] == bad && v != "HTTP_X_FUNCATRON_OPERATION=op" {
				t.Errorf("CGI variable %q must not be set", v)
			}
		}
	}
}
