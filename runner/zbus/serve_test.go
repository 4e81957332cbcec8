package zbus

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// serving starts twin 1002 serving calc.add, calc.fail, calc.hang, calc.crash with the
// test node, the msgbusd role held by someone else, so the replies stay on
// msgbus.system.reply for the test to read.
func serving(t *testing.T) (*instance, *redis.Client) {
	r := testenv.StartRedis(t)
	c := client(t, r)
	c.Set(context.Background(), keyLease, "another runner", time.Minute)
	cfg := config(r, 1002, map[string]string{"calc.add": "/add", "calc.fail": "/fail", "calc.hang": "/hang", "calc.crash": "/crash", "calc.echo": "/echo"})
	return start(t, fast, cfg, "route-b"), c
}

// command LPUSHes a forwarded request as msgbusd does.
func command(c *redis.Client, cmd, uid, dat string) {
	m := &Message{Ver: 1, UID: uid, Cmd: cmd, Exp: 10, Try: 2, Src: 1001, Dst: []int64{1002}, Ret: queueReply, Now: time.Now().Unix()}
	m.SetData([]byte(dat))
	c.LPush(context.Background(), cmdQueue(cmd), m.Encode())
}

// TestServeGolden: the captured forward of the stand-in msgbusd, served by the node,
// gives the captured reply of the npm application side byte for byte (now aside): same
// fields, same order.
func TestServeGolden(t *testing.T) {
	_, c := serving(t)
	ctx := context.Background()
	cmd, fwd := captured(t, "forward-to-app-calc-add.json")
	c.Do(ctx, cmd[0], cmd[1], withNow(fwd))
	res, err := c.BLPop(ctx, 10*time.Second, queueReply).Result()
	if err != nil {
		t.Fatal(err)
	}
	_, want := captured(t, "app-reply-calc-add.json")
	if g, w := nowField.ReplaceAllString(res[1], `"now":0`), nowField.ReplaceAllString(want, `"now":0`); g != w {
		t.Errorf("reply\n got %s\nwant %s", g, w)
	}
}

// TestServeFailures: a node answering 500, hanging or crashing gives err; commands keep
// flowing meanwhile; bad messages are answered with err.
func TestServeFailures(t *testing.T) {
	_, c := serving(t)
	command(c, "calc.hang", "1002.1", `{}`)
	command(c, "calc.fail", "1002.2", `{}`)
	command(c, "calc.add", "1002.3", `{"a":1,"b":2}`)
	c.LPush(context.Background(), "msgbus.calc.add", `{"ver":1,"uid":"1002.4","cmd":"calc.add","src":1001,"dst":[1002],"ret":"msgbus.system.reply","dat":"%%%"}`)
	c.LPush(context.Background(), "msgbus.calc.add", `{"ver":3,"uid":"1002.5","cmd":"calc.add","src":1001,"dst":[1002],"ret":"msgbus.system.reply","dat":""}`)
	c.LPush(context.Background(), "msgbus.calc.add", `garbage`)
	want := map[string]string{
		"1002.1": "the command did not answer in time",
		"1002.2": "status 500: division by zero",
		"1002.3": "",
		"1002.4": "invalid message: dat is not base64",
		"1002.5": "invalid message: ver is 3, want 1",
	}
	var order []string
	for range want {
		got := blpop(t, c, queueReply, 10*time.Second)
		uid := got["uid"].(string)
		order = append(order, uid)
		if got["err"] != want[uid] || got["src"] != jsonNum(1002) || len(got["dst"].([]any)) != 1 {
			t.Errorf("%s: reply %v, want err %q", uid, got, want[uid])
		}
		if uid == "1002.3" && datOf(t, got) != `{"sum":3}` {
			t.Errorf("calc.add: dat %q", datOf(t, got))
		}
	}
	if order[len(order)-1] != "1002.1" {
		t.Errorf("the hanging command did not come last: %v", order)
	}
}

// TestServeCrash: a node that exits while serving gives err, is restarted, and serves again.
func TestServeCrash(t *testing.T) {
	_, c := serving(t)
	command(c, "calc.crash", "1002.1", `{}`)
	if got := blpop(t, c, queueReply, 10*time.Second); got["err"] != "the command failed to answer" {
		t.Errorf("crash: %v", got)
	}
	command(c, "calc.add", "1002.2", `{"a":1,"b":1}`)
	if got := blpop(t, c, queueReply, 15*time.Second); got["err"] != "" || datOf(t, got) != `{"sum":2}` {
		t.Errorf("after the crash: %v", got)
	}
}

// TestServeConcurrency: at most concurrency commands run on the node at once; the others
// wait on Redis (not taken) until a slot frees.
func TestServeConcurrency(t *testing.T) {
	in, c := serving(t)
	for i := range 12 {
		command(c, "calc.hang", "1002."+string(rune('a'+i)), `{}`)
	}
	testenv.WaitFor(t, 5*time.Second, "8 commands running", func() bool { return len(in.sem) == 8 })
	if n := c.LLen(context.Background(), "msgbus.calc.hang").Val(); n != 4 {
		t.Errorf("%d commands left on the queue while 8 run, want 4", n)
	}
}

func jsonNum(n int) any { return json.Number(strconv.Itoa(n)) }
