package gilmour

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/funcatron/funcatron/runner/kind"
)

// httpManifest has one route per case of the HTTP → Gilmour tests, and no node.
const httpManifest = `swagger: "2.0"
basePath: /g
x-funcatron:
  kind: gilmour
  gilmour: {redis: "${props.redis}"}
paths:
  /echo:   {post: {operationId: echo,   x-gilmour: {request: echo, timeout: 2}}}
  /slow:   {post: {operationId: slow,   x-gilmour: {request: slow, timeout: 0.3}}}
  /nobody: {post: {operationId: nobody, x-gilmour: {request: nobody, timeout: 5}}}
  /signal: {post: {operationId: signal, x-gilmour: {signal: user.created}}}
  /report: {post: {operationId: report, x-gilmour: {timeout: 2, composition: {pipe: [{topic: inc}, {parallel: [{topic: inc}, {topic: echo, message: {k: 1}}]}]}}}}
`

// serve calls in.Serve for operation op with body, as the core does.
func serve(in *instance, op string, body string) protocol.AnswerBody {
	var out protocol.AnswerBody
	svc := &protocol.Service{Method: "POST", URI: "/g/" + op, Body: []byte(body)}
	in.Serve(context.Background(), &kind.Call{Svc: svc, Op: op, Path: "/" + op, BasePath: "/g"}, &out)
	return out
}

// answerJSON decodes a proxy-shaped answer.
func answerJSON(t testing.TB, out protocol.AnswerBody) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(out.Body, &m); err != nil {
		t.Fatalf("answer %d %q is not JSON: %v", out.Status, out.Body, err)
	}
	return m
}

func TestRequestOneGroupRepliesOnce(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	in := startBundle(t, r, httpManifest)
	a := &responder{group: "g1", answer: func(d any) (any, int) { return map[string]any{"by": "a", "echo": d}, 200 }}
	b := &responder{group: "g1", answer: func(d any) (any, int) { return map[string]any{"by": "b", "echo": d}, 200 }}
	a.start(t, rdb, "gilmour.request.echo")
	b.start(t, rdb, "gilmour.request.echo")
	const n = 10
	for range n {
		out := serve(in, "echo", `{"a":1}`)
		m := answerJSON(t, out)
		msgs, _ := m["messages"].([]any)
		if out.Status != 200 || m["code"] != 200.0 || m["length"] != 1.0 || len(msgs) != 1 {
			t.Fatalf("answer %d %s", out.Status, out.Body)
		}
		if echo := msgs[0].(map[string]any)["data"].(map[string]any)["echo"]; echo.(map[string]any)["a"] != 1.0 {
			t.Fatalf("data %s", out.Body)
		}
	}
	if got := a.count.Load() + b.count.Load(); got != n {
		t.Errorf("handlers ran %d times for %d requests in one group, want exactly one each", got, n)
	}
}

func TestRequestTwoGroupsFirstReplyWins(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	in := startBundle(t, r, httpManifest)
	g1 := &responder{group: "g1", answer: func(any) (any, int) { return "g1", 200 }}
	g2 := &responder{group: "g2", answer: func(any) (any, int) { return "g2", 200 }, delay: 100 * time.Millisecond}
	g1.start(t, rdb, "gilmour.request.echo")
	g2.start(t, rdb, "gilmour.request.echo")
	out := serve(in, "echo", "hi")
	if out.Status != 200 || !strings.Contains(string(out.Body), `"data":"g1"`) {
		t.Errorf("answer %d %s, want g1's (the first)", out.Status, out.Body)
	}
	testenv.WaitFor(t, 5*time.Second, "both groups ran the request once", func() bool {
		return g1.count.Load() == 1 && g2.count.Load() == 1
	})
}

func TestRequestCodes(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	in := startBundle(t, r, httpManifest)
	code := 0
	raw := ""
	p := &responder{group: "g", raw: func(sender string) string {
		if raw != "" {
			return raw
		}
		b, _ := json.Marshal(peerMsg{Data: "x", Code: code, Sender: "gilmour.response." + sender})
		return string(b)
	}}
	p.start(t, rdb, "gilmour.request.echo")
	for _, tt := range []struct {
		code   int
		raw    string
		status int
	}{
		{200, "", 200}, {500, "", 500}, {404, "", 404}, {499, "", 504}, {700, "", 502}, {0, "", 502}, {150, "", 502},
		{0, "not json at all", 502}, {0, `["a","list"]`, 502},
	} {
		code, raw = tt.code, tt.raw
		out := serve(in, "echo", "x")
		if out.Status != tt.status {
			t.Errorf("response code %d / %q: status %d %s, want %d", tt.code, tt.raw, out.Status, out.Body, tt.status)
		}
	}
}

func TestRequestRubyStyleResponder(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	in := startBundle(t, r, httpManifest)
	(&responder{group: "g", rubySender: true}).start(t, rdb, "gilmour.request.echo")
	if out := serve(in, "echo", `"hello"`); out.Status != 200 || !strings.Contains(string(out.Body), `"data":"hello"`) {
		t.Errorf("answer %d %s", out.Status, out.Body)
	}
}

func TestRequestSlowResponderTimesOut(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	in := startBundle(t, r, httpManifest)
	p := &responder{group: "g", delay: time.Second}
	p.start(t, rdb, "gilmour.request.slow")
	start := time.Now()
	out := serve(in, "slow", "x")
	took := time.Since(start)
	if out.Status != 504 || answerJSON(t, out)["code"] != 499.0 || took < 300*time.Millisecond || took > time.Second {
		t.Errorf("answer %d %s after %s, want 504 with code 499 after the route's 0.3 s", out.Status, out.Body, took)
	}
	testenv.WaitFor(t, 5*time.Second, "the waiter is released", func() bool {
		in.resp.mu.Lock()
		defer in.resp.mu.Unlock()
		return len(in.resp.waiters) == 0
	})
}

func TestRequestNobodySubscribed(t *testing.T) {
	r := testenv.StartRedis(t)
	in := startBundle(t, r, httpManifest)
	start := time.Now()
	out := serve(in, "nobody", "x")
	if out.Status != 503 || time.Since(start) > time.Second || !strings.Contains(string(out.Body), "no active listeners for nobody") {
		t.Errorf("answer %d %s after %s, want 503 at once", out.Status, out.Body, time.Since(start))
	}
}

func TestSignal(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	in := startBundle(t, r, httpManifest)
	if out := serve(in, "signal", `{"id":7}`); out.Status != 202 || string(out.Body) != `{"receivers":0}` {
		t.Errorf("signal without slots: %d %s", out.Status, out.Body)
	}
	ps := rdb.PSubscribe(context.Background(), "gilmour.slot.user.*")
	defer ps.Close()
	ps.Receive(context.Background())
	if out := serve(in, "signal", `{"id":7}`); out.Status != 202 || string(out.Body) != `{"receivers":1}` {
		t.Errorf("signal: %d %s", out.Status, out.Body)
	}
	m, err := ps.ReceiveMessage(context.Background())
	var env peerMsg
	if err != nil || json.Unmarshal([]byte(m.Payload), &env) != nil || env.Code != 200 || env.Sender == "" ||
		m.Channel != "gilmour.slot.user.created" || env.Data.(map[string]any)["id"] != 7.0 {
		t.Errorf("signal message %v %v", m, err)
	}
}

func TestCompositionThroughRedis(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	in := startBundle(t, r, httpManifest)
	inc := &responder{group: "g", answer: func(d any) (any, int) {
		n, _ := d.(float64)
		return n + 1, 200
	}}
	inc.start(t, rdb, "gilmour.request.inc")
	(&responder{group: "g"}).start(t, rdb, "gilmour.request.echo")
	out := serve(in, "report", "1")
	m := answerJSON(t, out)
	if out.Status != 200 || m["code"] != 200.0 || m["length"] != 3.0 {
		t.Fatalf("answer %d %s, want 3 messages", out.Status, out.Body)
	}
	// echo got the pipe's 2 with its message {k: 1}: not a map, so the message alone.
	if !strings.Contains(string(out.Body), `{"data":3,"code":200}`) || !strings.Contains(string(out.Body), `{"data":{"k":1},"code":200}`) {
		t.Errorf("messages %s", out.Body)
	}
}
