package gilmour

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/testenv"
)

// proxyCall calls the node proxy API of in as the node would, over GILMOUR_PROXY.
func proxyCall(t testing.TB, in *instance, method, path, body string) (int, map[string]any) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", in.proxy.sock)
		}}}
	req, _ := http.NewRequest(method, "http://proxy"+path, strings.NewReader(body))
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %d %q is not JSON", method, path, res.StatusCode, b)
	}
	return res.StatusCode, m
}

// proxyServe is proxyCall straight through the API's handler, without the socket (a dirty
// node's socket goes with its private directory when its process is stopped).
func proxyServe(t testing.TB, in *instance, method, path, body string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	in.proxy.srv.Handler.ServeHTTP(rec, httptest.NewRequest(method, "http://proxy"+path, strings.NewReader(body)))
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s %s: %d %q is not JSON", method, path, rec.Code, rec.Body.Bytes())
	}
	return rec.Code, m
}

func TestProxyEnvironment(t *testing.T) {
	r := testenv.StartRedis(t)
	in := startNode(t, r, t.TempDir(), "a")
	st, _ := proxyCall(t, in, "GET", "/nodes/"+in.proxy.id, "")
	if st != 200 {
		t.Fatal(st)
	}
	// The node got GILMOUR_PROXY and GILMOUR_NODE_ID.
	var out []string
	req := proxyNodeGet(t, in, "/env")
	json.Unmarshal(req, &out)
	env := strings.Join(out, "\n")
	if !strings.Contains(env, "GILMOUR_PROXY="+in.proxy.sock) || !strings.Contains(env, "GILMOUR_NODE_ID="+in.proxy.id) {
		t.Errorf("node env:\n%s", env)
	}
}

// proxyNodeGet GETs path from the node itself.
func proxyNodeGet(t testing.TB, in *instance, path string) []byte {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", in.node.proc.Socket())
		}}}
	res, err := c.Get("http://node" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return b
}

func TestProxyRegistration(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	in := startNode(t, r, t.TempDir(), "a")
	id := in.proxy.id
	st, node := proxyCall(t, in, "GET", "/nodes/"+id, "")
	if st != 200 || node["id"] != id || node["status"] != "ok" || node["health_check"] != "/health" ||
		len(node["services"].([]any)) != 5 || len(node["slots"].([]any)) != 2 {
		t.Errorf("GET /nodes/:id = %d %v", st, node)
	}
	// Add a slot at run time: subscribed on Redis before the answer.
	if st, m := proxyCall(t, in, "POST", "/nodes/"+id+"/slots", `{"topic":"order.*","group":"o","path":"/audit","timeout":3}`); st != 200 || m["status"] != "ok" {
		t.Fatalf("POST slots = %d %v", st, m)
	}
	if numsub(rdb, "gilmour.slot.order.*") != 0 {
		t.Error("a pattern shows in NUMSUB") // it is a pattern: NUMPAT counts it
	}
	if n, _ := rdb.PubSubNumPat(context.Background()).Result(); n != 3 {
		t.Errorf("NUMPAT = %d, want 3 (user.*, audit.*, order.*)", n)
	}
	st, m := proxyCall(t, in, "GET", "/nodes/"+id+"/slots", "")
	if slots := m["slots"].([]any); st != 200 || len(slots) != 3 || slots[2].(map[string]any)["timeout"] != 3.0 {
		t.Errorf("GET slots = %d %v", st, m)
	}
	// A service added, then all of its topic removed (no path).
	if st, m := proxyCall(t, in, "POST", "/nodes/"+id+"/services", `{"topic":"more","group":"g","path":"/echo"}`); st != 200 {
		t.Fatalf("POST services = %d %v", st, m)
	}
	if got, _, ok := request(t, rdb, "gilmour.request.more", peerMsg{Data: 1, Code: 200}, 5*time.Second); !ok || got.Code != 200 {
		t.Errorf("request to the added service: %+v", got)
	}
	if st, _ := proxyCall(t, in, "DELETE", "/nodes/"+id+"/services?topic=more", ""); st != 200 {
		t.Errorf("DELETE services = %d", st)
	}
	testenv.WaitFor(t, 5*time.Second, "the removed service unsubscribed", func() bool { return numsub(rdb, "gilmour.request.more") == 0 })
	// Removing one path of a topic leaves the others.
	if st, _ := proxyCall(t, in, "DELETE", "/nodes/"+id+"/slots", `{"topic":"order.*","path":"/nope"}`); st != 200 {
		t.Errorf("DELETE slots = %d", st)
	}
	if _, m := proxyCall(t, in, "GET", "/nodes/"+id+"/slots", ""); len(m["slots"].([]any)) != 3 {
		t.Errorf("a DELETE with another path removed %v", m)
	}
	// Bad input.
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/nodes/" + id + "/services", `{"topic":"a.*","group":"g","path":"/x"}`},
		{"POST", "/nodes/" + id + "/services", `{"topic":"a","path":"/x"}`},
		{"POST", "/nodes/" + id + "/slots", `not json`},
		{"DELETE", "/nodes/" + id + "/slots", ``},
	} {
		if st, m := proxyCall(t, in, c.method, c.path, c.body); st != 400 || m["status"] == "ok" {
			t.Errorf("%s %s %s = %d %v, want 400", c.method, c.path, c.body, st, m)
		}
	}
}

func TestProxyOtherNodeRefused(t *testing.T) {
	r := testenv.StartRedis(t)
	in := startNode(t, r, t.TempDir(), "a")
	for _, c := range []struct{ method, path string }{
		{"GET", "/nodes/someone-else"}, {"POST", "/nodes/someone-else/slots"}, {"GET", "/nodes/someone-else/services"},
		{"POST", "/request/someone-else"}, {"POST", "/signal/someone-else"}, {"DELETE", "/nodes/someone-else"},
	} {
		if st, _ := proxyCall(t, in, c.method, c.path, `{"topic":"echo"}`); st != 403 {
			t.Errorf("%s %s = %d, want 403", c.method, c.path, st)
		}
	}
}

func TestProxyPublish(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	in := startNode(t, r, t.TempDir(), "a")
	id := in.proxy.id
	(&responder{group: "x", answer: func(d any) (any, int) { return d, 201 }}).start(t, rdb, "gilmour.request.peer")
	st, m := proxyCall(t, in, "POST", "/request/"+id, `{"topic":"peer","message":{"a":1},"timeout":5}`)
	if st != 201 || m["code"] != 201.0 || m["length"] != 1.0 {
		t.Errorf("request = %d %v", st, m)
	}
	// A composition: the node's own service (through Redis) then the peer.
	st, m = proxyCall(t, in, "POST", "/request/"+id+"/", `{"composition":{"pipe":[{"topic":"echo"},{"topic":"peer","message":{"k":2}}]},"message":1}`)
	if st != 201 || m["length"] != 2.0 || !strings.Contains(toJSON(m), `"k":2`) {
		t.Errorf("composition = %d %v", st, m)
	}
	st, m = proxyCall(t, in, "POST", "/request/"+id, `{"topic":"nobody"}`)
	if st != 503 || m["code"] != 503.0 {
		t.Errorf("request to nobody = %d %v", st, m)
	}
	st, m = proxyCall(t, in, "POST", "/request/"+id, `{"topic":"slow","timeout":5}`)
	if st != 499 || m["code"] != 499.0 {
		t.Errorf("request to a slow service = %d %v, want the code 499 as status", st, m)
	}
	st, m = proxyCall(t, in, "POST", "/signal/"+id, `{"topic":"user.made","message":{"id":1}}`)
	if st != 202 || m["receivers"] != 1.0 {
		t.Errorf("signal = %d %v", st, m)
	}
	for _, body := range []string{`{}`, `{"topic":"a","composition":{"topic":"b"}}`, `{"composition":{"pipe":"x"}}`, `{"topic":"a","timeout":9999}`} {
		if st, _ := proxyCall(t, in, "POST", "/request/"+id, body); st != 400 {
			t.Errorf("request %s = %d, want 400", body, st)
		}
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
