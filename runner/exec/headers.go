// The request headers a bundle gets, in both modes: the client's (less hop-by-hop ones and
// those the runner sets itself) and the runner's own (spec/bundles.md §4).

package exec

import (
	"strings"

	"github.com/funcatron/funcatron/runner/kind"
)

// hopByHop lists the headers that belong to one connection (RFC 9110 §7.6.1) and are not
// passed between the client, the bundle and the frontend. Content-Length goes too: bodies
// are re-framed on each side, which sets its own.
var hopByHop = map[string]bool{
	"connection":          true,
	"keep-alive":          true,
	"proxy-authenticate":  true,
	"proxy-authorization": true,
	"proxy-connection":    true,
	"te":                  true,
	"trailer":             true,
	"transfer-encoding":   true,
	"upgrade":             true,
	"content-length":      true,
}

// isHopByHop reports whether header name (any case) is dropped on the way.
func isHopByHop(name string) bool {
	if len(name) > len("proxy-authorization") {
		return false
	}
	var buf [20]byte
	lower := buf[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	return hopByHop[string(lower)]
}

// runnerSet are the request headers (lower case) the runner sets itself: a client's own
// values of them are dropped (X-Forwarded-For is extended instead, see forwardedFor).
var runnerSet = map[string]bool{
	"host":                  true,
	"x-request-id":          true,
	"x-funcatron-operation": true,
	"x-forwarded-for":       true,
	"x-forwarded-proto":     true,
	"x-forwarded-host":      true,
}

// defaultHost is the Host of a request to a bundle whose client sent none (an HTTP/1.0
// client, a frontend that omits it), and of the runner's own requests (health checks,
// Node.Do): HTTP/1.1 requires one, and SERVER_NAME must not be empty (RFC 3875 §4.1.14).
const defaultHost = "localhost"

// forwarded is what the runner adds to every request it passes to a bundle.
type forwarded struct {
	Host      string // the client's host (defaultHost when it sent none)
	For       string // X-Forwarded-For: the client's chain plus its address
	Proto     string // X-Forwarded-Proto: the scheme ("" when unknown)
	RequestID string
	Operation string
}

// forwardedOf is the one place both modes take these values from: http mode's Host and
// X-Forwarded-* headers, CGI's SERVER_NAME, HTTP_HOST and HTTP_X_FORWARDED_* variables.
func forwardedOf(c *kind.Call) forwarded {
	host := c.Host()
	if host == "" {
		host = defaultHost
	}
	return forwarded{
		Host: host, For: forwardedFor(c), Proto: c.Svc.Scheme,
		RequestID: c.RequestID(), Operation: c.Op,
	}
}

// forwardedFor is the client's X-Forwarded-For chain with the client's address appended.
func forwardedFor(c *kind.Call) string {
	chain := strings.Join(c.Svc.Headers["x-forwarded-for"], ", ")
	if addr := c.Svc.RemoteAddr; addr != "" {
		if chain != "" {
			chain += ", "
		}
		chain += addr
	}
	return chain
}

// eachClientHeader calls fn for each header of the client that is passed on: neither
// hop-by-hop nor one the runner sets, nor one of skip.
func eachClientHeader(c *kind.Call, skip map[string]bool, fn func(name string, values []string)) {
	for name, values := range c.Svc.Headers {
		if runnerSet[name] || skip[name] || isHopByHop(name) {
			continue
		}
		fn(name, values)
	}
}

// joinValues joins the values of a repeated header: with "; " for Cookie (RFC 6265 §5.4:
// one Cookie header, pairs separated by "; "), with ", " for the others (RFC 9110 §5.3).
func joinValues(name string, values []string) string {
	if len(values) == 1 {
		return values[0]
	}
	if name == "cookie" {
		return strings.Join(values, "; ")
	}
	return strings.Join(values, ", ")
}
