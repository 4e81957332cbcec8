// The taken lists: msgbusd's queues are popped at least once. A message is moved (BLMOVE)
// from its queue into the role's taken list for that queue, and removed from there once
// handled; a holder puts back what it finds there when it takes the role, so a holder
// that dies (kill -9, a crash) loses nothing it had taken.

package zbus

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Funcatron's keys for the taken messages, beside msgbusd's.
const (
	// takenPrefix + the queue's suffix ("local", "remote", "reply") is the taken list of
	// that queue: one per queue, as one runner at a time holds the role.
	takenPrefix = "msgbus.system.funcatron.taken."
	// keyReplays counts, per message (the SHA-1 of its bytes: an identity, not a
	// safeguard), how often it was put back; it expires replaysKeep after the last one.
	keyReplays = "msgbus.system.funcatron.replays"
)

// maxReplays bounds the put-backs of one message: a message that was still taken at
// maxReplays takeovers already (it may be what kills its holders) is dropped, logged, at
// the next.
const (
	maxReplays  = 3
	replaysKeep = time.Hour
	// putBackBatch bounds the messages one putBackScript call moves (a script blocks Redis).
	putBackBatch = 100
)

// takenList is the taken list of one of msgbusd's queues.
func takenList(queue string) string {
	return takenPrefix + strings.TrimPrefix(queue, "msgbus.system.")
}

// take waits up to popTimeout for a message on queue and moves it to the queue's taken
// list, from the left as msgbusd's BLPOP (so RPUSH clients are served in order, LPUSH
// ones newest first, as with msgbusd). ok is false when nothing came.
func take(ctx context.Context, rdb *redis.Client, queue string) (raw string, ok bool, err error) {
	raw, err = rdb.BLMove(ctx, queue, takenList(queue), "LEFT", "RIGHT", popTimeout).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	return raw, err == nil, err
}

// taken removes one copy of raw from queue's taken list: it is handled (written on to the
// backlog, msgbus.<cmd>, a twin or its caller). It is left there when the instance
// stopped meanwhile, as its writes may have been cut short: the next holder handles it
// again.
func (in *instance) taken(queue, raw string) {
	if in.life.Err() != nil {
		return
	}
	_ = untilDone(in.life, func(ctx context.Context) error {
		return in.rdb.LRem(ctx, takenList(queue), 1, raw).Err()
	})
}

// putBackScript moves up to ARGV[3] messages from the taken list KEYS[1] back to the front
// of their queue KEYS[2], keeping their order, and counts each in the hash KEYS[3] (kept
// ARGV[2] ms); one counted more than ARGV[1] times is dropped instead. It returns the
// messages put back, those dropped, and those left.
var putBackScript = redis.NewScript(`
local back, dropped = 0, 0
for i = 1, tonumber(ARGV[3]) do
  local v = redis.call('RPOP', KEYS[1])
  if not v then break end
  local id = redis.sha1hex(v)
  if redis.call('HINCRBY', KEYS[3], id, 1) > tonumber(ARGV[1]) then
    redis.call('HDEL', KEYS[3], id)
    dropped = dropped + 1
  else
    redis.call('LPUSH', KEYS[2], v)
    back = back + 1
  end
end
if back > 0 then redis.call('PEXPIRE', KEYS[3], ARGV[2]) end
return {back, dropped, redis.call('LLEN', KEYS[1])}
`)

// putBack moves whatever is in queue's taken list back to the front of queue: messages a
// previous holder (dead, or that lost its lease) had taken and not finished. Called when
// this holder holds none of them itself: before its first take, and after a take that
// waited in vain (a message Redis gave to a connection of ours that was cut meanwhile).
func (in *instance) putBack(ctx context.Context, queue string) error {
	keys := []string{takenList(queue), queue, keyReplays}
	for {
		res, err := putBackScript.Run(ctx, in.rdb, keys, maxReplays, replaysKeep.Milliseconds(), putBackBatch).Int64Slice()
		if err != nil {
			return err
		}
		if len(res) != 3 {
			return errors.New("zbus: unexpected answer of the put-back script")
		}
		if res[0] > 0 {
			in.log.Info("zbus: handling again messages a previous msgbusd had taken", "queue", queue, "messages", res[0])
		}
		if res[1] > 0 {
			in.log.Warn("zbus: dropped messages taken at too many takeovers", "queue", queue, "messages", res[1], "takeovers", maxReplays+1)
		}
		if res[2] == 0 {
			return nil
		}
	}
}
