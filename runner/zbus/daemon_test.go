package zbus

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/google/uuid"
)

// TestLocalRoundTrip: a client written from the seed pushes a request for this twin (with
// RPUSH as the seed says, and LPUSH as the npm client does), the role delivers it to
// msgbus.calc.add, a peer application answers, and the reply reaches ret with the
// request's uid "<dst>.<counter>" and src, the backlog emptied.
func TestLocalRoundTrip(t *testing.T) {
	r := testenv.StartRedis(t)
	c := client(t, r)
	in := start(t, fast, config(r, 1002, nil), "route-a")
	waitHolder(t, in)
	p := startPeer(t, r, "calc.add", false, add)
	for i, push := range []string{"RPUSH", "LPUSH"} {
		ret := uuid.NewString()
		c.Do(context.Background(), push, queueLocal, seedRequest("calc.add", []int{1002}, 10, `{"a":2,"b":3}`, ret))
		got := blpop(t, c, ret, 5*time.Second)
		if datOf(t, got) != `{"sum":5}` || got["err"] != "" || got["ret"] != ret {
			t.Errorf("%s: reply %v", push, got)
		}
		if want := "1002." + string(rune('1'+i)); got["uid"] != want {
			t.Errorf("%s: uid %v, want %s", push, got["uid"], want)
		}
		fwd := <-p.served
		if fwd["ret"] != queueReply || fwd["src"] != float64(1002) {
			t.Errorf("%s: the application got %v", push, fwd)
		}
	}
	if n := c.HLen(context.Background(), keyBacklog).Val(); n != 0 {
		t.Errorf("backlog holds %d entries after the replies", n)
	}
}

// TestGoldenNpmClient: the captured request of the npm client (LPUSH, key order of its
// own, sig and pxy) goes to the application as msgbusd forwards it (the captured forward,
// plus the client's extra fields, every field kept in order); the captured reply of the
// npm application side reaches the caller as the captured accepted reply.
func TestGoldenNpmClient(t *testing.T) {
	r := testenv.StartRedis(t)
	c := client(t, r)
	in := start(t, fast, config(r, 1002, nil), "route-a")
	waitHolder(t, in)
	ctx := context.Background()
	cmd, req := captured(t, "request-calc-add.json")
	c.Do(ctx, cmd[0], cmd[1], withNow(req))

	res, err := c.BRPop(ctx, 5*time.Second, "msgbus.calc.add").Result()
	if err != nil {
		t.Fatalf("nothing on msgbus.calc.add: %v", err)
	}
	_, fwd := captured(t, "forward-to-app-calc-add.json")
	// The stand-in of the capture was twin 1001 delivering to 1002 locally; here 1002 is
	// this twin. Ours keeps the client's key order and its sig and pxy.
	want := `{"ver":1,"uid":"1002.1","cmd":"calc.add","exp":10,"dat":"eyJhIjoyLCJiIjozfQ==","src":1002,"dst":[1002],"ret":"msgbus.system.reply","try":2,"shm":"","now":0,"err":"","sig":"","pxy":false}`
	if got := nowField.ReplaceAllString(res[1], `"now":0`); got != want {
		t.Errorf("forwarded\n got %s\nwant %s", got, want)
	}
	if g, w := decodeMap(t, res[1]), decodeMap(t, fwd); g["dat"] != w["dat"] || g["uid"] != w["uid"] || g["ret"] != w["ret"] {
		t.Errorf("forwarded %v, captured %v", g, w)
	}

	cmd, reply := captured(t, "app-reply-calc-add.json")
	reply = strings.Replace(withNow(reply), `"dst":[1001]`, `"dst":[1002]`, 1)
	c.Do(ctx, cmd[0], cmd[1], reply)
	_, accepted := captured(t, "reply-calc-add-accepted.json")
	ret := decodeMap(t, accepted)["ret"].(string)
	got, err := c.BLPop(ctx, 5*time.Second, ret).Result()
	if err != nil {
		t.Fatalf("no reply on ret: %v", err)
	}
	wantReply := strings.Replace(nowField.ReplaceAllString(accepted, `"now":0`), `"dst":[1001]`, `"dst":[1002]`, 1)
	if g := nowField.ReplaceAllString(got[1], `"now":0`); g != wantReply {
		t.Errorf("reply\n got %s\nwant %s", g, wantReply)
	}
}

// TestGoldenNpmFailure: the npm application's error reply (dat "", err "Error: division
// by zero") reaches the caller unchanged but for ret.
func TestGoldenNpmFailure(t *testing.T) {
	r := testenv.StartRedis(t)
	c := client(t, r)
	in := start(t, fast, config(r, 1002, nil), "route-a")
	waitHolder(t, in)
	ctx := context.Background()
	ret := uuid.NewString()
	c.RPush(ctx, queueLocal, seedRequest("calc.fail", []int{1002}, 10, `{}`, ret))
	if _, err := c.BRPop(ctx, 5*time.Second, "msgbus.calc.fail").Result(); err != nil {
		t.Fatal(err)
	}
	cmd, reply := captured(t, "app-reply-calc-fail.json")
	reply = strings.Replace(strings.Replace(withNow(reply), `"dst":[1001]`, `"dst":[1002]`, 1), `"uid":"1002.2"`, `"uid":"1002.1"`, 1)
	c.Do(ctx, cmd[0], cmd[1], reply)
	got := blpop(t, c, ret, 5*time.Second)
	if got["err"] != "Error: division by zero" || got["dat"] != "" || got["ret"] != ret {
		t.Errorf("reply %v", got)
	}
}

// TestBLPOPApplication: an application that pops with BLPOP (as the npm one) is served too.
func TestBLPOPApplication(t *testing.T) {
	r := testenv.StartRedis(t)
	c := client(t, r)
	in := start(t, fast, config(r, 1002, nil), "route-a")
	waitHolder(t, in)
	startPeer(t, r, "calc.add", true, add)
	ret := uuid.NewString()
	c.RPush(context.Background(), queueLocal, seedRequest("calc.add", []int{1002}, 10, `{"a":1,"b":1}`, ret))
	if got := blpop(t, c, ret, 5*time.Second); datOf(t, got) != `{"sum":2}` {
		t.Errorf("reply %v", got)
	}
}

// TestDestinationNotFound: without a directory, a remote twin gets the seed's err at once.
func TestDestinationNotFound(t *testing.T) {
	r := testenv.StartRedis(t)
	c := client(t, r)
	in := start(t, fast, config(r, 1001, nil), "route-a")
	waitHolder(t, in)
	ret := uuid.NewString()
	c.RPush(context.Background(), queueLocal, seedRequest("calc.add", []int{1009}, 60, `{}`, ret))
	got := blpop(t, c, ret, 3*time.Second)
	if got["err"] != errDestination || got["src"] != json.Number("1009") {
		t.Errorf("reply %v", got)
	}
}

// TestExpiration: a request nobody answers gets msgbusd's timeout err once exp passes,
// and leaves the backlog.
func TestExpiration(t *testing.T) {
	r := testenv.StartRedis(t)
	c := client(t, r)
	in := start(t, fast, config(r, 1001, nil), "route-a")
	waitHolder(t, in)
	ret := uuid.NewString()
	sent := time.Now()
	c.RPush(context.Background(), queueLocal, seedRequest("calc.silent", []int{1001}, 1, `{}`, ret))
	got := blpop(t, c, ret, 5*time.Second)
	if got["err"] != "request timeout (expiration reached, 1 seconds)" || got["uid"] != "1001.1" {
		t.Errorf("reply %v", got)
	}
	if d := time.Since(sent); d > 3*time.Second {
		t.Errorf("the timeout came after %s", d)
	}
	if n := c.HLen(context.Background(), keyBacklog).Val(); n != 0 {
		t.Errorf("backlog holds %d entries", n)
	}
}

// TestInvalidRequests: bad requests are answered with err on their ret (or dropped when
// they have none), and the queue keeps flowing.
func TestInvalidRequests(t *testing.T) {
	r := testenv.StartRedis(t)
	c := client(t, r)
	in := start(t, fast, config(r, 1002, nil), "route-a")
	waitHolder(t, in)
	startPeer(t, r, "calc.add", false, add)
	ctx := context.Background()
	bad := map[string]string{
		"wrong ver":      `{"ver":2,"cmd":"calc.add","dst":[1002],"ret":"RET","dat":""}`,
		"missing cmd":    `{"ver":1,"dst":[1002],"ret":"RET","dat":""}`,
		"missing dst":    `{"ver":1,"cmd":"calc.add","ret":"RET","dat":""}`,
		"dat not base64": `{"ver":1,"cmd":"calc.add","dst":[1002],"ret":"RET","dat":"!!"}`,
		"dst a string":   `{"ver":1,"cmd":"calc.add","dst":"1002","ret":"RET","dat":""}`,
		"dst a number":   `{"ver":1,"cmd":"calc.add","dst":1002,"ret":"RET","dat":""}`,
		"dst not ids":    `{"ver":1,"cmd":"calc.add","dst":[-1],"ret":"RET","dat":""}`,
		"ret a queue":    `{"ver":1,"cmd":"calc.add","dst":[1002],"ret":"msgbus.system.local","dat":""}`,
	}
	for name, raw := range bad {
		ret := uuid.NewString()
		c.RPush(ctx, queueLocal, strings.Replace(raw, "RET", ret, 1))
		if name == "ret a queue" {
			continue
		}
		got := blpop(t, c, ret, 3*time.Second)
		if e, _ := got["err"].(string); !strings.HasPrefix(e, "invalid message: ") {
			t.Errorf("%s: reply %v", name, got)
		}
	}
	c.RPush(ctx, queueLocal, `not json`, `{"ver":1,"cmd":"calc.add","dst":[1002]}`, `[1,2]`, strings.Repeat("x", 5<<20))
	ret := uuid.NewString()
	c.RPush(ctx, queueLocal, seedRequest("calc.add", []int{1002}, 10, `{"a":2,"b":2}`, ret))
	if got := blpop(t, c, ret, 5*time.Second); datOf(t, got) != `{"sum":4}` {
		t.Errorf("after bad input, reply %v", got)
	}
	if n := c.LLen(ctx, queueLocal).Val(); n != 0 {
		t.Errorf("msgbus.system.local holds %d messages", n)
	}
}

// TestReplyFromTheWrongTwin: a reply whose src is not the twin the request went to is
// dropped: the caller gets the timeout, not the forged data.
func TestReplyFromTheWrongTwin(t *testing.T) {
	r := testenv.StartRedis(t)
	c := client(t, r)
	in := start(t, fast, config(r, 1002, nil), "route-a")
	waitHolder(t, in)
	ctx := context.Background()
	ret := uuid.NewString()
	c.RPush(ctx, queueLocal, seedRequest("calc.add", []int{1002}, 1, `{"a":1,"b":1}`, ret))
	res, err := c.BRPop(ctx, 5*time.Second, "msgbus.calc.add").Result()
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := Decode([]byte(res[1]))
	forged.Src, forged.Dst = 9999, []int64{1002}
	forged.SetData([]byte(`{"sum":1000}`))
	c.LPush(ctx, queueReply, forged.Encode())
	if got := blpop(t, c, ret, 5*time.Second); got["err"] != "request timeout (expiration reached, 1 seconds)" {
		t.Errorf("reply %v", got)
	}
}

// TestInternalQueuesGarbage: garbage and wrongly typed messages on msgbusd's internal
// queues (msgbus.system.remote, msgbus.system.reply: anyone with the Redis can push
// there) are dropped without crashing or stalling the loop: both queues drain, and a
// good request afterwards is answered; the taken lists are left empty (a dropped message
// is not handled again at the next takeover). A remote request whose cmd names one of msgbusd's
// own queues is dropped too: delivered on msgbus.<cmd> it would land on msgbusd's queue
// again (system.remote: for ever, starving the replies).
func TestInternalQueuesGarbage(t *testing.T) {
	r := testenv.StartRedis(t)
	c := client(t, r)
	in := start(t, fast, config(r, 1002, nil), "route-a")
	waitHolder(t, in)
	startPeer(t, r, "calc.add", false, add)
	ctx := context.Background()
	garbage := []string{
		`not json`, `{"ver":`, `[1,2]`, `null`, `"text"`, `42`, `{}`, `{"ver":1}{"ver":1}`, strings.Repeat("x", 5<<20),
		`{"ver":"1","uid":"1002.1","cmd":"calc.add","src":1002,"dst":[1002],"ret":"r"}`,
		`{"ver":1,"uid":7,"cmd":"calc.add","src":1002,"dst":[1002],"ret":"r"}`,
		`{"ver":1,"uid":"1002.1","cmd":"calc.add","src":1002,"dst":"1002","ret":"r"}`,
		`{"ver":1,"uid":"1002.1","cmd":"calc.add","src":1002,"dst":1002,"ret":"r"}`,
		`{"ver":1,"uid":"1002.1","cmd":"calc.add","src":{},"dst":[1002],"ret":"r"}`,
		`{"ver":1,"uid":"1002.1","cmd":"calc.add","src":1002,"dst":[1.5],"ret":"r"}`,
		`{"ver":1,"uid":"1002.1","cmd":"calc.add","src":1002,"dst":[1e30],"ret":"r"}`,
		`{"ver":1,"uid":"1002.1","cmd":"calc.add","src":1002,"dst":[-5],"ret":"r"}`,
		`{"ver":1,"uid":"1002.1","cmd":"calc.add","src":1002,"dst":[1002],"ret":"r","err":[1]}`,
		`{"ver":1,"uid":"1002.1","cmd":["calc.add"],"src":1002,"dst":[1002],"ret":"r"}`,
		`{"ver":1,"uid":"1002.1","cmd":"calc.add","src":1002,"dst":[1002],"ret":"r","dat":"!!"}`,
		`{"ver":1,"uid":"1002.1","cmd":"calc.add","src":1002,"dst":[1002],"ret":"msgbus.system.local","pxy":true}`,
		`{"ver":1,"uid":"1001.1","cmd":"calc.add","src":1002,"dst":[1001],"ret":"r"}`,
		`{"ver":1,"uid":"1002.1","cmd":"system.remote","src":1001,"dst":[1002],"ret":"msgbus.system.reply","dat":""}`,
		`{"ver":1,"uid":"1002.1","cmd":"system.local","src":1001,"dst":[1002],"ret":"msgbus.system.reply","dat":""}`,
		`{"ver":1,"uid":"1002.1","cmd":"system","src":1001,"dst":[1002],"ret":"msgbus.system.reply","dat":""}`,
	}
	for _, q := range []string{queueRemote, queueReply} {
		for _, g := range garbage {
			c.RPush(ctx, q, g)
		}
	}
	testenv.WaitFor(t, 10*time.Second, "the internal queues drained", func() bool {
		return c.LLen(ctx, queueRemote).Val() == 0 && c.LLen(ctx, queueReply).Val() == 0 && c.LLen(ctx, queueLocal).Val() == 0
	})
	ret := uuid.NewString()
	c.RPush(ctx, queueLocal, seedRequest("calc.add", []int{1002}, 10, `{"a":3,"b":4}`, ret))
	if got := blpop(t, c, ret, 5*time.Second); datOf(t, got) != `{"sum":7}` || got["err"] != "" {
		t.Errorf("after the garbage, reply %v", got)
	}
	for _, q := range []string{"msgbus.system", queueLocal, queueRemote, queueReply} {
		if n := c.LLen(ctx, q).Val(); n != 0 {
			t.Errorf("%s holds %d messages", q, n)
		}
	}
	testenv.WaitFor(t, 5*time.Second, "the taken lists empty", func() bool { return takenEmpty(c) })
}
