package gilmour

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/funcatron/funcatron/runner/kind"
)

// nodeManifest serves the test node's handlers; MARKS and NAME come from props.
const nodeManifest = `swagger: "2.0"
basePath: /n
x-funcatron:
  kind: gilmour
  gilmour:
    redis: "${props.redis}"
    error_policy: "${props.policy}"
    node:
      command: [bin/node]
      env: {MARKS: "${props.marks}", NAME: "${props.name}"}
      services:
        - {topic: echo, group: g1, path: /echo, timeout: 2}
        - {topic: slow, group: g1, path: /slow, timeout: 0.3}
        - {topic: fail, group: g1, path: /fail}
        - {topic: text, group: g1, path: /text}
        - {topic: crash, group: g1, path: /crash}
      slots:
        - {topic: "user.*", path: /audit}
        - {topic: "audit.*", group: audit, path: /audit}
paths:
  /echo: {post: {operationId: echo, x-gilmour: {request: echo}}}
`

// startNode starts an instance of nodeManifest named name, its marks in marks.
func startNode(t testing.TB, r *servers.Redis, marks, name string) *instance {
	t.Helper()
	return startWith(t, nodeManifest, map[string]any{"redis": r.URL(), "marks": marks, "name": name, "policy": "queue"})
}

// marks are the lines the node wrote to MARKS/name.
func marks(dir, name string) []string {
	b, _ := os.ReadFile(filepath.Join(dir, name))
	return strings.Fields(strings.TrimSpace(string(b)))
}

func TestNodeServiceAnsweredLikeGo(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	startNode(t, r, t.TempDir(), "a")
	sender := uuid.NewString()
	got, payload, ok := request(t, rdb, "gilmour.request.echo", peerMsg{Data: map[string]any{"a": 1}, Code: 200, Sender: sender}, 5*time.Second)
	if !ok {
		t.Fatal("no response")
	}
	want := `{"data":{"by":"a","echo":{"data":{"a":1},"sender":"` + sender + `","timeout":2,"topic":"echo"}},"code":200,"sender":"gilmour.response.` + sender + `"}`
	if payload != want || got.Code != 200 {
		t.Errorf("response\n %s\nwant\n %s", payload, want)
	}
	key := sender + "g1"
	if v, _ := rdb.Get(context.Background(), key).Result(); v != key {
		t.Errorf("lock %s = %q, want the key itself", key, v)
	}
	if ttl, _ := rdb.TTL(context.Background(), key).Result(); ttl <= 590*time.Second || ttl > 600*time.Second {
		t.Errorf("lock TTL %s, want 600 s", ttl)
	}
}

func TestNodeRubyStyleRequest(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	startNode(t, r, t.TempDir(), "a")
	sender := strings.ReplaceAll(uuid.NewString(), "-", "") // SecureRandom.hex
	got, _, ok := request(t, rdb, "gilmour.request.echo", peerMsg{Data: "hi", Code: 0, Sender: sender}, 5*time.Second)
	if !ok || got.Code != 200 || got.Data.(map[string]any)["echo"].(map[string]any)["data"] != "hi" {
		t.Errorf("response %+v", got)
	}
}

func TestNodeGroupsAcrossRunners(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	dir := t.TempDir()
	a, b := startNode(t, r, dir, "a"), startNode(t, r, dir, "b")
	sameGroup := &responder{group: "g1", answer: func(any) (any, int) { return "peer", 200 }}
	otherGroup := &responder{group: "g2", answer: func(any) (any, int) { return "other", 200 }, delay: 50 * time.Millisecond}
	sameGroup.start(t, rdb, "gilmour.request.echo")
	otherGroup.start(t, rdb, "gilmour.request.echo")
	const n = 20
	for range n {
		if _, _, ok := request(t, rdb, "gilmour.request.echo", peerMsg{Data: 1, Code: 200}, 5*time.Second); !ok {
			t.Fatal("no response")
		}
	}
	testenv.WaitFor(t, 5*time.Second, "the other group ran every request", func() bool { return otherGroup.count.Load() == n })
	a.Stop(context.Background()) // waits for calls in flight: the counts are final
	b.Stop(context.Background())
	if got := int64(len(marks(dir, "echo"))) + sameGroup.count.Load(); got != n {
		t.Errorf("group g1 (two runners and a peer) ran %d times for %d requests, want %d", got, n, n)
	}
}

func TestNodeSlotOncePerBundle(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	dir := t.TempDir()
	a, b := startNode(t, r, dir, "a"), startNode(t, r, dir, "b")
	const n = 10
	for i := range n {
		for _, topic := range []string{"gilmour.slot.user.created", "gilmour.slot.audit.x"} {
			env, _ := json.Marshal(peerMsg{Data: i, Code: 200, Sender: uuid.NewString()})
			if got, _ := rdb.Publish(context.Background(), topic, env).Result(); got != 2 {
				t.Fatalf("signal %s reached %d subscribers, want the 2 runners (PSUBSCRIBE)", topic, got)
			}
		}
	}
	testenv.WaitFor(t, 5*time.Second, "every signal handled", func() bool { return len(marks(dir, "audit")) >= 2*n })
	a.Stop(context.Background())
	b.Stop(context.Background())
	lines := marks(dir, "audit")
	if len(lines) != 2*n {
		t.Errorf("the slots ran %d times for %d signals, want once per bundle each", len(lines), 2*n)
	}
	if !strings.Contains(lines[0], `"topic":"user.created"`) && !strings.Contains(lines[0], `"topic":"audit.x"`) {
		t.Errorf("slot call %s", lines[0])
	}
}

func TestNodeSlowHandlerTimesOut(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	dir := t.TempDir()
	startNode(t, r, dir, "a")
	sender := uuid.NewString()
	start := time.Now()
	_, payload, ok := request(t, rdb, "gilmour.request.slow", peerMsg{Data: "x", Code: 200, Sender: sender}, 5*time.Second)
	want := `{"data":"Execution timed out","code":499,"sender":"` + sender + `"}`
	if !ok || payload != want || time.Since(start) > 2*time.Second {
		t.Errorf("response %s after %s, want %s after 0.3 s", payload, time.Since(start), want)
	}
	testenv.WaitFor(t, 5*time.Second, "the node saw its connection closed", func() bool {
		return len(marks(dir, "slow")) == 1
	})
}

func TestNodeAnswers(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	startNode(t, r, t.TempDir(), "a")
	for _, tt := range []struct {
		topic, want string
	}{
		{"fail", `{"data":{"why":"broken"},"code":500,"sender":"gilmour.response.`},
		{"text", `{"data":"plain words","code":200,"sender":"gilmour.response.`},
	} {
		_, payload, ok := request(t, rdb, "gilmour.request."+tt.topic, peerMsg{Data: "x", Code: 200}, 5*time.Second)
		if !ok || !strings.HasPrefix(payload, tt.want) {
			t.Errorf("%s: %s, want %s...", tt.topic, payload, tt.want)
		}
	}
}

func TestNodeCrashIsRestarted(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	in := startNode(t, r, t.TempDir(), "a")
	got, _, ok := request(t, rdb, "gilmour.request.crash", peerMsg{Data: "x", Code: 200}, 5*time.Second)
	if !ok || got.Code != 502 {
		t.Errorf("crash: %+v, want code 502", got)
	}
	// Meanwhile every request is answered at once (502/503 while restarting) or, once the
	// health check removed the subscription, finds no listener, as a requester checks first
	// (PUBSUB NUMSUB): never left hanging.
	testenv.WaitFor(t, 10*time.Second, "the node answers again", func() bool {
		got, _, ok := request(t, rdb, "gilmour.request.echo", peerMsg{Data: "x", Code: 200}, 3*time.Second)
		if !ok && got.Code == -1 {
			return false // nobody subscribed just then
		}
		if !ok {
			t.Fatal("a request that reached the node got no answer")
		}
		// 502 for a request that raced the crash (its connection died with the process),
		// 503 once the crash is seen and until the node is ready again (issue: "502/503,
		// never a hang").
		if got.Code != 200 && got.Code != 502 && got.Code != 503 {
			t.Fatalf("during the restart: %+v", got)
		}
		return got.Code == 200
	})
	testenv.WaitFor(t, 5*time.Second, "health ok again", func() bool { return in.Health() == kind.HealthOK })
}

func TestHealthIdentAndPing(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	in := startNode(t, r, t.TempDir(), "a")
	if !regexp.MustCompile(`^.+-pid-\d+-uuid-[0-9a-f-]{36}$`).MatchString(in.ident) {
		t.Errorf("ident %q", in.ident)
	}
	if v, _ := rdb.HGet(context.Background(), "gilmour.known_host.health", in.ident).Result(); v != "true" {
		t.Errorf("known_host %s = %q", in.ident, v)
	}
	got, _, ok := request(t, rdb, "gilmour.health."+in.ident, peerMsg{Data: "ping", Code: 200}, 5*time.Second)
	want := `["gilmour.request.crash","gilmour.request.echo","gilmour.request.fail","gilmour.request.slow","gilmour.request.text","gilmour.slot.audit.*","gilmour.slot.user.*"]`
	data, _ := json.Marshal(got.Data)
	if !ok || got.Code != 200 || string(data) != want {
		t.Errorf("health answer %d %s, want %s", got.Code, data, want)
	}
	in.Stop(context.Background())
	if n, _ := rdb.HExists(context.Background(), "gilmour.known_host.health", in.ident).Result(); n {
		t.Error("the ident stays registered after stop")
	}
}

func TestHealthUnavailableAndBack(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	dir := t.TempDir()
	in := startNode(t, r, dir, "a")
	if in.Health() != kind.HealthOK || numsub(rdb, "gilmour.request.echo") != 1 {
		t.Fatalf("health %s, numsub %d at start", in.Health(), numsub(rdb, "gilmour.request.echo"))
	}
	os.WriteFile(filepath.Join(dir, "unhealthy"), nil, 0o644)
	testenv.WaitFor(t, 5*time.Second, "unavailable and unsubscribed", func() bool {
		return in.Health() == kind.HealthUnavailable && numsub(rdb, "gilmour.request.echo") == 0
	})
	os.Remove(filepath.Join(dir, "unhealthy"))
	testenv.WaitFor(t, 5*time.Second, "ok and subscribed again", func() bool {
		return in.Health() == kind.HealthOK && numsub(rdb, "gilmour.request.echo") == 1
	})
	if _, _, ok := request(t, rdb, "gilmour.request.echo", peerMsg{Data: 1, Code: 200}, 5*time.Second); !ok {
		t.Error("no answer after the node recovered")
	}
}

func TestHealthDirtySocket(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	in := startNode(t, r, t.TempDir(), "a")
	sock := in.node.proc.Socket()
	os.Remove(sock)
	os.WriteFile(sock, []byte("not a socket"), 0o644)
	testenv.WaitFor(t, 5*time.Second, "dirty and unsubscribed", func() bool {
		return in.Health() == kind.HealthDirty && numsub(rdb, "gilmour.request.echo") == 0 && numsub(rdb, "gilmour.slot.x") == 0
	})
	// The proxy API still shows the node, and refuses anything else.
	if st, m := proxyServe(t, in, "GET", "/nodes/"+in.proxy.id, ""); st != 200 || m["status"] != "dirty" {
		t.Errorf("GET /nodes/:id of a dirty node = %d %v", st, m)
	}
	if st, _ := proxyServe(t, in, "POST", "/nodes/"+in.proxy.id+"/slots", `{"topic":"a","path":"/a"}`); st != 503 {
		t.Errorf("adding a slot to a dirty node = %d, want 503", st)
	}
	testenv.WaitFor(t, 5*time.Second, "the dirty node's process stopped", func() bool { return !in.node.proc.Ready() })
}
