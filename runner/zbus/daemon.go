// The msgbusd role's main loop: requests of local clients, requests of other twins, and
// replies (the seed's flow, research §3.3).

package zbus

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Errors msgbusd puts in err (the seed's and msgbusd's wording).
const (
	errDestination = "destination not found"
	errAllRetries  = "could not send request and all retries done"
	errOverloaded  = "msgbusd is overloaded (backlog full)"
)

// timeoutErr is msgbusd's err for a request whose exp passed.
func timeoutErr(exp int64) string {
	return fmt.Sprintf("request timeout (expiration reached, %d seconds)", exp)
}

// defaultExp is msgbusd's exp for a request that gives 0.
const defaultExp = 3600

// maxRet bounds the name of a caller's reply queue (a uuid4 is 36 bytes).
const maxRet = 256

// maxBacklog bounds the requests awaiting replies; past it requests get errOverloaded.
const maxBacklog = 100000

// daemonQueues are msgbusd's queues the role pops, each by a loop of its own (BLMOVE takes
// one source).
var daemonQueues = []string{queueLocal, queueRemote, queueReply}

// daemonLoop runs a takeLoop per queue of msgbusd until ctx ends.
func (in *instance) daemonLoop(ctx context.Context) {
	done := make(chan struct{}, len(daemonQueues))
	for _, q := range daemonQueues {
		go func() { in.takeLoop(ctx, q); done <- struct{}{} }()
	}
	for range daemonQueues {
		<-done
	}
}

// takeLoop puts back what the previous holder left in queue's taken list, then takes
// queue's messages one at a time until ctx ends. A message taken is handled to the end
// with the instance's life, so a role lost meanwhile loses nothing of it, and leaves the
// taken list once handled.
func (in *instance) takeLoop(ctx context.Context, queue string) {
	var b backoff
	for ctx.Err() == nil {
		if err := in.putBack(ctx, queue); err != nil {
			if ctx.Err() == nil {
				in.redisFailed("put back "+queue, err)
			}
			b.wait(ctx)
			continue
		}
		if in.takeWhileComing(ctx, queue) {
			b.wait(ctx)
		} else {
			b.reset()
		}
	}
}

// takeWhileComing takes and handles queue's messages until one take waits in vain (true
// when it failed) or ctx ends.
func (in *instance) takeWhileComing(ctx context.Context, queue string) (failed bool) {
	for ctx.Err() == nil {
		raw, ok, err := take(ctx, in.rdb, queue)
		if err != nil {
			if ctx.Err() == nil {
				in.redisFailed("take "+queue, err)
			}
			return true
		}
		in.redisWorks()
		if !ok {
			return false
		}
		in.handle(queue, raw)
		in.taken(queue, raw)
	}
	return false
}

// handle handles a message taken from one of msgbusd's queues; one that does not decode
// is dropped.
func (in *instance) handle(queue, raw string) {
	m := in.decode(raw, "queue", queue)
	if m == nil {
		return
	}
	switch queue {
	case queueLocal:
		in.handleLocal(m)
	case queueRemote:
		in.handleRemote(m)
	case queueReply:
		in.handleReply(m)
	}
}

// handleLocal sends a local client's request to each destination: uid "<dst>.<counter>",
// src this twin, ret msgbus.system.reply, a backlog entry holding the caller's ret; a
// local destination gets it on msgbus.<cmd>, a remote one over HTTP.
func (in *instance) handleLocal(m *Message) {
	if err := in.checkLocal(m); err != nil {
		in.log.Info("zbus: refused a request", "err", err, "cmd", m.Cmd)
		if m.Ret != "" && len(m.Ret) <= maxRet && !strings.HasPrefix(m.Ret, "msgbus.") {
			in.answer(m.Ret, errorReply(m, 0, in.twin, "invalid message: "+err.Error()))
		}
		return
	}
	if m.Exp <= 0 {
		m.Exp = defaultExp
	}
	if m.Now == 0 {
		m.Now = time.Now().Unix()
	}
	for _, d := range m.Dst {
		in.sendTo(m, d)
	}
}

// checkLocal is Validate plus a ret that is no msgbus queue (a reply there would loop) and
// a cmd whose queue is not one of msgbusd's own.
func (in *instance) checkLocal(m *Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if strings.HasPrefix(m.Ret, "msgbus.") || len(m.Ret) > maxRet {
		return fmt.Errorf("ret %q is not a reply queue", m.Ret)
	}
	return checkCmd(m.Cmd)
}

// checkCmd refuses a cmd whose queue msgbus.<cmd> is one of msgbusd's own: a request
// delivered there would be taken for a message of msgbusd (on msgbus.system.remote, for
// ever, starving the replies).
func checkCmd(cmd string) error {
	if cmd == "system" || strings.HasPrefix(cmd, "system.") {
		return fmt.Errorf("cmd %q names msgbusd's own queue", cmd)
	}
	return nil
}

// sendTo handles one destination of a request.
func (in *instance) sendTo(m *Message, d int64) {
	ctx := in.life
	var n int64
	if untilDone(ctx, func(ctx context.Context) (err error) {
		n, err = in.rdb.Incr(ctx, counterKey(d)).Result()
		return err
	}) != nil {
		return
	}
	fwd := m.Clone()
	fwd.UID = twinString(d) + "." + strconv.FormatInt(n, 10)
	fwd.Src, fwd.Dst, fwd.Ret, fwd.Err = in.twin, []int64{d}, queueReply, ""
	back := fwd.Clone()
	back.Ret = m.Ret
	if d != in.twin && in.cfg.Twins[int(d)] == "" {
		in.answer(m.Ret, errorReply(back, d, in.twin, errDestination))
		return
	}
	if !in.storeBacklog(back) {
		in.answer(m.Ret, errorReply(back, d, in.twin, errOverloaded))
		return
	}
	if d == in.twin {
		_ = untilDone(ctx, func(ctx context.Context) error {
			return in.rdb.LPush(ctx, cmdQueue(fwd.Cmd), fwd.Encode()).Err()
		})
		return
	}
	in.sendRemote(fwd)
}

// handleRemote passes a request of another twin (checked by /zbus-remote or /zbus-cmd) on
// to its application, unchanged. It checks again: anyone with the Redis can push to
// msgbus.system.remote.
func (in *instance) handleRemote(m *Message) {
	err := m.Validate()
	if err == nil {
		err = checkCmd(m.Cmd)
	}
	if err != nil {
		in.log.Info("zbus: dropped a remote request", "err", err)
		return
	}
	_ = untilDone(in.life, func(ctx context.Context) error {
		return in.rdb.LPush(ctx, cmdQueue(m.Cmd), m.Encode()).Err()
	})
}

// handleReply routes a reply: a /zbus-cmd one (pxy) straight to its ret, one for this twin
// to the caller's ret found in the backlog, one for another twin to its /zbus-reply.
func (in *instance) handleReply(m *Message) {
	if err := m.ValidateReply(); err != nil {
		in.log.Info("zbus: dropped a reply", "err", err)
		return
	}
	switch {
	case m.Pxy():
		if isRetQueue(m.Ret) {
			in.answer(m.Ret, m)
		}
	case m.Dst[0] == in.twin:
		in.replyLocal(m)
	default:
		in.replyRemote(m)
	}
}

// replyLocal gives a reply to the caller whose request is in the backlog under its uid,
// sent to the twin the reply comes from; a reply to nothing there (late, or twice) is
// dropped.
func (in *instance) replyLocal(m *Message) {
	var back *Message
	if untilDone(in.life, func(ctx context.Context) (err error) {
		back, err = in.backlogEntry(ctx, m.UID)
		return err
	}) != nil {
		return
	}
	if back == nil || len(back.Dst) != 1 || back.Dst[0] != m.Src {
		in.log.Info("zbus: dropped a reply to no request pending at its src", "uid", m.UID, "src", m.Src)
		return
	}
	m.Ret = back.Ret
	if !in.answerEntry(m.UID, back.Ret, m) {
		in.log.Debug("zbus: dropped a reply to no pending request", "uid", m.UID)
	}
}

// answer pushes msg onto the caller's queue ret.
func (in *instance) answer(ret string, msg *Message) {
	_ = untilDone(in.life, func(ctx context.Context) error { return pushRet(ctx, in.rdb, ret, msg) })
}

// errorReply is the reply to req carrying err: from src to dst, no data, ret the caller's.
func errorReply(req *Message, src, dst int64, err string) *Message {
	r := req.Clone()
	r.Src, r.Dst, r.Dat, r.Err, r.Now = src, []int64{dst}, "", err, time.Now().Unix()
	return r
}
