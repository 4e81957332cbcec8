// zbus → the bundle: the commands of serve, popped from msgbus.<cmd>, POSTed to the
// node, answered on msgbus.system.reply.

package zbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/funcatron/funcatron/runner/exec"
	"github.com/valyala/fasthttp"
)

// maxPoppers bounds the goroutines blocked on msgbus.<cmd> (each holds a Redis connection).
const maxPoppers = 4

// startServers starts the poppers of the serve commands (every instance of the bundle
// serves them: competing consumers on Redis).
func (in *instance) startServers() {
	if len(in.cfg.Serve) == 0 || in.node == nil {
		return
	}
	queues := make([]string, 0, len(in.cfg.Serve))
	for _, e := range in.cfg.Serve {
		queues = append(queues, cmdQueue(e.Cmd))
	}
	for range min(in.cfg.Concurrency, maxPoppers) {
		in.run(func(ctx context.Context) { in.popCommands(ctx, queues) })
	}
}

// popCommands takes a handler slot, then waits for a command on queues (BRPOP, as the
// seed's applications), and handles it in the background; a command is never taken
// without a slot to run it.
func (in *instance) popCommands(ctx context.Context, queues []string) {
	var b backoff
	for {
		select {
		case in.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		queue, raw, err := pop(ctx, in.rdb, queues...)
		if err != nil || queue == "" {
			<-in.sem
			if err != nil {
				in.redisFailed("pop "+strings.Join(queues, " "), err)
				if !b.wait(ctx) {
					return
				}
			}
			continue
		}
		b.reset()
		in.redisWorks()
		in.wg.Add(1)
		go func() {
			defer in.wg.Done()
			defer func() { <-in.sem }()
			in.handleCommand(strings.TrimPrefix(queue, "msgbus."), raw)
		}()
	}
}

// handleCommand runs one command on the node and pushes the reply: src and dst swapped,
// dat the node's response, err when it failed, now updated; every other field kept.
func (in *instance) handleCommand(cmd, raw string) {
	m := in.decode(raw, "cmd", cmd)
	if m == nil {
		return
	}
	reply := m.Clone()
	if len(m.Dst) > 0 {
		reply.Src = m.Dst[0]
	} else {
		reply.Src = in.twin
	}
	reply.Dst, reply.Dat, reply.Err = []int64{m.Src}, "", ""
	if err := m.Validate(); err != nil {
		reply.Err = "invalid message: " + err.Error()
	} else if body, err := in.runNode(in.served[cmd], m); err != nil {
		reply.Err = err.Error()
	} else {
		reply.SetData(body)
	}
	reply.Now = time.Now().Unix()
	_ = untilDone(in.life, func(ctx context.Context) error {
		return in.rdb.LPush(ctx, queueReply, reply.Encode()).Err()
	})
}

// Errors a command's reply carries when the node fails (no internals).
var (
	errNodeTimeout = errors.New("the command did not answer in time")
	errNodeFailed  = errors.New("the command failed to answer")
	errNodeDown    = errors.New("the command is not running")
)

// runNode POSTs the decoded dat to the node at path, within the node's timeout. A status
// other than 2xx is an error carrying the status and the start of the body (the node's
// own error message, such as "division by zero").
func (in *instance) runNode(path string, m *Message) ([]byte, error) {
	data, _ := m.Data()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod("POST")
	req.SetRequestURI(path)
	req.Header.SetContentType(contentType(data))
	req.Header.Set("X-Zbus-Cmd", m.Cmd)
	req.Header.Set("X-Zbus-Uid", m.UID)
	req.Header.Set("X-Zbus-Src", strconv.FormatInt(m.Src, 10))
	req.SetBodyRaw(data)
	err := in.node.Do(in.life, req, resp)
	switch {
	case err == nil:
	case errors.Is(err, exec.ErrNotRunning):
		return nil, errNodeDown
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrNoFreeConns):
		in.log.Warn("zbus: the node timed out", "cmd", m.Cmd, "uid", m.UID)
		return nil, errNodeTimeout
	default:
		in.log.Warn("zbus: the node failed", "cmd", m.Cmd, "uid", m.UID, "err", err)
		return nil, errNodeFailed
	}
	if s := resp.StatusCode(); s < 200 || s > 299 {
		return nil, fmt.Errorf("status %d: %s", s, excerpt(resp.Body()))
	}
	return append([]byte(nil), resp.Body()...), nil
}

// excerpt is the start of a node's error body as text: at most 256 bytes of valid UTF-8.
func excerpt(b []byte) string {
	if len(b) > 256 {
		b = b[:256]
	}
	return strings.TrimSpace(strings.ToValidUTF8(string(b), ""))
}

// decode reads a message popped from Redis (from is what the log names: "queue" or "cmd"
// and which one), nil when it is over the size limit or not JSON: logged and dropped, as
// msgbusd drops what it cannot parse.
func (in *instance) decode(raw, from, which string) *Message {
	if len(raw) > in.k.MaxMessageBytes {
		in.log.Warn("zbus: dropped a message over the size limit", from, which, "bytes", len(raw))
		return nil
	}
	m, err := Decode([]byte(raw))
	if err != nil {
		in.log.Warn("zbus: dropped a message that is not JSON", from, which)
		return nil
	}
	return m
}
