// One request as the core hands it to a kind.

package kind

import "github.com/funcatron/funcatron/internal/protocol"

// Call is one dispatched request: the decoded service message, the operation the bundle's
// router matched, and the path below the bundle's basePath. Every field of Svc came from
// the bus and is untrusted input.
type Call struct {
	Svc      *protocol.Service
	Op       string // the matched operationId
	Path     string // uri minus BasePath, always starting with "/"
	BasePath string
}

// Method is the request's method, GET when absent.
func (c *Call) Method() string { return MethodOf(c.Svc) }

// MethodOf is the service's method, GET when absent.
func MethodOf(svc *protocol.Service) string {
	if svc.Method == "" {
		return "GET"
	}
	return svc.Method
}

// Target is the request-target as the client sent it: the original request-uri (path and
// query), else uri and args.
func (c *Call) Target() string {
	svc := c.Svc
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

// RequestID is the id of the client's request: nginx's request-id, else reply-to.
func (c *Call) RequestID() string {
	if c.Svc.RequestID != "" {
		return c.Svc.RequestID
	}
	return c.Svc.ReplyTo
}

// Host is the host the client asked for: the service's host, else its Host header.
func (c *Call) Host() string {
	if c.Svc.Host != "" {
		return c.Svc.Host
	}
	return c.Svc.Headers.Get("host")
}
