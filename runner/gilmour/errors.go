// The error policy: what happens to each published message with a code of 300 or more
// (research §1.8).

package gilmour

import (
	"context"
	"encoding/json"
	"time"

	"github.com/funcatron/funcatron/bundles"
)

// errorQueueMax is the length gilmour.errorqueue is trimmed to (LTRIM 0 9999).
const errorQueueMax = 10000

// errorRecord is the Go library's record (proto/errors.go), with each field holding what
// its name says (the Go library's callers pass them scrambled).
type errorRecord struct {
	Topic        string          `json:"topic"`
	RequestData  json.RawMessage `json:"request_data"`
	UserData     json.RawMessage `json:"user_data"`
	Sender       string          `json:"sender"`
	MultiProcess bool            `json:"multi_process"`
	Timestamp    string          `json:"timestamp"` // RFC 3339
	Backtrace    string          `json:"backtrace"`
	Code         int             `json:"code"`
}

// reportError reports a message r published for the request env on topic, by the bundle's
// policy: publish on gilmour.errors, or LPUSH + LTRIM on gilmour.errorqueue.
func (in *instance) reportError(ctx context.Context, topic string, env envelope, r result) {
	if in.cfg.ErrorPolicy == bundles.ErrorsIgnore || in.cfg.ErrorPolicy == "" {
		return
	}
	rec, _ := json.Marshal(errorRecord{
		Topic: topic, RequestData: env.Data, UserData: r.Data, Sender: env.Sender,
		Timestamp: time.Now().UTC().Format(time.RFC3339), Code: r.Code,
	})
	var err error
	switch in.cfg.ErrorPolicy {
	case bundles.ErrorsPublish:
		err = in.rdb.Publish(ctx, errorsChannel, rec).Err()
	case bundles.ErrorsQueue:
		p := in.rdb.TxPipeline()
		p.LPush(ctx, errorQueueKey, rec)
		p.LTrim(ctx, errorQueueKey, 0, errorQueueMax-1)
		_, err = p.Exec(ctx)
	}
	if err != nil {
		in.log.Warn("reporting a gilmour error", "policy", in.cfg.ErrorPolicy, "err", err)
	}
}
