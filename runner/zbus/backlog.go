// The backlog: its entries (stored, read, answered), and its upkeep while holding the
// msgbusd role: requests whose exp passed are answered with msgbusd's timeout error, sends
// to other twins that are due are retried.

package zbus

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// storeBacklog records a request awaiting its reply; false when the backlog is full.
func (in *instance) storeBacklog(back *Message) bool {
	var size int64
	_ = untilDone(in.life, func(ctx context.Context) (err error) {
		size, err = in.rdb.HLen(ctx, keyBacklog).Result()
		return err
	})
	if size >= maxBacklog {
		return false
	}
	return untilDone(in.life, func(ctx context.Context) error {
		return in.rdb.HSet(ctx, keyBacklog, back.UID, back.Encode()).Err()
	}) == nil
}

// backlogEntry reads the backlog entry of uid; nil when there is none (or it does not
// decode).
func (in *instance) backlogEntry(ctx context.Context, uid string) (*Message, error) {
	raw, err := in.rdb.HGet(ctx, keyBacklog, uid).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	back, _ := Decode([]byte(raw))
	return back, nil
}

// answerScript removes the backlog entry ARGV[1] and its retry and, when the entry was
// there, pushes ARGV[2] (unless empty) onto the caller's queue KEYS[3], kept ARGV[3] s:
// one step, so that the runner removing an entry cannot die before answering. 1 when the
// entry was there.
var answerScript = redis.NewScript(`
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
if ARGV[2] ~= '' then
  redis.call('LPUSH', KEYS[3], ARGV[2])
  redis.call('EXPIRE', KEYS[3], ARGV[3])
end
return 1
`)

// answerEntry removes the backlog entry of uid and answers msg on ret (nil: no answer).
// Whoever removes the entry answers (reply, expiry, final send failure), so a caller never
// gets two answers for one uid; false when the entry was gone.
func (in *instance) answerEntry(uid, ret string, msg *Message) bool {
	var body string
	if msg != nil {
		body = string(msg.Encode())
	}
	var n int
	err := untilDone(in.life, func(ctx context.Context) (err error) {
		n, err = answerScript.Run(ctx, in.rdb, []string{keyBacklog, keyRetry, ret}, uid, body, int(retKeep.Seconds())).Int()
		return err
	})
	return err == nil && n == 1
}

// settle answers the caller of the backlog entry uid with what reply makes of the entry
// (nil: no answer) and removes it; an entry that does not decode is removed unanswered.
func (in *instance) settle(uid string, reply func(back *Message) *Message) {
	var raw string
	var gone bool
	if untilDone(in.life, func(ctx context.Context) (err error) {
		raw, err = in.rdb.HGet(ctx, keyBacklog, uid).Result()
		gone = errors.Is(err, redis.Nil)
		if gone {
			return nil
		}
		return err
	}) != nil || gone {
		return
	}
	back, err := Decode([]byte(raw))
	if err != nil {
		in.answerEntry(uid, "", nil)
		return
	}
	in.answerEntry(uid, back.Ret, reply(back))
}

// scrubLoop scrubs the backlog and the retries every ScrubInterval until ctx ends.
func (in *instance) scrubLoop(ctx context.Context) {
	t := time.NewTicker(in.k.ScrubInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		in.scrub(ctx)
		in.retryDue(ctx)
	}
}

// scrub answers every request in the backlog whose now+exp passed with
// "request timeout (expiration reached, N seconds)".
func (in *instance) scrub(ctx context.Context) {
	now := time.Now().Unix()
	in.scan(ctx, keyBacklog, func(uid, raw string) {
		m, err := Decode([]byte(raw))
		if err == nil && m.Now+m.Exp >= now {
			return
		}
		in.settle(uid, func(back *Message) *Message {
			if len(back.Dst) != 1 {
				return nil
			}
			return errorReply(back, back.Dst[0], in.twin, timeoutErr(back.Exp))
		})
	})
}

// scan calls f for each field of the hash key, a batch at a time.
func (in *instance) scan(ctx context.Context, key string, f func(field, value string)) {
	var cursor uint64
	for ctx.Err() == nil {
		kv, next, err := in.rdb.HScan(ctx, key, cursor, "", 200).Result()
		if err != nil {
			in.redisFailed("scan", err)
			return
		}
		for i := 0; i+1 < len(kv); i += 2 {
			f(kv[i], kv[i+1])
		}
		if next == 0 {
			return
		}
		cursor = next
	}
}

// retry is an entry of msgbus.system.retry: a send to retry at At (unix ms). In Redis, so
// that a new holder of the role carries on the old one's retries.
type retry struct {
	At  int64    `json:"at"`
	Msg *Message `json:"msg"`
}

// retryDue sends again every retry whose time came.
func (in *instance) retryDue(ctx context.Context) {
	now := time.Now().UnixMilli()
	in.scan(ctx, keyRetry, func(uid, raw string) {
		var r struct {
			At  int64           `json:"at"`
			Msg json.RawMessage `json:"msg"`
		}
		if json.Unmarshal([]byte(raw), &r) == nil && r.At > now {
			return
		}
		if n, err := in.rdb.HDel(ctx, keyRetry, uid).Result(); err != nil || n == 0 {
			return // another holder took it, or Redis failed: it stays for the next scan
		}
		m, err := Decode(r.Msg)
		if err != nil || len(m.Dst) != 1 {
			return
		}
		in.sendRemote(m)
	})
}

// scheduleRetry records fwd to be sent again after the retry interval. It is written even
// when the instance is stopping, so another runner carries it on.
func (in *instance) scheduleRetry(fwd *Message) {
	ctx := in.life
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
	}
	body, _ := json.Marshal(retry{At: time.Now().Add(in.k.RetryInterval).UnixMilli(), Msg: fwd})
	_ = untilDone(ctx, func(ctx context.Context) error {
		return in.rdb.HSet(ctx, keyRetry, fwd.UID, body).Err()
	})
}
