// The backlog's upkeep while holding the msgbusd role: requests whose exp passed are
// answered with msgbusd's timeout error, sends to other twins that are due are retried.

package zbus

import (
	"context"
	"encoding/json"
	"time"
)

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
		back, ok := in.takeBacklog(uid)
		if !ok || len(back.Dst) != 1 {
			return
		}
		in.answer(back.Ret, errorReply(back, back.Dst[0], in.twin, timeoutErr(back.Exp)))
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
