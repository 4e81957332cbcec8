package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/funcatron/funcatron/internal/stack"
	"github.com/funcatron/funcatron/internal/testenv"
)

// The msgbusd role's lease as the runner keeps it (runner/zbus: keyLease, the default
// LeaseTTL, renewed every third of it; docs/bundle-zbus.md "The msgbusd role"). The runner
// has no option for the TTL: the test waits for the real one.
const (
	e2eZbusLeaseKey = "msgbus.system.funcatron.lease"
	e2eZbusLeaseTTL = 6 * time.Second
	// e2eZbusTakeover bounds a takeover after the holder's death: its last renewal's lease
	// runs out (TTL), the other runner's next renewal takes it (TTL/3), plus slack for a
	// loaded 2-core machine.
	e2eZbusTakeover = e2eZbusLeaseTTL + e2eZbusLeaseTTL/3 + 4*time.Second
	// e2eZbusKillRequests is how many seed-style requests are pushed around the kill, 10 ms
	// apart.
	e2eZbusKillRequests = 60
	// e2eZbusInFlight and e2eZbusMaxInFlight bound the requests the killed runner may have
	// been handling, which may be answered twice (a request takes about a millisecond end to
	// end; 10 ms apart, one at a time is in flight, two on a loaded machine).
	e2eZbusInFlight    = 200 * time.Millisecond
	e2eZbusMaxInFlight = 2
	// e2eZbusExp is the requests' exp: past the takeover, so a request that waited for the
	// new holder is not expired, and short, so one a command server of the killed runner
	// had taken (not the role's: nothing puts it back) gets msgbusd's timeout err soon.
	e2eZbusExp = 20
)

// e2eTestZbusHolderKill: the hello-zbus sample on two runner processes; the one holding the
// msgbusd role (the lease in Redis names it, its runner logs the name) is killed with
// kill -9 while a seed-style client pushes requests to msgbus.system.local. An HTTP → zbus
// call through nginx sent right after the kill is answered 200 once the other runner took
// the lease, within the lease's TTL plus one renewal (plus slack); every request gets a
// reply with its sum, also one the dying holder had taken (the next holder finds it in
// the role's taken list), and only such a one may get two (see countTwice); one that a
// command server of the killed runner had taken from msgbus.calc.add gets msgbusd's timeout
// err at exp instead (no taken list covers the command servers: docs/bundle-zbus.md). The killed
// runner is started again, so the stack is whole for what follows.
func e2eTestZbusHolderKill(t *testing.T, s *e2eStack, q string) {
	s.waitRunnersServing(t, q, 2)
	rdb := redis.NewClient(&redis.Options{Addr: s.Redis.Addr()})
	defer rdb.Close()
	victim, lease := e2eZbusHolder(t, s, rdb, "")
	survivor := s.Runners[0]
	if survivor == victim {
		survivor = s.Runners[1]
	}
	t.Logf("%s holds the msgbusd role (lease %s)", victim.Name, lease)

	client := e2eStartZbusClient(rdb, e2eZbusKillRequests)
	testenv.WaitFor(t, 10*time.Second, "a third of the requests pushed", func() bool {
		return client.pushed.Load() >= e2eZbusKillRequests/3
	})
	kill := time.Now()
	victim.Kill()
	killed := time.Now()
	t.Logf("killed %s (kill -9) after %d of %d requests pushed", victim.Name, client.pushed.Load(), e2eZbusKillRequests)

	client.wait(t)
	// msgbusd's queue holds what was pushed after the kill: no runner holds the role yet
	waiting, err := rdb.LLen(context.Background(), "msgbus.system.local").Result()
	if err != nil || waiting == 0 {
		t.Errorf("msgbus.system.local after the kill: %d requests waiting (%v), want those pushed after it", waiting, err)
	}
	t.Logf("%d requests waiting in msgbus.system.local %s after the kill", waiting, time.Since(killed).Round(time.Millisecond))
	t.Logf("the dead holder left %s in the role's taken lists", e2eZbusTaken(rdb))
	e2eZbusHTTPAfterKill(t, s, killed)
	holder, next := e2eZbusHolder(t, s, rdb, lease)
	if holder != survivor {
		t.Errorf("the lease went to %s, want the survivor %s", holder.Name, survivor.Name)
	}
	t.Logf("%s holds the role now (lease %s)", holder.Name, next)
	client.collect(t, kill, killed, killed.Add(e2eZbusTakeover))

	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	s.waitRunnersServing(t, q, 2)
	e2eWant(t, "hello-zbus add after the restart", s.front(t, "POST", "/zbus/add", "", []byte(`{"a":1,"b":1}`), nil), 200, `{"sum":2}`)
	client.countTwice(t, kill, killed)
}

// e2eZbusTaken says what the role's taken lists hold: what a holder had taken and not
// finished (runner/zbus: taken.go, keys msgbus.system.funcatron.taken.<queue>).
func e2eZbusTaken(rdb *redis.Client) string {
	var parts []string
	for _, q := range []string{"local", "remote", "reply"} {
		n, err := rdb.LLen(context.Background(), "msgbus.system.funcatron.taken."+q).Result()
		if err != nil {
			return err.Error()
		}
		parts = append(parts, fmt.Sprintf("%d of msgbus.system.%s", n, q))
	}
	return strings.Join(parts, ", ")
}

// e2eZbusHolder waits until the lease holds an id other than not and returns the runner
// whose log says it took the role under that id, and the id.
func e2eZbusHolder(t *testing.T, s *e2eStack, rdb *redis.Client, not string) (*stack.Proc, string) {
	t.Helper()
	var id string
	var holder *stack.Proc
	testenv.WaitFor(t, e2eZbusTakeover, "a runner logging that it holds the lease", func() bool {
		id, _ = rdb.Get(context.Background(), e2eZbusLeaseKey).Result()
		if id == "" || id == not {
			return false
		}
		holder = e2eZbusLeaseLogger(s, id)
		return holder != nil
	})
	return holder, id
}

// e2eZbusLeaseLogger is the runner whose log has "acting as msgbusd" with lease id, or nil.
func e2eZbusLeaseLogger(s *e2eStack, id string) *stack.Proc {
	for _, r := range s.Runners {
		b, _ := os.ReadFile(r.LogPath)
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, "acting as msgbusd") && strings.Contains(line, id) {
				return r
			}
		}
	}
	return nil
}

// e2eZbusHTTPAfterKill calls POST /zbus/add through nginx until it is answered 200; the
// first 200 must come within e2eZbusTakeover of the kill. Calls before the takeover may
// get the frontend's 504 (its timeout is shorter than a takeover), nothing else.
func e2eZbusHTTPAfterKill(t *testing.T, s *e2eStack, killed time.Time) {
	t.Helper()
	var statuses []int
	testenv.WaitFor(t, e2eZbusTakeover, "POST /zbus/add answered 200 after the kill", func() bool {
		r := s.front(t, "POST", "/zbus/add", "", []byte(`{"a":20,"b":22}`), nil)
		statuses = append(statuses, r.status)
		if r.status == 200 && string(r.body) != `{"sum":42}` {
			t.Errorf("POST /zbus/add after the kill: %s", r)
		}
		if r.status != 200 && r.status != 504 {
			t.Errorf("POST /zbus/add after the kill: %s, want 200 or the frontend's 504", r)
		}
		return r.status == 200
	})
	took := time.Since(killed)
	t.Logf("POST /zbus/add answered 200 %s after the kill (statuses %v)", took.Round(time.Millisecond), statuses)
	if took > e2eZbusTakeover {
		t.Errorf("POST /zbus/add answered 200 %s after the kill, want within %s", took, e2eZbusTakeover)
	}
}

// e2eZbusClient is a client written from the seed: it pushes calc.add requests to
// msgbus.system.local, each with its own ret (RPUSH as the seed, LPUSH as the npm client,
// alternately), 10 ms apart, and reads each ret's replies.
type e2eZbusClient struct {
	rdb    *redis.Client
	rets   []string
	at     []time.Time // when each request was pushed (read after done)
	pushed atomic.Int64
	done   chan error
}

func e2eStartZbusClient(rdb *redis.Client, n int) *e2eZbusClient {
	c := &e2eZbusClient{rdb: rdb, done: make(chan error, 1), at: make([]time.Time, n)}
	for range n {
		c.rets = append(c.rets, uuid.NewString())
	}
	go func() { c.done <- c.push() }()
	return c
}

// push sends every request, paced so that the kill falls among them.
func (c *e2eZbusClient) push() error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	ctx := context.Background()
	for i, ret := range c.rets {
		<-tick.C
		req := e2eZbusRequest(i, ret)
		var err error
		if i%2 == 0 {
			err = c.rdb.RPush(ctx, "msgbus.system.local", req).Err()
		} else {
			err = c.rdb.LPush(ctx, "msgbus.system.local", req).Err()
		}
		if err != nil {
			return fmt.Errorf("pushing request %d: %w", i, err)
		}
		c.at[i] = time.Now()
		c.pushed.Add(1)
	}
	return nil
}

// e2eZbusRequest is request i of the seed's form: calc.add of {a: i, b: 1000} to twin 1001.
func e2eZbusRequest(i int, ret string) []byte {
	b, _ := json.Marshal(map[string]any{"ver": 1, "uid": "", "cmd": "calc.add", "exp": e2eZbusExp, "try": 2,
		"dat": base64.StdEncoding.EncodeToString(fmt.Appendf(nil, `{"a":%d,"b":1000}`, i)),
		"src": 1001, "dst": []int{1001}, "ret": ret, "shm": "", "now": time.Now().Unix(), "err": ""})
	return b
}

func (c *e2eZbusClient) wait(t *testing.T) {
	t.Helper()
	if err := <-c.done; err != nil {
		t.Fatal(err)
	}
}

// collect reads one reply from each ret by deadline and checks its sum. Every request must
// be answered: one queued after the holder died (the kill returned at killed) waited in
// msgbus.system.local for the new holder; one the dying holder had taken (popped, or
// handed by Redis to its blocked BLMOVE while the kill was under way) waited in the
// role's taken list, where the new holder found it (runner/zbus: taken.go).
func (c *e2eZbusClient) collect(t *testing.T, kill, killed, deadline time.Time) {
	t.Helper()
	ok, timedOut := 0, 0
	for i, ret := range c.rets {
		res, err := c.rdb.BLPop(context.Background(), max(time.Until(deadline), 10*time.Millisecond), ret).Result()
		if err != nil && c.inFlightAtKill(i, kill, killed) && timedOut < e2eZbusMaxInFlight {
			// A command server of the killed runner may have taken it from msgbus.calc.add:
			// then the backlog answers msgbusd's timeout err at exp, never nothing.
			t.Logf("request %d (pushed %s): no reply by the deadline, %s; waiting for exp", i, e2eSinceKill(c.at[i], kill, killed), c.lostWhere(ret))
			res, err = c.rdb.BLPop(context.Background(), time.Until(c.at[i].Add(e2eZbusExp*time.Second+5*time.Second)), ret).Result()
			if err == nil && c.isTimeoutErr(t, i, res[1]) {
				timedOut++
				continue
			}
		}
		if err != nil {
			t.Errorf("request %d (pushed %s) got no reply by the deadline: %s", i, e2eSinceKill(c.at[i], kill, killed), c.lostWhere(ret))
			continue
		}
		if c.checkReply(t, i, res[1]) {
			ok++
		}
	}
	t.Logf("%d of %d requests pushed around the kill answered with their sum, %d with msgbusd's timeout err (taken by the killed runner's command server)", ok, len(c.rets), timedOut)
}

// inFlightAtKill tells whether request i was pushed around the kill: the killed runner
// may have been handling it.
func (c *e2eZbusClient) inFlightAtKill(i int, kill, killed time.Time) bool {
	return c.at[i].Before(killed) && kill.Sub(c.at[i]) <= e2eZbusInFlight
}

// isTimeoutErr tells whether raw is msgbusd's "request timeout" err reply.
func (c *e2eZbusClient) isTimeoutErr(t *testing.T, i int, raw string) bool {
	var m struct{ Err string }
	if err := json.Unmarshal([]byte(raw), &m); err != nil || !strings.HasPrefix(m.Err, "request timeout") {
		t.Errorf("request %d: reply %s, want its sum or msgbusd's request timeout err", i, raw)
		return false
	}
	return true
}

// checkReply checks that raw is request i's reply with its sum.
func (c *e2eZbusClient) checkReply(t *testing.T, i int, raw string) bool {
	t.Helper()
	var m struct{ Dat, Err string }
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Errorf("request %d: reply %s: %v", i, raw, err)
		return false
	}
	dat, _ := base64.StdEncoding.DecodeString(m.Dat)
	if want := fmt.Sprintf(`{"sum":%d}`, i+1000); m.Err != "" || string(dat) != want {
		t.Errorf("request %d: reply err %q dat %q, want %s", i, m.Err, dat, want)
		return false
	}
	return true
}

// e2eSinceKill says when at was relative to the kill -9 sent at kill and the process gone at
// killed.
func e2eSinceKill(at, kill, killed time.Time) string {
	switch {
	case at.Before(kill):
		return kill.Sub(at).Round(time.Millisecond).String() + " before the kill"
	case at.Before(killed):
		return at.Sub(kill).Round(time.Millisecond).String() + " after the kill -9 was sent, before the process was gone"
	}
	return at.Sub(killed).Round(time.Millisecond).String() + " after the process was gone"
}

// lostWhere tells where a request without a reply was lost: in a taken list of the role
// (the new holder did not put it back), in the backlog (msgbusd's loop handled it and a
// command server, the killed runner's, took it from msgbus.calc.add: its caller gets the
// timeout err at exp), or nowhere.
func (c *e2eZbusClient) lostWhere(ret string) string {
	ctx := context.Background()
	for _, q := range []string{"local", "reply"} {
		taken, _ := c.rdb.LRange(ctx, "msgbus.system.funcatron.taken."+q, 0, -1).Result()
		for _, raw := range taken {
			if strings.Contains(raw, ret) {
				return "it waits in the taken list of msgbus.system." + q
			}
		}
	}
	entries, err := c.rdb.HGetAll(ctx, "msgbus.system.backlog").Result()
	if err != nil {
		return fmt.Sprintf("reading the backlog: %v", err)
	}
	for uid, raw := range entries {
		if strings.Contains(raw, ret) {
			return "its backlog entry " + uid + " waits (a command server of the killed runner had taken it; its caller gets the timeout err at exp)"
		}
	}
	return "neither in a taken list nor in the backlog"
}

// countTwice reads the replies left on each ret after collect: a request answered twice
// must have been pushed around the kill (the dying holder had taken it and written it on
// before it died, the new holder handled it again under a new uid), at most
// e2eZbusMaxInFlight of them, and each extra reply has the sum too. They are counted in
// the log.
func (c *e2eZbusClient) countTwice(t *testing.T, kill, killed time.Time) {
	t.Helper()
	twice := 0
	for i, ret := range c.rets {
		extra, err := c.rdb.LRange(context.Background(), ret, 0, -1).Result()
		if err != nil {
			t.Errorf("request %d: reading its replies: %v", i, err)
		}
		if len(extra) == 0 {
			continue
		}
		twice++
		t.Logf("request %d (pushed %s) answered %d times", i, e2eSinceKill(c.at[i], kill, killed), 1+len(extra))
		if !c.inFlightAtKill(i, kill, killed) {
			t.Errorf("request %d: %d more replies; only one the killed runner was handling may get two", i, len(extra))
		}
		for _, raw := range extra {
			c.checkReply(t, i, raw)
		}
	}
	t.Logf("%d of %d requests answered more than once", twice, len(c.rets))
	if twice > e2eZbusMaxInFlight {
		t.Errorf("%d requests answered more than once, want at most %d (those the killed runner was handling)", twice, e2eZbusMaxInFlight)
	}
}
