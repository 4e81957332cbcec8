package gilmour

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
)

// Golden tests: real messages of the Go library (testdata/captured, copied from the
// research captures; README.md there says how they were recorded).

// captured is one captured file.
type captured struct {
	Command  []string   `json:"-"`
	Commands [][]string `json:"-"`
	Payload  json.RawMessage
}

func loadCaptured(t testing.TB, name string) captured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "captured", name))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		RedisCommand  struct{ Command []string }   `json:"redis_command"`
		RedisCommands []struct{ Command []string } `json:"redis_commands"`
		Payload       json.RawMessage              `json:"payload"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	c := captured{Command: raw.RedisCommand.Command, Payload: raw.Payload}
	for _, rc := range raw.RedisCommands {
		c.Commands = append(c.Commands, rc.Command)
	}
	return c
}

// shape is an envelope's key order and its sender's form, values aside.
func shape(t testing.TB, payload string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(payload))
	var keys []string
	tok, _ := dec.Token()
	if tok != json.Delim('{') {
		t.Fatalf("%q is not an object", payload)
	}
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var v json.RawMessage
		dec.Decode(&v)
	}
	var env envelope
	json.Unmarshal([]byte(payload), &env)
	form := "bare"
	if strings.HasPrefix(env.Sender, responsePrefix) {
		form = "response-channel"
	}
	return strings.Join(keys, ",") + " sender=" + form
}

func TestGoldenDecode(t *testing.T) {
	for _, name := range []string{"request-echo.json", "health-ping-request.json", "signal-events-created.json"} {
		c := loadCaptured(t, name)
		env, ok := parseEnvelope(c.Command[2])
		var want envelope
		json.Unmarshal(c.Payload, &want)
		if !ok || env.Code != 200 || env.Sender != want.Sender || !jsonEqual(env.Data, want.Data) {
			t.Errorf("%s: decoded %+v, want %+v", name, env, want)
		}
	}
	for _, name := range []string{"response-echo.json", "response-499-handler-timeout.json", "response-499-requester-timeout.json", "response-500-handler-panic.json", "health-ping-response.json"} {
		c := loadCaptured(t, name)
		r, err := decodeResponse(c.Command[2])
		var want envelope
		json.Unmarshal(c.Payload, &want)
		if err != nil || r.Code != want.Code || !jsonEqual(r.Data, want.Data) {
			t.Errorf("%s: decoded %+v %v", name, r, err)
		}
		if got := httpStatus(r.Code); (want.Code == 499 && got != 504) || (want.Code != 499 && got != want.Code) {
			t.Errorf("%s: status %d", name, got)
		}
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	json.Unmarshal(a, &x)
	json.Unmarshal(b, &y)
	return reflect.DeepEqual(x, y)
}

// monitor records every command Redis runs (MONITOR on a connection of its own) until the
// returned stop, which first waits for a sentinel command to come through.
func monitor(t testing.TB, r *servers.Redis) func() []string {
	t.Helper()
	c, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var mu sync.Mutex
	var lines []string
	fmt.Fprint(c, "MONITOR\r\n")
	rd := bufio.NewReader(c)
	if l, _ := rd.ReadString('\n'); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("MONITOR: %q", l)
	}
	go func() {
		for {
			l, err := rd.ReadString('\n')
			if err != nil {
				return
			}
			mu.Lock()
			lines = append(lines, l)
			mu.Unlock()
		}
	}()
	return func() []string {
		client(t, r).Echo(context.Background(), "monitor-sentinel")
		testenv.WaitFor(t, 5*time.Second, "the sentinel in MONITOR", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(lines) > 0 && strings.Contains(strings.Join(lines, ""), "monitor-sentinel")
		})
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), lines...)
	}
}

// monitorArgs is the quoted arguments of a MONITOR line.
var monitorArgs = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)

func commandsOf(lines []string, name string) [][]string {
	var out [][]string
	for _, l := range lines {
		var args []string
		for _, m := range monitorArgs.FindAllStringSubmatch(l, -1) {
			args = append(args, m[1])
		}
		if len(args) > 0 && strings.EqualFold(args[0], name) {
			out = append(out, args)
		}
	}
	return out
}

// TestGoldenNodeSide feeds the captured Go requests (one answered, one slower than its
// service's timeout) and health ping to our node and checks that what we publish and the
// lock we take have the Go library's exact form, and that Stop removes the health ident
// with the Go library's command.
func TestGoldenNodeSide(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	stop := monitor(t, r)
	in := startNode(t, r, t.TempDir(), "B")

	req := loadCaptured(t, "request-echo.json")
	var reqEnv peerMsg
	json.Unmarshal(req.Payload, &reqEnv)
	got, payload, ok := requestRaw(t, rdb, req.Command[1], req.Command[2], reqEnv.Sender)
	want := loadCaptured(t, "response-echo.json")
	if !ok || got.Code != 200 || shape(t, payload) != shape(t, want.Command[2]) {
		t.Errorf("response %s\nshape %s, want %s", payload, shape(t, payload), shape(t, want.Command[2]))
	}

	ping := loadCaptured(t, "health-ping-request.json")
	var pingEnv peerMsg
	json.Unmarshal(ping.Payload, &pingEnv)
	_, payload, ok = requestRaw(t, rdb, "gilmour.health."+in.ident, ping.Command[2], pingEnv.Sender)
	wantPing := loadCaptured(t, "health-ping-response.json")
	if !ok || shape(t, payload) != shape(t, wantPing.Command[2]) || !strings.Contains(payload, `"gilmour.request.echo"`) {
		t.Errorf("health answer %s", payload)
	}

	// A handler slower than its timeout (the test node's /slow, 0.3 s): the same bytes,
	// on the same channel, as the Go responder's 499 for the captured request.
	slow := loadCaptured(t, "request-slow.json")
	var slowEnv peerMsg
	json.Unmarshal(slow.Payload, &slowEnv)
	_, payload, ok = requestRaw(t, rdb, slow.Command[1], slow.Command[2], slowEnv.Sender)
	want499 := loadCaptured(t, "response-499-handler-timeout.json").Command
	if !ok || payload != want499[2] || want499[1] != responsePrefix+slowEnv.Sender {
		t.Errorf("timeout response %s\nwant         %s", payload, want499[2])
	}

	in.Stop(context.Background())
	lines := stop()
	unregister := loadCaptured(t, "health-unregister.json").Command
	unregister[2] = in.ident
	if got := commandsOf(lines, "HDEL"); len(got) != 1 || !containsCommand(got, unregister) {
		t.Errorf("HDEL commands %v, want %v once", got, unregister)
	}
	sets := commandsOf(lines, "SET")
	wantLock := loadCaptured(t, "exclusion-lock-echo.json").Commands[0]
	wantPingLock := loadCaptured(t, "health-ping-lock.json").Command
	if !containsCommand(sets, wantLock) || !containsCommand(sets, wantPingLock) {
		t.Errorf("SET commands %v, want %v and %v", sets, wantLock, wantPingLock)
	}
	hset := loadCaptured(t, "health-register.json").Command
	hset[2] = in.ident
	if !containsCommand(commandsOf(lines, "HSET"), hset) {
		t.Errorf("HSET commands %v, want %v", commandsOf(lines, "HSET"), hset)
	}
	// The Go library unsubscribes before its HDEL; ours closes the pub/sub connection.
	for _, ch := range []string{slow.Command[1], "gilmour.health." + in.ident} {
		testenv.WaitFor(t, 5*time.Second, ch+" unsubscribed after Stop", func() bool { return numsub(rdb, ch) == 0 })
	}
}

func containsCommand(cmds [][]string, want []string) bool {
	for _, c := range cmds {
		if strings.EqualFold(strings.Join(c, " "), strings.Join(want, " ")) {
			return true
		}
	}
	return false
}

// requestRaw publishes payload (as captured) on channel and waits for the response to
// sender.
func requestRaw(t testing.TB, rdb *redis.Client, channel, payload, sender string) (peerMsg, string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ps := rdb.Subscribe(ctx, responsePrefix+sender)
	defer ps.Close()
	ps.Receive(ctx)
	rdb.Publish(ctx, channel, payload)
	m, err := ps.ReceiveMessage(ctx)
	if err != nil {
		return peerMsg{}, "", false
	}
	var got peerMsg
	json.Unmarshal([]byte(m.Payload), &got)
	return got, m.Payload, true
}

// uuidRe matches a fresh sender (a version 4 UUID).
var uuidRe = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`)

// TestGoldenPublishSide checks that our requests and signals have the Go library's shape.
func TestGoldenPublishSide(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	in := startBundle(t, r, httpManifest)
	ps := rdb.PSubscribe(context.Background(), "gilmour.request.*", "gilmour.slot.*")
	defer ps.Close()
	ps.Receive(context.Background())
	ps.Receive(context.Background())
	(&responder{group: "g"}).start(t, rdb, "gilmour.request.echo")
	serve(in, "echo", `{"a":1,"msg":"hello"}`)
	serve(in, "signal", `{"id":7}`)
	for _, name := range []string{"request-echo.json", "signal-events-created.json"} {
		m, err := ps.ReceiveMessage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := loadCaptured(t, name).Command[2]
		// Same bytes once the fresh sender is replaced (and the signal's topic data).
		if uuidRe.ReplaceAllString(m.Payload, "U") != uuidRe.ReplaceAllString(want, "U") {
			t.Errorf("published %s\nwant like %s", m.Payload, want)
		}
	}
}

// TestGoldenRequestSequence: a request of ours runs the requester's commands of the
// captured round trip, in its order (PUBSUB NUMSUB, SUBSCRIBE, PUBLISH, UNSUBSCRIBE), except
// that we wait for the SUBSCRIBE's confirmation before publishing.
func TestGoldenRequestSequence(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	in := startBundle(t, r, httpManifest)
	(&responder{group: "g"}).start(t, rdb, "gilmour.request.echo")
	stop := monitor(t, r)
	serve(in, "echo", "1")
	var want []string
	for _, c := range loadCaptured(t, "sequence-echo-round-trip.json").Commands {
		if requesterCommand(c) {
			want = append(want, strings.ToUpper(c[0])+" "+channelKind(c))
		}
	}
	testenv.WaitFor(t, 5*time.Second, "the UNSUBSCRIBE", func() bool {
		got := sequenceOf(stop())
		return got == strings.Join(want, ", ")
	})
}

// requesterCommand: the commands of the requester's part of a round trip.
func requesterCommand(c []string) bool {
	switch strings.ToUpper(c[0]) {
	case "PUBSUB", "SUBSCRIBE", "UNSUBSCRIBE":
		return true
	case "PUBLISH":
		return strings.HasPrefix(c[1], requestPrefix)
	}
	return false
}

// channelKind is the kind of channel a command names (request or response).
func channelKind(c []string) string {
	ch := c[len(c)-1]
	if strings.ToUpper(c[0]) == "PUBLISH" {
		ch = c[1]
	}
	if strings.HasPrefix(ch, responsePrefix) {
		return "response"
	}
	return "request"
}

func sequenceOf(lines []string) string {
	var got []string
	for _, l := range lines {
		var c []string
		for _, m := range monitorArgs.FindAllStringSubmatch(l, -1) {
			c = append(c, m[1])
		}
		if len(c) > 1 && requesterCommand(c) {
			got = append(got, strings.ToUpper(c[0])+" "+channelKind(c))
		}
	}
	return strings.Join(got, ", ")
}

// TestGoldenRequesterTimeout: a request of ours that nobody answers in time is published
// as the Go requester publishes request-slow2.json, and ends as the Go requester's does
// (response-499-requester-timeout.json: data "Execution timed out", code 499), here in
// the proxy shape with status 504. Unlike the Go requester, ours publishes no 499 on its
// own response channel: the timeout is local. Like it, ours leaves the response channel,
// so the handler's late result (response-late-after-requester-timeout.json) reaches
// nobody.
func TestGoldenRequesterTimeout(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	in := startBundle(t, r, httpManifest)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	silent := rdb.Subscribe(ctx, "gilmour.request.slow") // takes the request, never answers
	defer silent.Close()
	silent.Receive(ctx)
	stop := monitor(t, r)

	out := serve(in, "slow", "x")
	var want499 envelope
	json.Unmarshal(loadCaptured(t, "response-499-requester-timeout.json").Payload, &want499)
	wantBody := fmt.Sprintf(`{"messages":[{"data":%s,"code":%d}],"code":%[2]d,"length":1}`, want499.Data, want499.Code)
	if out.Status != 504 || string(out.Body) != wantBody {
		t.Errorf("answer %d %s, want 504 %s", out.Status, out.Body, wantBody)
	}
	m, err := silent.ReceiveMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := loadCaptured(t, "request-slow2.json").Command[2]; uuidRe.ReplaceAllString(m.Payload, "U") != uuidRe.ReplaceAllString(want, "U") {
		t.Errorf("published %s\nwant like %s", m.Payload, want)
	}
	env, _ := parseEnvelope(m.Payload)
	channel := responsePrefix + env.Sender
	testenv.WaitFor(t, 5*time.Second, "the response channel left", func() bool { return numsub(rdb, channel) == 0 })
	for _, c := range commandsOf(stop(), "PUBLISH") {
		if strings.HasPrefix(c[1], responsePrefix) {
			t.Errorf("published on a response channel: %v", c)
		}
	}

	late := loadCaptured(t, "response-late-after-requester-timeout.json").Command
	lateEnv, _ := parseEnvelope(late[2])
	payload := strings.ReplaceAll(late[2], strings.TrimPrefix(lateEnv.Sender, responsePrefix), env.Sender)
	if n, err := rdb.Publish(ctx, channel, payload).Result(); err != nil || n != 0 {
		t.Errorf("the late response reached %d subscribers (%v), want nobody", n, err)
	}
}
