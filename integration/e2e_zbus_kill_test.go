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
	// been handling (a request takes about a millisecond end to end; 10 ms apart, one at a
	// time is in flight, two on a loaded machine).
	e2eZbusInFlight    = 200 * time.Millisecond
	e2eZbusMaxInFlight = 2
)

// e2eTestZbusHolderKill: the hello-zbus sample on two runner processes; the one holding the
// msgbusd role (the lease in Redis names it, its runner logs the name) is killed with
// kill -9 while a seed-style client pushes requests to msgbus.system.local. An HTTP → zbus
// call through nginx sent right after the kill is answered 200 once the other runner took
// the lease, within the lease's TTL plus one renewal (plus slack); every request queued
// while no runner held the role gets its one reply, with its sum (see collect for the one
// the dying holder may take with it). The killed runner is started again, so the stack is
// whole for what follows.
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
	client.requireNoMore(t)
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
	b, _ := json.Marshal(map[string]any{"ver": 1, "uid": "", "cmd": "calc.add", "exp": 60, "try": 2,
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

// collect reads one reply from each ret by deadline and checks its sum. Every request
// queued after the holder died (the kill returned at killed) must be answered: it waited in
// msgbus.system.local for the new holder. One pushed before may be lost only if the dying
// runner had taken it: msgbusd's BLPOP is at most once, and so is ours, so a request
// popped by the holder (or handed by Redis to its BLPOP while the kill was under way, before
// the kernel closed its connection) and not yet written on dies with it. Such a loss must
// have been pushed at most e2eZbusInFlight before the kill, at most e2eZbusMaxInFlight of
// them; each is logged with where it was lost.
func (c *e2eZbusClient) collect(t *testing.T, kill, killed, deadline time.Time) {
	t.Helper()
	ok, lost := 0, []int{}
	for i, ret := range c.rets {
		res, err := c.rdb.BLPop(context.Background(), max(time.Until(deadline), 10*time.Millisecond), ret).Result()
		if err != nil {
			lost = append(lost, i)
			continue
		}
		var m struct{ Dat, Err string }
		if err := json.Unmarshal([]byte(res[1]), &m); err != nil {
			t.Errorf("request %d: reply %s: %v", i, res[1], err)
			continue
		}
		dat, _ := base64.StdEncoding.DecodeString(m.Dat)
		if want := fmt.Sprintf(`{"sum":%d}`, i+1000); m.Err != "" || string(dat) != want {
			t.Errorf("request %d: reply err %q dat %q, want %s", i, m.Err, dat, want)
			continue
		}
		ok++
	}
	t.Logf("%d of %d requests pushed around the kill answered with their sum", ok, len(c.rets))
	for _, i := range lost {
		t.Logf("request %d (pushed %s) got no reply by the deadline: %s", i, e2eSinceKill(c.at[i], kill, killed), c.lostWhere(c.rets[i]))
		if !c.at[i].Before(killed) || kill.Sub(c.at[i]) > e2eZbusInFlight {
			t.Errorf("request %d was lost: only one the killed runner was handling may be", i)
		}
	}
	if len(lost) > e2eZbusMaxInFlight {
		t.Errorf("%d requests lost, want at most %d (those the killed runner was handling)", len(lost), e2eZbusMaxInFlight)
	}
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

// lostWhere tells where a request without a reply was lost: a backlog entry holding ret
// means msgbusd's loop handled it and a command server (the killed runner's) took it from
// msgbus.calc.add; none means the killed msgbusd loop had popped it (or its reply).
func (c *e2eZbusClient) lostWhere(ret string) string {
	entries, err := c.rdb.HGetAll(context.Background(), "msgbus.system.backlog").Result()
	if err != nil {
		return fmt.Sprintf("reading the backlog: %v", err)
	}
	for uid, raw := range entries {
		if strings.Contains(raw, ret) {
			return "its backlog entry " + uid + " waits (a command server of the killed runner had taken it; its caller gets the timeout err at exp)"
		}
	}
	return "no backlog entry (the killed runner's msgbusd loop had popped it, or its reply, and died before writing on)"
}

// requireNoMore fails for any ret holding a second reply.
func (c *e2eZbusClient) requireNoMore(t *testing.T) {
	t.Helper()
	for i, ret := range c.rets {
		if n, err := c.rdb.LLen(context.Background(), ret).Result(); err != nil || n != 0 {
			t.Errorf("request %d: %d more replies (%v), want its one reply only", i, n, err)
		}
	}
}
