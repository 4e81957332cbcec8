package zbus

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// TestTakenHandledByNextHolder: a holder dies (its loops end, its lease stays) with
// messages in the taken lists, as when it is killed between taking them and handling
// them: two requests of local clients and the reply to a request in the backlog. The
// next holder handles them, the requests before what waits in msgbus.system.local and in
// the order they were taken; every caller gets its reply and the taken lists are left
// empty.
func TestTakenHandledByNextHolder(t *testing.T) {
	r := testenv.StartRedis(t)
	c := client(t, r)
	ctx := context.Background()
	a := start(t, fast, config(r, 1002, nil), "route-a")
	waitHolder(t, a)
	a.cancel() // dies: its loops end without a word, the lease stays until its TTL
	a.wg.Wait()

	rets := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	first := seedRequest("calc.add", []int{1002}, 10, `{"a":1,"b":1}`, rets[0])
	c.RPush(ctx, takenList(queueLocal), first, seedRequest("calc.add", []int{1002}, 10, `{"a":1,"b":2}`, rets[1]))
	c.RPush(ctx, queueLocal, seedRequest("calc.add", []int{1002}, 10, `{"a":1,"b":3}`, rets[2]))
	replied := uuid.NewString()
	pending := &Message{Ver: 1, UID: "1002.77", Cmd: "calc.add", Exp: 10, Src: 1002, Dst: []int64{1002}, Ret: replied, Now: time.Now().Unix()}
	c.HSet(ctx, keyBacklog, pending.UID, pending.Encode())
	reply := pending.Clone()
	reply.Ret = queueReply
	reply.SetData([]byte(`{"sum":77}`))
	c.RPush(ctx, takenList(queueReply), reply.Encode())

	startPeer(t, r, "calc.add", false, add)
	b := start(t, fast, config(r, 1002, nil), "route-a")
	for i, ret := range rets {
		got := blpop(t, c, ret, 5*time.Second)
		if want := `{"sum":` + string(rune('2'+i)) + `}`; datOf(t, got) != want || got["err"] != "" {
			t.Errorf("request %d: reply %v, want %s", i, got, want)
		}
		if want := "1002." + string(rune('1'+i)); got["uid"] != want {
			t.Errorf("request %d: uid %v, want %s (handled in the order taken, before the queue)", i, got["uid"], want)
		}
	}
	if got := blpop(t, c, replied, 5*time.Second); datOf(t, got) != `{"sum":77}` || got["uid"] != "1002.77" {
		t.Errorf("the taken reply reached its caller as %v", got)
	}
	if !b.holder.Load() {
		t.Error("the next runner does not hold the role")
	}
	testenv.WaitFor(t, 5*time.Second, "the taken lists empty", func() bool { return takenEmpty(c) })
	if n, _ := c.HGet(ctx, keyReplays, sha1Hex(first)).Int(); n != 1 {
		t.Errorf("the request put back is counted %d times, want 1", n)
	}
}

// TestTakenWhileHolding: a message that lands in a taken list while the holder holds the
// role (Redis gave it to a take whose connection was cut, so no loop of the holder has it)
// is put back and handled once a take waited in vain, without a takeover.
func TestTakenWhileHolding(t *testing.T) {
	r := testenv.StartRedis(t)
	c := client(t, r)
	ctx := context.Background()
	startPeer(t, r, "calc.add", false, add)
	in := start(t, fast, config(r, 1002, nil), "route-a")
	waitHolder(t, in)
	ret := uuid.NewString()
	c.RPush(ctx, takenList(queueLocal), seedRequest("calc.add", []int{1002}, 10, `{"a":5,"b":1}`, ret))
	if got := blpop(t, c, ret, 3*popTimeout); datOf(t, got) != `{"sum":6}` {
		t.Errorf("the orphaned message: %v", got)
	}
	testenv.WaitFor(t, 5*time.Second, "the taken lists empty", func() bool { return takenEmpty(c) })
}

// TestTakenReplaysBounded: a message found in a taken list at maxReplays takeovers already
// (it may be what kills its holders) is dropped at the next instead of handled again;
// the queue goes on.
func TestTakenReplaysBounded(t *testing.T) {
	r := testenv.StartRedis(t)
	c := client(t, r)
	ctx := context.Background()
	startPeer(t, r, "calc.add", false, add)
	poison, good := uuid.NewString(), uuid.NewString()
	req := seedRequest("calc.add", []int{1002}, 10, `{"a":1,"b":1}`, poison)
	c.HSet(ctx, keyReplays, sha1Hex(req), maxReplays)
	c.RPush(ctx, takenList(queueLocal), req)

	in := start(t, fast, config(r, 1002, nil), "route-a")
	waitHolder(t, in)
	testenv.WaitFor(t, 5*time.Second, "the taken lists empty", func() bool { return takenEmpty(c) })
	c.RPush(ctx, queueLocal, seedRequest("calc.add", []int{1002}, 10, `{"a":2,"b":2}`, good))
	if got := blpop(t, c, good, 5*time.Second); datOf(t, got) != `{"sum":4}` {
		t.Errorf("the request after the dropped one: %v", got)
	}
	if n := c.LLen(ctx, poison).Val(); n != 0 {
		t.Errorf("the message replayed too often was handled: %d replies", n)
	}
	if c.HExists(ctx, keyReplays, sha1Hex(req)).Val() {
		t.Error("the dropped message is still counted")
	}
}

// takenEmpty reports whether the three taken lists are empty.
func takenEmpty(c *redis.Client) bool {
	for _, q := range daemonQueues {
		if c.LLen(context.Background(), takenList(q)).Val() != 0 {
			return false
		}
	}
	return true
}

// sha1Hex is the message's id in keyReplays.
func sha1Hex(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}
