// Answers the runner writes itself: dispatch misses and bundle failures.

package runner

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/funcatron/funcatron/internal/protocol"
)

var jsonContentType = [2]string{"Content-Type", "application/json"}

// errorAnswer fills out with status and the JSON body {"error": msg}. msg is for the
// client: it never holds internals (paths, stack traces, process output).
func errorAnswer(out *protocol.AnswerBody, status int, msg string, extra ...[2]string) {
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	out.Status = status
	out.Headers = append(append(out.Headers[:0], jsonContentType), extra...)
	out.Body = body
}

// notFound is the answer when no path of the bundle matches (spec/bundles.md §3).
func notFound(out *protocol.AnswerBody, method, path string) {
	errorAnswer(out, http.StatusNotFound, "no operation for "+method+" "+path)
}

// methodNotAllowed is the answer when a path matches but not the method.
func methodNotAllowed(out *protocol.AnswerBody, method, path string, allow []string) {
	errorAnswer(out, http.StatusMethodNotAllowed, "method "+method+" not allowed for "+path,
		[2]string{"Allow", strings.Join(allow, ", ")})
}

// badGateway is the answer when the bundle crashed or wrote something that is not a
// response.
func badGateway(out *protocol.AnswerBody, why string) {
	errorAnswer(out, http.StatusBadGateway, why)
}

// gatewayTimeout is the answer when the bundle did not answer within its timeout.
func gatewayTimeout(out *protocol.AnswerBody) {
	errorAnswer(out, http.StatusGatewayTimeout, "the function did not answer in time")
}

// hopByHop lists the headers that belong to one connection (RFC 9110 §7.6.1) and are not
// passed between the bundle and the frontend. Content-Length goes too: the answer's body
// is re-framed by the frontend, which sets its own.
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
