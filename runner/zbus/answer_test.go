package zbus

import (
	"testing"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/protocol"
)

// TestAnswerGolden: the replies the npm client accepted (captured) become the HTTP answers
// of spec/bundles.md §6.
func TestAnswerGolden(t *testing.T) {
	reply := func(name string) *Message {
		_, raw := captured(t, name)
		m, err := Decode([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	one := bundles.ZbusRoute{Cmd: "calc.add", Dst: []int{1002}, Exp: 10}
	two := bundles.ZbusRoute{Cmd: "calc.add", Dst: []int{1002, 1003}, Exp: 10}
	tests := []struct {
		name    string
		rt      bundles.ZbusRoute
		replies []*Message
		status  int
		body    string
	}{
		{"sum", one, []*Message{reply("reply-calc-add-accepted.json")}, 200, `{"sum":5}`},
		{"function not found", one, []*Message{reply("reply-function-not-found-accepted.json")}, 404,
			`{"err":"function not found","uid":"1002.2","src":1002}`},
		{"handler error", one, []*Message{reply("reply-calc-fail-accepted.json")}, 502,
			`{"err":"Error: division by zero","uid":"1002.2","src":1002}`},
		{"no reply", one, nil, 504, `{"err":"request timeout (expiration reached, 10 seconds)","uid":"","src":1002}`},
		{"two replies, second first", two, []*Message{reply("reply-two-dst-second-accepted.json"), reply("reply-two-dst-first-accepted.json")}, 200,
			`[{"src":1002,"dat":{"sum":5}},{"src":1003,"dat":{"sum":5}}]`},
		{"one of two", two, []*Message{reply("reply-two-dst-first-accepted.json")}, 200,
			`[{"src":1002,"dat":{"sum":5}},{"src":1003,"err":"request timeout (expiration reached, 10 seconds)"}]`},
		{"two, all errors", two, []*Message{reply("reply-calc-fail-accepted.json")}, 502,
			`[{"src":1002,"err":"Error: division by zero"},{"src":1003,"err":"request timeout (expiration reached, 10 seconds)"}]`},
	}
	for _, tt := range tests {
		out := &protocol.AnswerBody{}
		answerReplies(out, tt.rt, tt.replies)
		if out.Status != tt.status || string(out.Body) != tt.body {
			t.Errorf("%s: %d %s\nwant %d %s", tt.name, out.Status, out.Body, tt.status, tt.body)
		}
	}
}
