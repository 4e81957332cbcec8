// The HTTP answer of an operation with x-zbus, made from the replies it got.

package zbus

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/runner/kind"
)

// replyError is the body of an answer whose reply carries err.
type replyError struct {
	Err string `json:"err"`
	UID string `json:"uid"`
	Src int64  `json:"src"`
}

// answerReplies answers with the replies to a call to rt.Dst: for one destination the
// reply itself, for several a JSON array; a destination that did not answer by exp
// counts as msgbusd's timeout error.
func answerReplies(out *protocol.AnswerBody, rt bundles.ZbusRoute, replies []*Message) {
	if len(rt.Dst) == 1 {
		if len(replies) == 0 {
			answerError(out, &Message{Src: int64(rt.Dst[0]), Err: timeoutErr(int64(rt.Exp))})
			return
		}
		answerOne(out, replies[0])
		return
	}
	answerMany(out, rt, replies)
}

// answerOne answers 200 with the decoded dat of a reply without err.
func answerOne(out *protocol.AnswerBody, r *Message) {
	if r.Err != "" {
		answerError(out, r)
		return
	}
	body, err := r.Data()
	if err != nil {
		answerError(out, &Message{UID: r.UID, Src: r.Src, Err: "the reply's dat is not base64"})
		return
	}
	out.Status = http.StatusOK
	out.Headers = append(out.Headers[:0], [2]string{"Content-Type", contentType(body)})
	out.Body = body
}

// answerError answers {"err","uid","src"}: 504 for msgbusd's timeout, 404 for
// "function not found", else 502.
func answerError(out *protocol.AnswerBody, r *Message) {
	status := http.StatusBadGateway
	switch {
	case strings.HasPrefix(r.Err, "request timeout"):
		status = http.StatusGatewayTimeout
	case r.Err == "function not found":
		status = http.StatusNotFound
	}
	kind.JSONAnswer(out, status, replyError{Err: r.Err, UID: r.UID, Src: r.Src})
}

// oneOfMany is an element of the array answer: dat is the decoded data as JSON when it is
// JSON, else as a string.
type oneOfMany struct {
	Src int64           `json:"src"`
	Dat json.RawMessage `json:"dat,omitempty"`
	Err string          `json:"err,omitempty"`
}

// answerMany answers the array of one element per destination, in dst order (replies from
// twins not in dst follow); 502 when every element is an error.
func answerMany(out *protocol.AnswerBody, rt bundles.ZbusRoute, replies []*Message) {
	used := make([]bool, len(replies))
	var list []oneOfMany
	for _, d := range rt.Dst {
		e := oneOfMany{Src: int64(d), Err: timeoutErr(int64(rt.Exp))}
		for i, r := range replies {
			if !used[i] && r.Src == int64(d) {
				used[i], e = true, element(r)
				break
			}
		}
		list = append(list, e)
	}
	for i, r := range replies {
		if !used[i] {
			list = append(list, element(r))
		}
	}
	status := http.StatusBadGateway
	for _, e := range list {
		if e.Err == "" {
			status = http.StatusOK
		}
	}
	kind.JSONAnswer(out, status, list)
}

func element(r *Message) oneOfMany {
	if r.Err != "" {
		return oneOfMany{Src: r.Src, Err: r.Err}
	}
	body, err := r.Data()
	if err != nil {
		return oneOfMany{Src: r.Src, Err: "the reply's dat is not base64"}
	}
	return oneOfMany{Src: r.Src, Dat: asJSON(body)}
}

// asJSON is body when it is JSON, else body as a JSON string.
func asJSON(body []byte) json.RawMessage {
	if json.Valid(body) {
		return body
	}
	s, _ := json.Marshal(string(body))
	return s
}

// contentType is application/json for JSON data, text/plain for other UTF-8, else
// application/octet-stream: zbus data carries no type.
func contentType(body []byte) string {
	switch {
	case json.Valid(body):
		return "application/json"
	case utf8.Valid(body):
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}
