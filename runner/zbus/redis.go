// Redis: the msgbusd keys, the client, and the two ways of waiting the kind uses (short
// blocking pops, retries until Redis is back).

package zbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/funcatron/funcatron/internal/wait"
)

// The msgbusd keys (research §3.2).
const (
	queueLocal  = "msgbus.system.local"  // client requests
	queueRemote = "msgbus.system.remote" // requests from other twins (/zbus-remote, /zbus-cmd)
	queueReply  = "msgbus.system.reply"  // replies of applications and of other twins
	keyBacklog  = "msgbus.system.backlog"
	keyRetry    = "msgbus.system.retry"
	// keyLease holds the msgbusd role (the holder's id); keyClaim the deployment (twin
	// and route) that owns this Redis. Funcatron's own keys, beside msgbusd's.
	// (The taken lists and keyReplays, taken.go, are Funcatron's too.)
	keyLease = "msgbus.system.funcatron.lease"
	keyClaim = "msgbus.system.funcatron.claim"
)

func cmdQueue(cmd string) string   { return "msgbus." + cmd }
func counterKey(twin int64) string { return "msgbus.counter." + strconv.FormatInt(twin, 10) }

// retKeep is how long a reply queue (ret) lives after a push, so a caller that went away
// leaves no key forever (msgbusd development: EXPIRE 1800).
const retKeep = 30 * time.Minute

// debugLog is go-redis's logger: its lines (a failed dial on every retry while Redis is
// down) go to slog at debug level; the kind logs what matters once, at warn.
type debugLog struct{}

func (debugLog) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

var quietRedis sync.Once

// newClient connects to url with timeouts short enough that a lost Redis is noticed in
// seconds. poolSize must cover every blocking pop at once plus the other commands.
func newClient(url string, poolSize int) (*redis.Client, error) {
	quietRedis.Do(func() { redis.SetLogger(debugLog{}) })
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = 3 * time.Second
	opt.WriteTimeout = 3 * time.Second
	opt.PoolSize = poolSize
	opt.PoolTimeout = 5 * time.Second
	opt.MaxRetries = 1
	opt.ContextTimeoutEnabled = true
	opt.Protocol = 2
	opt.DisableIdentity = true
	return redis.NewClient(opt), nil
}

// popTimeout is the block of one pop: short, so a stop is prompt.
const popTimeout = time.Second

// pop waits up to popTimeout for a command on one of queues (BRPOP msgbus.<cmd>, as the
// seed's applications). It returns the queue and the value, "" when nothing came, or
// Redis's error. (msgbusd's own queues are taken with take, taken.go.)
func pop(ctx context.Context, rdb *redis.Client, queues ...string) (string, string, error) {
	res, err := rdb.BRPop(ctx, popTimeout, queues...).Result()
	if errors.Is(err, redis.Nil) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	return res[0], res[1], nil
}

// backoff is the pause after a Redis error, doubling from 100 ms to 2 s.
type backoff struct{ d time.Duration }

// wait sleeps the next pause; false when ctx ended.
func (b *backoff) wait(ctx context.Context) bool {
	b.d = min(max(2*b.d, 100*time.Millisecond), 2*time.Second)
	return wait.Pause(ctx, b.d)
}

func (b *backoff) reset() { b.d = 0 }

// untilDone runs f until it succeeds or ctx ends, pausing after each failure: what a
// message already taken from Redis needs so that a lost Redis loses nothing of it.
func untilDone(ctx context.Context, f func(context.Context) error) error {
	var b backoff
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if !b.wait(ctx) {
			return err
		}
	}
}

// pushRet LPUSHes a reply onto a caller's queue (as msgbusd) and keeps it retKeep.
func pushRet(ctx context.Context, rdb *redis.Client, ret string, m *Message) error {
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, ret, m.Encode())
		p.Expire(ctx, ret, retKeep)
		return nil
	})
	return err
}
