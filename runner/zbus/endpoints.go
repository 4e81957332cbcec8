// The /zbus-* endpoints of endpoints: true (msgbusd's HTTP API, research §3.4). They face
// the internet, so each takes only what msgbusd would act on for this twin.

package zbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/runner/kind"
	"github.com/google/uuid"
)

// endpointError is an endpoint's refusal: status and message.
type endpointError struct {
	status int
	msg    string
}

func (e *endpointError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &endpointError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// serveEndpoint answers c when it is an endpoint; false when it is not one.
func (in *instance) serveEndpoint(ctx context.Context, c *kind.Call, out *protocol.AnswerBody) bool {
	var answer any
	var err error
	switch c.Op {
	case "zbus-remote":
		err = in.acceptRemote(ctx, c.Svc.Body)
	case "zbus-reply":
		err = in.acceptReply(ctx, c.Svc.Body)
	case "zbus-cmd":
		answer, err = in.acceptCmd(ctx, c.Svc.Body)
	case "zbus-result":
		answer, err = in.result(ctx, c.Svc.Body)
	default:
		return false
	}
	var ee *endpointError
	switch {
	case errors.As(err, &ee):
		kind.JSONAnswer(out, ee.status, map[string]string{"status": "error", "message": ee.msg})
	case err != nil:
		in.log.Warn("zbus: an endpoint failed on Redis", "op", c.Op, "err", err)
		kind.JSONAnswer(out, http.StatusInternalServerError, map[string]string{"status": "error", "message": "the bus (Redis) failed"})
	case answer == nil:
		kind.JSONAnswer(out, http.StatusOK, map[string]string{"status": "accepted"})
	default:
		kind.JSONAnswer(out, http.StatusOK, answer)
	}
	return true
}

// decodeFresh decodes an endpoint's message and checks its now is within MaxAge of ours.
func (in *instance) decodeFresh(body []byte) (*Message, error) {
	if len(body) > in.k.MaxMessageBytes {
		return nil, &endpointError{http.StatusRequestEntityTooLarge, "the message is too large"}
	}
	m, err := Decode(body)
	if err != nil {
		return nil, badRequest("could not parse message request")
	}
	age := time.Since(time.Unix(m.Now, 0))
	if m.Now == 0 || age > in.k.MaxAge || -age > in.k.MaxAge {
		return nil, badRequest("the message's now is more than %s from this twin's clock", in.k.MaxAge)
	}
	return m, nil
}

// acceptRemote takes a request of another twin: valid, for this twin only, for a command
// this bundle serves, from a twin of the directory (when there is one).
func (in *instance) acceptRemote(ctx context.Context, body []byte) error {
	m, err := in.decodeFresh(body)
	if err != nil {
		return err
	}
	if err := in.checkServed(m); err != nil {
		return err
	}
	if len(m.Dst) != 1 || m.Dst[0] != in.twin {
		return badRequest("dst must be [%d], this twin", in.twin)
	}
	// A request from this twin itself never comes over HTTP (local destinations go
	// straight to msgbus.<cmd>): one claiming to would have its reply taken for a reply to
	// one of our own requests.
	if m.Src < 1 || m.Src == in.twin || in.cfg.Twins != nil && in.cfg.Twins[int(m.Src)] == "" {
		return badRequest("src %d is not another twin of the directory", m.Src)
	}
	if m.UID == "" || m.Ret != queueReply {
		return badRequest("uid must be set and ret be %s, as msgbusd sends them", queueReply)
	}
	if m.Pxy() {
		return badRequest("pxy requests go to /zbus-cmd")
	}
	return in.rdb.RPush(ctx, queueRemote, m.Encode()).Err()
}

// checkServed checks a request and that this bundle serves its command.
func (in *instance) checkServed(m *Message) error {
	if err := m.Validate(); err != nil {
		return badRequest("invalid message: %v", err)
	}
	if _, ok := in.served[m.Cmd]; !ok {
		return &endpointError{http.StatusNotFound, "function not found"}
	}
	return nil
}

// acceptReply takes a reply of another twin to a request of this twin: its uid must be in
// the backlog, sent to the twin that replies.
func (in *instance) acceptReply(ctx context.Context, body []byte) error {
	m, err := in.decodeFresh(body)
	if err != nil {
		return err
	}
	if err := m.ValidateReply(); err != nil {
		return badRequest("invalid reply: %v", err)
	}
	if m.Dst[0] != in.twin || m.Pxy() {
		return badRequest("dst must be [%d], this twin", in.twin)
	}
	back, err := in.backlogEntry(ctx, m.UID)
	if err != nil {
		return err
	}
	if back == nil || len(back.Dst) != 1 || back.Dst[0] != m.Src {
		return badRequest("no request of this twin to twin %d awaits a reply with uid %q", m.Src, m.UID)
	}
	return in.rdb.RPush(ctx, queueReply, m.Encode()).Err()
}

// retqueue is /zbus-cmd's answer and /zbus-result's request.
type retqueue struct {
	Retqueue string `json:"retqueue"`
}

// acceptCmd takes a command for this twin (msgbusd development's /zbus-cmd): pxy true, a
// new ret whose replies /zbus-result reads.
func (in *instance) acceptCmd(ctx context.Context, body []byte) (any, error) {
	m, err := in.decodeFresh(body)
	if err != nil {
		return nil, err
	}
	m.Dst = []int64{in.twin}
	if m.Ret == "" {
		m.Ret = "-" // set below; Validate wants one
	}
	if err := in.checkServed(m); err != nil {
		return nil, err
	}
	m.Ret = uuid.NewString()
	if m.UID == "" {
		m.UID = m.Ret // a reply needs one
	}
	m.SetExtra("pxy", json.RawMessage("true"))
	if err := in.rdb.RPush(ctx, queueRemote, m.Encode()).Err(); err != nil {
		return nil, err
	}
	return retqueue{m.Ret}, nil
}

// uuidPattern is what a retqueue must be (msgbusd development checks it the same way).
var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func isRetQueue(s string) bool { return uuidPattern.MatchString(s) }

// maxResults bounds the replies /zbus-result returns.
const maxResults = 100

// result answers the replies on a retqueue so far (they stay there), dat decoded, now
// set to this twin's clock.
func (in *instance) result(ctx context.Context, body []byte) (any, error) {
	var q retqueue
	if json.Unmarshal(body, &q) != nil || !isRetQueue(q.Retqueue) {
		return nil, badRequest("want {\"retqueue\": \"<uuid4>\"}")
	}
	raws, err := in.rdb.LRange(ctx, q.Retqueue, 0, maxResults-1).Result()
	if err != nil {
		return nil, err
	}
	list := []*Message{}
	for _, raw := range raws {
		m, err := Decode([]byte(raw))
		if err != nil {
			continue
		}
		if d, err := m.Data(); err == nil {
			m.Dat = string(d)
		}
		m.Now = time.Now().Unix()
		list = append(list, m)
	}
	return list, nil
}
