package gilmour

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/funcatron/funcatron/runner/kind"
)

func TestRedisUnreachableAtEnable(t *testing.T) {
	ports, _ := servers.FreePorts(1)
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", ports[0])
	start := time.Now()
	_, err := tryStart(t, httpManifest, map[string]any{"redis": url})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("the Gilmour Redis at 127.0.0.1:%d is unreachable", ports[0])) {
		t.Errorf("start = %v, want a clear error", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the failed start took %s", time.Since(start))
	}
}

func TestRedisLostAndBack(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := client(t, r)
	f := testenv.StartRelay(t, r.Addr())
	url := "redis://" + f.Addr + "/0"
	in := startWith(t, httpManifest, map[string]any{"redis": url})
	node := startWith(t, nodeManifest, map[string]any{"redis": url, "marks": t.TempDir(), "name": "a", "policy": "ignore"})
	(&responder{group: "g"}).start(t, rdb, "gilmour.request.echo")
	if out := serve(in, "echo", "1"); out.Status != 200 {
		t.Fatalf("before: %d %s", out.Status, out.Body)
	}

	f.Cut()
	start := time.Now()
	out := serve(in, "echo", "1")
	if out.Status != 503 || time.Since(start) > time.Second {
		t.Errorf("Redis lost: %d %s after %s, want 503 at once", out.Status, out.Body, time.Since(start))
	}
	testenv.WaitFor(t, 5*time.Second, "both instances unavailable", func() bool {
		return in.Health() == kind.HealthUnavailable && node.Health() == kind.HealthUnavailable
	})

	f.Restore()
	testenv.WaitFor(t, 15*time.Second, "requests work again", func() bool { return serve(in, "echo", "1").Status == 200 })
	testenv.WaitFor(t, 15*time.Second, "the node's services are subscribed again", func() bool {
		return numsub(rdb, "gilmour.request.fail") == 1
	})
	if got, _, ok := request(t, rdb, "gilmour.request.fail", peerMsg{Data: "x", Code: 200}, 5*time.Second); !ok || got.Code != 500 {
		t.Errorf("request to the node after the reconnect: %+v", got)
	}
	testenv.WaitFor(t, 5*time.Second, "both instances ok", func() bool {
		return in.Health() == kind.HealthOK && node.Health() == kind.HealthOK
	})
}
