package zbus

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/google/uuid"
)

// holders counts the instances acting as msgbusd.
func holders(ins ...*instance) int {
	n := 0
	for _, in := range ins {
		if in.holder.Load() {
			n++
		}
	}
	return n
}

// TestRoleOneHolder: of two runners serving one deployment, one holds the role; when it
// stops the other takes over, and requests keep being served.
func TestRoleOneHolder(t *testing.T) {
	r := testenv.StartRedis(t)
	a := start(t, fast, config(r, 1001, nil), "route-a")
	b := start(t, fast, config(r, 1001, nil), "route-a")
	testenv.WaitFor(t, 5*time.Second, "one holder", func() bool { return holders(a, b) == 1 })
	// Exactly one holder all along, over three lease periods (renewals included).
	testenv.Poll(3*fast.LeaseTTL, func() bool {
		if n := holders(a, b); n != 1 {
			t.Fatalf("%d holders", n)
		}
		return false
	})
	first, other := a, b
	if b.holder.Load() {
		first, other = b, a
	}
	first.Stop(context.Background())
	testenv.WaitFor(t, 3*fast.LeaseTTL, "the other runner to take the role", other.holder.Load)
	c := client(t, r)
	startPeer(t, r, "calc.add", false, add)
	ret := uuid.NewString()
	c.RPush(context.Background(), queueLocal, seedRequest("calc.add", []int{1001}, 10, `{"a":1,"b":1}`, ret))
	if got := blpop(t, c, ret, 5*time.Second); datOf(t, got) != `{"sum":2}` {
		t.Errorf("after the takeover: %v", got)
	}
}

// TestRoleHolderDies: a holder that dies without giving the lease up is replaced once its
// lease runs out; a request sent meanwhile is answered then.
func TestRoleHolderDies(t *testing.T) {
	r := testenv.StartRedis(t)
	a := start(t, fast, config(r, 1001, nil), "route-a")
	waitHolder(t, a)
	b := start(t, fast, config(r, 1001, nil), "route-a")
	a.cancel() // dies: its loops end, the lease stays until its TTL
	a.wg.Wait()
	died := time.Now()
	c := client(t, r)
	startPeer(t, r, "calc.add", false, add)
	ret := uuid.NewString()
	c.RPush(context.Background(), queueLocal, seedRequest("calc.add", []int{1001}, 10, `{"a":2,"b":1}`, ret))
	if got := blpop(t, c, ret, 5*time.Second); datOf(t, got) != `{"sum":3}` {
		t.Errorf("after the death: %v", got)
	}
	if !b.holder.Load() {
		t.Error("the other runner does not hold the role")
	}
	if d := time.Since(died); d > 3*fast.LeaseTTL {
		t.Errorf("took over after %s (lease %s)", d, fast.LeaseTTL)
	}
}

// TestSecondDeploymentRefused: another deployment on the same Redis is refused with a
// message naming the holder, and can start once the first is gone and its claim expired.
func TestSecondDeploymentRefused(t *testing.T) {
	r := testenv.StartRedis(t)
	a := start(t, fast, config(r, 1001, nil), "route-a")
	_, err := startErr(t, fast, config(r, 1001, nil), "route-b")
	if err == nil || !strings.Contains(err.Error(), "already serves twin 1001 for the deployment on route-a") {
		t.Fatalf("second deployment: %v", err)
	}
	if _, err := startErr(t, fast, config(r, 1003, nil), "route-c"); err == nil {
		t.Error("a second twin on the same Redis was not refused")
	}
	a.Stop(context.Background())
	var b *instance
	testenv.WaitFor(t, 5*fast.LeaseTTL, "the claim to expire", func() bool {
		b, err = startErr(t, fast, config(r, 1001, nil), "route-b")
		return err == nil
	})
	b.Stop(context.Background())
}
