package zbus

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/funcatron/funcatron/internal/wait"
	"github.com/google/uuid"
)

func header(out *protocol.AnswerBody, name string) string {
	for _, h := range out.Headers {
		if h[0] == name {
			return h[1]
		}
	}
	return ""
}

// TestCallOneReply: an operation with x-zbus answers 200 with the reply's decoded dat, or
// {"err","uid","src"} with the status its err calls for.
func TestCallOneReply(t *testing.T) {
	r := testenv.StartRedis(t)
	cfg := config(r, 1001, nil)
	cfg.Routes["add"] = bundles.ZbusRoute{Cmd: "calc.add", Dst: []int{1001}, Exp: 5, Try: 1}
	cfg.Routes["nope"] = bundles.ZbusRoute{Cmd: "calc.nope", Dst: []int{1001}, Exp: 5}
	cfg.Routes["fail"] = bundles.ZbusRoute{Cmd: "calc.fail", Dst: []int{1001}, Exp: 5}
	cfg.Routes["silent"] = bundles.ZbusRoute{Cmd: "calc.silent", Dst: []int{1001}, Exp: 1}
	in := start(t, fast, cfg, "route-a")
	waitHolder(t, in)
	startPeer(t, r, "calc.add", false, add)
	startPeer(t, r, "calc.nope", false, func(string) (string, error) { return "", errors.New("function not found") })
	startPeer(t, r, "calc.fail", false, func(string) (string, error) { return "", errors.New("Error: division by zero") })

	out := call(in, "add", `{"a":2,"b":3}`)
	if out.Status != 200 || string(out.Body) != `{"sum":5}` || header(out, "Content-Type") != "application/json" {
		t.Errorf("add: %d %s %v", out.Status, out.Body, out.Headers)
	}
	for op, want := range map[string]struct {
		status int
		err    string
	}{
		"nope":   {404, "function not found"},
		"fail":   {502, "Error: division by zero"},
		"silent": {504, "request timeout (expiration reached, 1 seconds)"},
	} {
		start := time.Now()
		out := call(in, op, `{}`)
		var body replyError
		if err := json.Unmarshal(out.Body, &body); err != nil || out.Status != want.status || body.Err != want.err || body.Src != 1001 {
			t.Errorf("%s: %d %s", op, out.Status, out.Body)
		}
		if op == "silent" && time.Since(start) > 2*time.Second {
			t.Errorf("silent: answered after %s, exp is 1 s", time.Since(start))
		}
	}
	if out := call(in, "other", `{}`); out.Status != 404 {
		t.Errorf("operation without x-zbus: %d %s", out.Status, out.Body)
	}
}

// TestCallSeveralReplies: several destinations answer a JSON array in dst order; 502 when
// every element is an error.
func TestCallSeveralReplies(t *testing.T) {
	r := testenv.StartRedis(t)
	cfg := config(r, 1001, nil)
	cfg.Routes["mixed"] = bundles.ZbusRoute{Cmd: "calc.add", Dst: []int{1005, 1001}, Exp: 5}
	cfg.Routes["none"] = bundles.ZbusRoute{Cmd: "calc.add", Dst: []int{1005, 1006}, Exp: 5}
	in := start(t, fast, cfg, "route-a")
	waitHolder(t, in)
	startPeer(t, r, "calc.add", false, add)
	out := call(in, "mixed", `{"a":1,"b":2}`)
	want := `[{"src":1005,"err":"destination not found"},{"src":1001,"dat":{"sum":3}}]`
	if out.Status != 200 || string(out.Body) != want {
		t.Errorf("mixed: %d %s, want 200 %s", out.Status, out.Body, want)
	}
	out = call(in, "none", `{}`)
	want = `[{"src":1005,"err":"destination not found"},{"src":1006,"err":"destination not found"}]`
	if out.Status != 502 || string(out.Body) != want {
		t.Errorf("none: %d %s, want 502 %s", out.Status, out.Body, want)
	}
}

// TestCallRedisDown: a call while Redis is unreachable gets 503 at once.
func TestCallRedisDown(t *testing.T) {
	r := testenv.StartRedis(t)
	cfg := config(r, 1001, nil)
	cfg.Routes["add"] = bundles.ZbusRoute{Cmd: "calc.add", Dst: []int{1001}, Exp: 30}
	in := start(t, fast, cfg, "route-a")
	r.Close()
	start := time.Now()
	if out := call(in, "add", `{}`); out.Status != 503 {
		t.Errorf("Redis down: %d %s", out.Status, out.Body)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("answered after %s", d)
	}
}

// TestCallWaitsExp: a call with exp 1 waits a whole second from when it is made, so a
// reply that comes 0.5 s later is answered. The call is made late in a second (past
// .55): a wait measured from the message's now (whole seconds) would end before the reply.
func TestCallWaitsExp(t *testing.T) {
	r := testenv.StartRedis(t)
	cfg := config(r, 1001, nil)
	cfg.Routes["slow"] = bundles.ZbusRoute{Cmd: "calc.slow", Dst: []int{1001}, Exp: 1}
	in := start(t, fast, cfg, "route-a")
	waitHolder(t, in)
	const delay = 500 * time.Millisecond
	startPeer(t, r, "calc.slow", false, func(dat string) (string, error) {
		wait.Pause(context.Background(), delay) // the peer answers late, on purpose
		return add(dat)
	})
	testenv.WaitFor(t, 2*time.Second, "the clock past .55 of a second", func() bool {
		ns := time.Now().Nanosecond()
		return ns >= 550e6 && ns < 800e6
	})
	start := time.Now()
	out := call(in, "slow", `{"a":1,"b":2}`)
	if out.Status != 200 || string(out.Body) != `{"sum":3}` {
		t.Errorf("a reply %s after the call, exp 1: %d %s (after %s)", delay, out.Status, out.Body, time.Since(start))
	}
}

// TestCallMessage: an HTTP call pushes the seed's client message to msgbus.system.local:
// the twelve fields in msgbusd's order, ver 1, uid "" and src 0 (filled by the server),
// ret a new uuid4, now the current time, dat the base64 of the body, cmd, dst, exp and try
// from the route; the replies pushed to ret are the answer. The role's lease is held by
// another (absent) msgbusd, so the test pops the list itself.
func TestCallMessage(t *testing.T) {
	r := testenv.StartRedis(t)
	c := client(t, r)
	ctx := context.Background()
	if err := c.Set(ctx, keyLease, "another-msgbusd", 0).Err(); err != nil {
		t.Fatal(err)
	}
	cfg := config(r, 1001, nil)
	cfg.Routes["add"] = bundles.ZbusRoute{Cmd: "calc.add", Dst: []int{1002, 1005}, Exp: 7, Try: 3}
	in := start(t, fast, cfg, "route-a")
	answered := make(chan *protocol.AnswerBody, 1)
	go func() { answered <- call(in, "add", `{"a":1,"b":2}`) }()

	res, err := c.BLPop(ctx, 5*time.Second, queueLocal).Result()
	if err != nil {
		t.Fatalf("nothing on %s: %v", queueLocal, err)
	}
	raw := res[1]
	got := decodeMap(t, raw)
	ret, _ := got["ret"].(string)
	if u, err := uuid.Parse(ret); err != nil || u.Version() != 4 || u.String() != ret {
		t.Errorf("ret %q is not a uuid4", ret)
	}
	now, _ := got["now"].(json.Number).Int64()
	if d := time.Now().Unix() - now; d < 0 || d > 2 {
		t.Errorf("now %d is %d s from the clock", now, d)
	}
	want := `{"ver":1,"uid":"","cmd":"calc.add","exp":7,"try":3,"dat":"eyJhIjoxLCJiIjoyfQ==","src":0,` +
		`"dst":[1002,1005],"ret":"RET","shm":"","now":0,"err":""}`
	if g := strings.Replace(nowField.ReplaceAllString(raw, `"now":0`), ret, "RET", 1); g != want {
		t.Errorf("pushed\n got %s\nwant %s", g, want)
	}
	if in.holder.Load() {
		t.Error("the instance holds the role though another msgbusd has the lease")
	}

	for _, src := range []int{1005, 1002} {
		reply, _ := Decode([]byte(raw))
		reply.Src, reply.Dst, reply.UID = int64(src), []int64{1001}, strconv.Itoa(src)+".1"
		reply.SetData([]byte(`{"from":` + strconv.Itoa(src) + `}`))
		c.LPush(ctx, ret, reply.Encode())
	}
	select {
	case out := <-answered:
		if want := `[{"src":1002,"dat":{"from":1002}},{"src":1005,"dat":{"from":1005}}]`; out.Status != 200 || string(out.Body) != want {
			t.Errorf("answer %d %s, want 200 %s", out.Status, out.Body, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not answer")
	}
}
