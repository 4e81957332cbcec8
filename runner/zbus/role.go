// The msgbusd role: one holder per Redis, by a lease its holder renews; and the claim
// that keeps a second deployment off a Redis that already serves one.

package zbus

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// claimScript takes or refreshes the claim (a hash: route, twin) for ARGV route and twin
// with a TTL of ARGV[3] ms, unless another route holds it: then it returns that route and
// twin.
var claimScript = redis.NewScript(`
local route = redis.call('HGET', KEYS[1], 'route')
if route and route ~= ARGV[1] then
  return {route, redis.call('HGET', KEYS[1], 'twin') or ''}
end
redis.call('HSET', KEYS[1], 'route', ARGV[1], 'twin', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return false
`)

// leaseScript takes the lease when free, or renews it when ARGV[1] holds it; 1 when held.
var leaseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`)

// releaseScript deletes the lease if ARGV[1] holds it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// errClaimed is the claim's refusal.
type errClaimed struct{ redisURL, route, twin string }

func (e *errClaimed) Error() string {
	return fmt.Sprintf("zbus: Redis %s already serves twin %s for the deployment on %s; one zbus deployment per Redis "+
		"(msgbusd's queues are per Redis): give this bundle a Redis of its own, or disable the other (its claim expires "+
		"a few seconds after it stops)", e.redisURL, e.twin, e.route)
}

// claimTTL is how long the claim outlives the last instance that refreshed it.
func (in *instance) claimTTL() time.Duration { return 3 * in.k.LeaseTTL }

// claim takes or refreshes the claim for this deployment.
func (in *instance) claim(ctx context.Context) error {
	res, err := claimScript.Run(ctx, in.rdb, []string{keyClaim}, in.route, in.twin, in.claimTTL().Milliseconds()).Slice()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("zbus: claiming Redis %s: %v", redactURL(in.cfg.Redis), err)
	}
	other := make([]string, 2)
	for i := range min(2, len(res)) {
		other[i], _ = res[i].(string)
	}
	return &errClaimed{redactURL(in.cfg.Redis), other[0], other[1]}
}

// roleLoop refreshes the claim and takes or renews the lease every third of its TTL, and
// runs the msgbusd loops while this instance holds it. A Redis error drops the role at
// once (another runner may take it when the lease runs out); it is taken again when Redis
// is back and the lease is free.
func (in *instance) roleLoop(ctx context.Context) {
	var stopRole func()
	defer func() {
		if stopRole != nil {
			stopRole()
		}
	}()
	tick := time.NewTicker(in.k.LeaseTTL / 3)
	defer tick.Stop()
	for {
		held := in.renew(ctx)
		switch {
		case held && stopRole == nil:
			stopRole = in.startRole(ctx)
		case !held && stopRole != nil:
			stopRole()
			stopRole = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// renew refreshes the claim and the lease; it reports whether this instance holds the role.
func (in *instance) renew(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, in.k.LeaseTTL/3)
	defer cancel()
	err := in.claim(ctx)
	var ec *errClaimed
	if errors.As(err, &ec) {
		if in.refused.Swap(ec.Error()) == nil {
			in.log.Error("zbus: lost this Redis to another deployment; not acting as msgbusd", "err", ec)
		}
		return false
	}
	if err != nil {
		in.redisFailed("claim", err)
		return false
	}
	n, err := leaseScript.Run(ctx, in.rdb, []string{keyLease}, in.id, in.k.LeaseTTL.Milliseconds()).Int()
	if err != nil {
		in.redisFailed("lease", err)
		return false
	}
	in.redisWorks()
	return n == 1
}

// startRole starts the msgbusd loops; the returned func stops them and waits. Each take
// loop first puts back what a previous holder left in its taken list (taken.go), so a
// takeover handles again what a dead holder had taken.
func (in *instance) startRole(ctx context.Context) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	in.holder.Store(true)
	// The lease's value is in.id: logged so that an operator (and the end-to-end test)
	// can tell from GET msgbus.system.funcatron.lease which runner holds the role.
	in.log.Info("zbus: acting as msgbusd", "lease", in.id)
	go func() { in.daemonLoop(ctx); done <- struct{}{} }()
	go func() { in.scrubLoop(ctx); done <- struct{}{} }()
	return func() {
		cancel()
		<-done
		<-done
		in.holder.Store(false)
		in.log.Info("zbus: no longer msgbusd")
	}
}

// release gives the lease up on Stop, so another runner takes the role at once.
func (in *instance) release() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = releaseScript.Run(ctx, in.rdb, []string{keyLease}, in.id).Err()
}

// redactURL drops the password of a Redis URL, for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}

// twinString formats a twin id.
func twinString(t int64) string { return strconv.FormatInt(t, 10) }
