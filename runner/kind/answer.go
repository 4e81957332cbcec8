// Answers every kind writes the same way: errors as JSON, never internals.

package kind

import (
	"encoding/json"
	"net/http"

	"github.com/funcatron/funcatron/internal/protocol"
)

// JSONContentType is the header pair of a JSON answer.
var JSONContentType = [2]string{"Content-Type", "application/json"}

// ErrorAnswer fills out with status and the JSON body {"error": msg}. msg is for the
// client: it never holds internals (paths, addresses, stack traces, process output).
func ErrorAnswer(out *protocol.AnswerBody, status int, msg string, extra ...[2]string) {
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	out.Status = status
	out.Headers = append(append(out.Headers[:0], JSONContentType), extra...)
	out.Body = body
}

// JSONAnswer fills out with status and v as its JSON body.
func JSONAnswer(out *protocol.AnswerBody, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		ErrorAnswer(out, http.StatusInternalServerError, "the runner could not encode the answer")
		return
	}
	out.Status = status
	out.Headers = append(out.Headers[:0], JSONContentType)
	out.Body = body
}

// BadGateway is the answer when the bundle crashed or wrote something that is not a
// response.
func BadGateway(out *protocol.AnswerBody, why string) {
	ErrorAnswer(out, http.StatusBadGateway, why)
}

// GatewayTimeout is the answer when the bundle did not answer within its timeout.
func GatewayTimeout(out *protocol.AnswerBody) {
	ErrorAnswer(out, http.StatusGatewayTimeout, "the function did not answer in time")
}

// Unavailable is the answer when the bundle cannot take calls right now (its process is
// restarting, its bus is unreachable); Retry-After tells the client when to try again.
func Unavailable(out *protocol.AnswerBody, why string) {
	ErrorAnswer(out, http.StatusServiceUnavailable, why, [2]string{"Retry-After", "1"})
}
