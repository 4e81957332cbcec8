package zbus

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/google/uuid"
)

// front serves an instance's operations over HTTP as a frontend and the core would: POST
// /<op> is the call of operation op. The instance is set once started.
type front struct {
	*httptest.Server
	in atomic.Pointer[instance]
}

func newFront(t *testing.T) *front {
	f := &front{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := f.in.Load()
		if in == nil {
			http.Error(w, "not started", 503)
			return
		}
		body, _ := io.ReadAll(r.Body)
		out := call(in, strings.TrimPrefix(r.URL.Path, "/"), string(body))
		for _, h := range out.Headers {
			w.Header().Add(h[0], h[1])
		}
		w.WriteHeader(out.Status)
		w.Write(out.Body)
	}))
	t.Cleanup(f.Close)
	return f
}

// post POSTs body to url and returns the status and body.
func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// twoTwins starts twin 1001 (calling calc.add on 1002 for POST /add) and twin 1002
// (serving calc.add with the node), each on its own Redis, with endpoints, knowing each
// other.
func twoTwins(t *testing.T) (a, b *instance, fa, fb *front) {
	ra, rb := testenv.StartRedis(t), testenv.StartRedis(t)
	fa, fb = newFront(t), newFront(t)
	twins := map[int]string{1001: fa.URL, 1002: fb.URL}
	ca := config(ra, 1001, nil)
	ca.Endpoints, ca.Twins = true, twins
	ca.Routes["add"] = bundles.ZbusRoute{Cmd: "calc.add", Dst: []int{1002}, Exp: 10, Try: 1}
	cb := config(rb, 1002, map[string]string{"calc.add": "/add"})
	cb.Endpoints, cb.Twins = true, twins
	a, b = start(t, fast, ca, "route-a"), start(t, fast, cb, "route-b")
	fa.in.Store(a)
	fb.in.Store(b)
	waitHolder(t, a)
	waitHolder(t, b)
	return a, b, fa, fb
}

// TestRemoteRoundTrip: an HTTP call on twin 1001 reaches the node of twin 1002 through
// 1002's /zbus-remote, and its reply comes back through 1001's /zbus-reply; a seed client
// on 1001's Redis gets the same.
func TestRemoteRoundTrip(t *testing.T) {
	a, _, fa, _ := twoTwins(t)
	status, body := post(t, fa.URL+"/add", `{"a":20,"b":22}`)
	if status != 200 || body != `{"sum":42}` {
		t.Errorf("HTTP call: %d %s", status, body)
	}
	c := client(t, &servers.Redis{Port: portOf(a)})
	ret := uuid.NewString()
	c.LPush(context.Background(), queueLocal, seedRequest("calc.add", []int{1002}, 10, `{"a":1,"b":2}`, ret))
	got := blpop(t, c, ret, 10*time.Second)
	if datOf(t, got) != `{"sum":3}` || got["src"] != json.Number("1002") || got["uid"] != "1002.2" {
		t.Errorf("seed client: %v", got)
	}
}

// portOf is the port of an instance's Redis.
func portOf(in *instance) int {
	var port int
	addr := in.rdb.Options().Addr
	json.Unmarshal([]byte(addr[strings.LastIndexByte(addr, ':')+1:]), &port)
	return port
}

// TestRemoteRetries: a twin whose /zbus-remote answers 500 is tried 1 + try times,
// RetryInterval apart, then the caller gets "could not send request and all retries done".
func TestRemoteRetries(t *testing.T) {
	var hits atomic.Int32
	var mu sync.Mutex
	var times []time.Time
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/zbus-remote" {
			hits.Add(1)
			mu.Lock()
			times = append(times, time.Now())
			mu.Unlock()
		}
		http.Error(w, "down", 500)
	}))
	defer down.Close()
	r := testenv.StartRedis(t)
	cfg := config(r, 1001, nil)
	cfg.Twins = map[int]string{1002: down.URL}
	in := start(t, fast, cfg, "route-a")
	waitHolder(t, in)
	c := client(t, r)
	ret := uuid.NewString()
	c.RPush(context.Background(), queueLocal, strings.Replace(seedRequest("calc.add", []int{1002}, 30, `{}`, ret), `"try":2`, `"try":3`, 1))
	got := blpop(t, c, ret, 10*time.Second)
	if got["err"] != errAllRetries || got["src"] != json.Number("1002") {
		t.Errorf("reply %v", got)
	}
	if n := hits.Load(); n != 4 {
		t.Errorf("%d sends, want 1 + 3 retries", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(times); i++ {
		if d := times[i].Sub(times[i-1]); d < fast.RetryInterval {
			t.Errorf("retry %d came %s after the previous send, want ≥ %s", i, d, fast.RetryInterval)
		}
	}
	if n := c.HLen(context.Background(), keyBacklog).Val() + c.HLen(context.Background(), keyRetry).Val(); n != 0 {
		t.Errorf("backlog and retries hold %d entries", n)
	}
}

// withField is the JSON object body with key set to the JSON value raw, or without key
// when raw is "".
func withField(t *testing.T, body, key, raw string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	if raw == "" {
		delete(m, key)
	} else {
		m[key] = json.RawMessage(raw)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// TestEndpointsRefuse: the endpoints take only what msgbusd would act on for this twin.
// Twin 1001's backlog holds a request to 1002 (uid 1002.8), so that a reply to it is
// refused only for what the case changes.
func TestEndpointsRefuse(t *testing.T) {
	a, _, fa, fb := twoTwins(t)
	fresh := func(mut func(m *Message)) string {
		m := &Message{Ver: 1, UID: "1002.9", Cmd: "calc.add", Exp: 10, Src: 1001, Dst: []int64{1002}, Ret: queueReply, Now: time.Now().Unix()}
		m.SetData([]byte(`{"a":1,"b":1}`))
		mut(m)
		return string(m.Encode())
	}
	pending := &Message{Ver: 1, UID: "1002.8", Cmd: "calc.add", Exp: 600, Src: 1001, Dst: []int64{1002}, Ret: uuid.NewString(), Now: time.Now().Unix()}
	client(t, &servers.Redis{Port: portOf(a)}).HSet(context.Background(), keyBacklog, pending.UID, pending.Encode())
	reply := func(mut func(m *Message)) string {
		return fresh(func(m *Message) {
			m.UID, m.Src, m.Dst, m.Ret = pending.UID, 1002, []int64{1001}, queueReply
			mut(m)
		})
	}
	valid := fresh(func(m *Message) {})
	tests := []struct {
		name, url, body string
		status          int
	}{
		{"bad JSON", fb.URL + "/zbus-remote", `{"ver":`, 400},
		{"stale now", fb.URL + "/zbus-remote", fresh(func(m *Message) { m.Now -= 61 }), 400},
		{"future now", fb.URL + "/zbus-remote", fresh(func(m *Message) { m.Now += 120 }), 400},
		{"wrong ver", fb.URL + "/zbus-remote", fresh(func(m *Message) { m.Ver = 2 }), 400},
		{"dat not base64", fb.URL + "/zbus-remote", fresh(func(m *Message) { m.Dat = "%" }), 400},
		{"another twin", fb.URL + "/zbus-remote", fresh(func(m *Message) { m.Dst = []int64{1003} }), 400},
		{"cmd not served", fb.URL + "/zbus-remote", fresh(func(m *Message) { m.Cmd = "calc.other" }), 404},
		{"src not a twin", fb.URL + "/zbus-remote", fresh(func(m *Message) { m.Src = 4242 }), 400},
		{"src this twin", fb.URL + "/zbus-remote", fresh(func(m *Message) { m.Src = 1002 }), 400},
		{"ret not the reply queue", fb.URL + "/zbus-remote", fresh(func(m *Message) { m.Ret = "msgbus.system.local" }), 400},
		{"missing cmd", fb.URL + "/zbus-remote", withField(t, valid, "cmd", ""), 400},
		{"missing dst", fb.URL + "/zbus-remote", withField(t, valid, "dst", ""), 400},
		{"missing ret", fb.URL + "/zbus-remote", withField(t, valid, "ret", ""), 400},
		{"dst a string", fb.URL + "/zbus-remote", withField(t, valid, "dst", `"1002"`), 400},
		{"accepted", fb.URL + "/zbus-remote", valid, 200},
		{"reply bad JSON", fa.URL + "/zbus-reply", `{"ver":1,"uid":`, 400},
		{"reply not an object", fa.URL + "/zbus-reply", `[1,2]`, 400},
		{"reply to no request", fa.URL + "/zbus-reply", reply(func(m *Message) { m.UID = "1002.9" }), 400},
		{"reply from another twin", fa.URL + "/zbus-reply", reply(func(m *Message) { m.Src = 1003 }), 400},
		{"reply stale", fa.URL + "/zbus-reply", reply(func(m *Message) { m.Now -= 61 }), 400},
		{"reply accepted", fa.URL + "/zbus-reply", reply(func(m *Message) {}), 200},
		{"result without uuid", fb.URL + "/zbus-result", `{"retqueue":"msgbus.system.local"}`, 400},
	}
	for _, tt := range tests {
		status, body := post(t, tt.url, tt.body)
		if status != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, status, body, tt.status)
		}
		if status == 200 && body != `{"status":"accepted"}` {
			t.Errorf("%s: body %s", tt.name, body)
		}
	}
}

// TestCmdResult: /zbus-cmd runs a served command and /zbus-result gives its reply.
func TestCmdResult(t *testing.T) {
	_, _, _, fb := twoTwins(t)
	m := &Message{Ver: 1, Cmd: "calc.add", Exp: 10, Src: 7, Dst: []int64{1002}, Now: time.Now().Unix()}
	m.SetData([]byte(`{"a":5,"b":6}`))
	status, body := post(t, fb.URL+"/zbus-cmd", string(m.Encode()))
	var q retqueue
	if status != 200 || json.Unmarshal([]byte(body), &q) != nil || !isRetQueue(q.Retqueue) {
		t.Fatalf("/zbus-cmd: %d %s", status, body)
	}
	var results []map[string]any
	testenv.WaitFor(t, 10*time.Second, "a result", func() bool {
		_, body := post(t, fb.URL+"/zbus-result", `{"retqueue":"`+q.Retqueue+`"}`)
		results = nil
		json.Unmarshal([]byte(body), &results)
		return len(results) == 1
	})
	if results[0]["dat"] != `{"sum":11}` || results[0]["err"] != "" {
		t.Errorf("result %v", results[0])
	}
}

// TestEndpointRedisDown: each endpoint answers 500 when Redis fails, for a message it
// would take.
func TestEndpointRedisDown(t *testing.T) {
	r := testenv.StartRedis(t)
	cfg := config(r, 1001, map[string]string{"calc.add": "/add"})
	cfg.Endpoints = true
	in := start(t, fast, cfg, "route-a")
	f := newFront(t)
	f.in.Store(in)
	r.Close()
	msg := func(uid string, src int64, dst int64) string {
		m := &Message{Ver: 1, UID: uid, Cmd: "calc.add", Exp: 10, Src: src, Dst: []int64{dst}, Ret: queueReply, Now: time.Now().Unix()}
		m.SetData([]byte(`{"a":1,"b":1}`))
		return string(m.Encode())
	}
	for op, body := range map[string]string{
		"zbus-remote": msg("1001.1", 1002, 1001),
		"zbus-reply":  msg("1002.1", 1002, 1001),
		"zbus-cmd":    msg("", 7, 1001),
		"zbus-result": `{"retqueue":"` + uuid.NewString() + `"}`,
	} {
		status, answer := post(t, f.URL+"/"+op, body)
		if status != 500 || !bytes.Contains([]byte(answer), []byte(`"status":"error"`)) {
			t.Errorf("%s: %d %s", op, status, answer)
		}
	}
}
