// HTTP → zbus: an operation with x-zbus sends its request body as a command and answers
// with the replies.

package zbus

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/runner/kind"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Serve answers one request: an endpoint of endpoints: true, or an operation with x-zbus.
func (in *instance) Serve(ctx context.Context, c *kind.Call, out *protocol.AnswerBody) {
	if in.cfg.Endpoints && in.serveEndpoint(ctx, c, out) {
		return
	}
	rt, ok := in.cfg.Routes[c.Op]
	if !ok {
		kind.ErrorAnswer(out, http.StatusNotFound, "operation "+c.Op+" has no x-zbus command")
		return
	}
	if len(c.Svc.Body) > in.k.MaxMessageBytes/2 {
		kind.ErrorAnswer(out, http.StatusRequestEntityTooLarge, "the request body is too large for a zbus message")
		return
	}
	replies, err := in.call(ctx, rt, c.Svc.Body)
	if err != nil {
		kind.Unavailable(out, "the bus (Redis) is unreachable")
		return
	}
	answerReplies(out, rt, replies)
}

// request builds the seed's message for a call: ver 1, dat the body, ret a new uuid4, now.
func request(rt bundles.ZbusRoute, body []byte) *Message {
	m := &Message{Ver: 1, Cmd: rt.Cmd, Exp: int64(rt.Exp), Try: int64(rt.Try), Ret: uuid.NewString(), Now: time.Now().Unix()}
	for _, d := range rt.Dst {
		m.Dst = append(m.Dst, int64(d))
	}
	m.SetData(body)
	return m
}

// call pushes the request to msgbus.system.local (RPUSH, as the seed's client) and waits
// on its ret for len(dst) replies until exp or ctx ends. It fails only when the request
// could not be pushed; the replies it has by then are returned otherwise. The wait is exp
// from the real clock, not from the message's now: now is whole seconds, so a deadline
// taken from it would cut the wait to anywhere between exp-1 and exp (a few ms for exp 1).
func (in *instance) call(ctx context.Context, rt bundles.ZbusRoute, body []byte) ([]*Message, error) {
	deadline := time.Now().Add(time.Duration(rt.Exp) * time.Second)
	m := request(rt, body)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if err := in.rdb.RPush(ctx, queueLocal, m.Encode()).Err(); err != nil {
		return nil, err
	}
	defer in.dropRet(m.Ret)
	var replies []*Message
	var b backoff
	for len(replies) < len(rt.Dst) && ctx.Err() == nil {
		raw, err := popFor(ctx, in.rdb, m.Ret, time.Until(deadline))
		if err != nil {
			b.wait(ctx)
			continue
		}
		b.reset()
		if raw == "" || len(raw) > in.k.MaxMessageBytes {
			continue
		}
		if r, err := Decode([]byte(raw)); err == nil {
			replies = append(replies, r)
		}
	}
	return replies, nil
}

// popFor BLPOPs one value of queue, blocking at most min(left, popTimeout) (Redis takes
// fractions of seconds); "" when nothing came.
func popFor(ctx context.Context, rdb *redis.Client, queue string, left time.Duration) (string, error) {
	secs := min(left, popTimeout).Seconds()
	if secs < 0.01 {
		secs = 0.01
	}
	res, err := rdb.Do(ctx, "BLPOP", queue, secs).StringSlice()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if len(res) != 2 {
		return "", errors.New("BLPOP: unexpected reply")
	}
	return res[1], nil
}

// dropRet deletes a call's reply queue: replies after the answer are of no use.
func (in *instance) dropRet(ret string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	in.rdb.Del(ctx, ret)
}
