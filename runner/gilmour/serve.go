// HTTP → Gilmour: the instance's Serve, one HTTP request per call (spec/bundles.md §5).

package gilmour

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/runner/kind"
)

// proxyAnswer is the Gilmour proxy's response shape.
type proxyAnswer struct {
	Messages []result `json:"messages"`
	Code     int      `json:"code"`
	Length   int      `json:"length"`
}

func answerOf(o outcome) proxyAnswer {
	if o.messages == nil {
		o.messages = []result{}
	}
	return proxyAnswer{Messages: o.messages, Code: o.final.Code, Length: len(o.messages)}
}

// httpStatus is the HTTP status of a Gilmour code: the code itself when it is one from
// 200 to 599, except Gilmour's 499 (timed out), which is a 504; anything else is a 502.
func httpStatus(code int) int {
	switch {
	case code == codeTimeout:
		return http.StatusGatewayTimeout
	case code >= 200 && code <= 599:
		return code
	}
	return http.StatusBadGateway
}

// Serve answers one HTTP request by the x-gilmour of its operation, within the route's
// timeout: the request's own context bounds every Redis wait.
func (in *instance) Serve(ctx context.Context, c *kind.Call, out *protocol.AnswerBody) {
	rt := in.cfg.Routes[c.Op]
	if rt == nil {
		kind.ErrorAnswer(out, http.StatusNotFound, "no x-gilmour for operation "+c.Op)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, rt.Timeout)
	defer cancel()
	data := bodyData(c.Svc.Body)
	switch {
	case rt.Signal != "":
		in.serveSignal(ctx, rt.Signal, data, out)
	case rt.Request != "":
		in.serveRequest(ctx, rt.Request, data, out)
	default:
		o := compose(ctx, in.pub.request, rt.Composition, data)
		kind.JSONAnswer(out, httpStatus(o.final.Code), answerOf(o))
	}
}

// serveRequest: nobody subscribed or the bus down is a 503 at once; a response that is not
// a Gilmour message a 502; else the proxy shape with the response's code as status.
func (in *instance) serveRequest(ctx context.Context, topic string, data json.RawMessage, out *protocol.AnswerBody) {
	r, err := in.pub.request(ctx, topic, data)
	var re *requestError
	switch {
	case errors.As(err, &re) && re.msg.Code == codeBadReply:
		in.log.Warn("bad gilmour response", "topic", topic, "err", err)
		kind.BadGateway(out, re.why)
	case err != nil:
		in.noteBus(err)
		kind.Unavailable(out, err.Error())
	default:
		kind.JSONAnswer(out, httpStatus(r.Code), answerOf(outcome{final: r, messages: []result{r}}))
	}
}

// serveSignal publishes and answers 202 {"receivers": n}.
func (in *instance) serveSignal(ctx context.Context, topic string, data json.RawMessage, out *protocol.AnswerBody) {
	n, err := in.pub.signal(ctx, topic, data)
	if err != nil {
		in.noteBus(err)
		kind.Unavailable(out, err.Error())
		return
	}
	kind.JSONAnswer(out, http.StatusAccepted, map[string]int64{"receivers": n})
}

// routeTimeout is the longest timeout of the bundle's routes (the instance's Timeout).
func routeTimeout(cfg *bundles.GilmourConfig) (d time.Duration) {
	d = bundles.DefaultTimeout
	for _, rt := range cfg.Routes {
		d = max(d, rt.Timeout)
	}
	return d
}
