package zbus

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/funcatron/funcatron/runner/kind"
	"github.com/google/uuid"
)

// TestRedisLostAndBack: while Redis is unreachable, calls get 503 and the instance is
// unavailable; once it is back the role and the servers resume by themselves: a request
// in the backlog before the loss and one sent during it are both answered.
func TestRedisLostAndBack(t *testing.T) {
	r := testenv.StartRedis(t)
	p := testenv.StartRelay(t, r.Addr())
	cfg := config(r, 1001, map[string]string{"calc.add": "/add"})
	cfg.Redis = fmt.Sprintf("redis://%s/0", p.Addr)
	cfg.Routes["add"] = bundles.ZbusRoute{Cmd: "calc.add", Dst: []int{1001}, Exp: 20}
	in := start(t, fast, cfg, "route-a")
	waitHolder(t, in)
	c := client(t, r)
	ctx := context.Background()

	before := uuid.NewString() // for calc.later, served only after Redis is back
	c.RPush(ctx, queueLocal, seedRequest("calc.later", []int{1001}, 30, `{"a":1,"b":1}`, before))
	testenv.WaitFor(t, 5*time.Second, "the request in the backlog", func() bool { return c.HLen(ctx, keyBacklog).Val() == 1 })

	p.Cut()
	// Wait until Redis has dropped the instance's blocked takes (the proxy's upstream
	// connections close a moment after the cut): a value pushed before that would go to a
	// take whose connection is dying and wait in the role's taken list until put back
	// (TestTakenWhileHolding), which is not what this test is about.
	testenv.WaitFor(t, 5*time.Second, "Redis without blocked clients", func() bool {
		return strings.Contains(c.Info(ctx, "clients").Val(), "blocked_clients:0")
	})
	during := uuid.NewString()
	c.RPush(ctx, queueLocal, seedRequest("calc.add", []int{1001}, 30, `{"a":2,"b":2}`, during))
	if out := call(in, "add", `{"a":1,"b":2}`); out.Status != 503 {
		t.Errorf("call while Redis is lost: %d %s", out.Status, out.Body)
	}
	testenv.WaitFor(t, 10*time.Second, "health unavailable", func() bool { return in.Health() == kind.HealthUnavailable })

	p.Restore()
	if got := blpop(t, c, during, 15*time.Second); datOf(t, got) != `{"sum":4}` {
		t.Errorf("request sent during the loss: %v", got)
	}
	startPeer(t, r, "calc.later", false, add)
	if got := blpop(t, c, before, 10*time.Second); datOf(t, got) != `{"sum":2}` {
		t.Errorf("request in the backlog before the loss: %v", got)
	}
	testenv.WaitFor(t, 5*time.Second, "health ok", func() bool { return in.Health() == kind.HealthOK })
	if out := call(in, "add", `{"a":1,"b":2}`); out.Status != 200 || string(out.Body) != `{"sum":3}` {
		t.Errorf("call after Redis is back: %d %s", out.Status, out.Body)
	}
}

// TestStopLeavesNothing: instances with a node, endpoints, the role and remote traffic
// leave no goroutine behind once stopped.
func TestStopLeavesNothing(t *testing.T) {
	noLeaks(t)
	a, b, fa, _ := twoTwins(t)
	if status, body := post(t, fa.URL+"/add", `{"a":1,"b":1}`); status != 200 {
		t.Errorf("call: %d %s", status, body)
	}
	start := time.Now()
	a.Stop(context.Background())
	b.Stop(context.Background())
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stop took %s", d)
	}
}
