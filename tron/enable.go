// This file enables and disables bundles: it changes the durable state, declares the route
// queue, tells the runners and pushes the route table to the frontends.

package tron

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/protocol"
)

// ackGrace is how long an enable call, once a runner acked ok, keeps listening for the other
// runners' acks so it can list them too (never beyond --enable-wait).
const ackGrace = 100 * time.Millisecond

// enableRequest is the body of POST /api/v1/enable.
type enableRequest struct {
	SHA     string         `json:"sha"`
	Props   protocol.Props `json:"props"`
	Replace bool           `json:"replace"`
	// keepProps: the request had no props (or null), so a replace keeps the replaced
	// bundle's (enableProps).
	keepProps bool
}

// enableResult is the answer of POST /api/v1/enable; Status is 200 or 202 (a failed enable
// is an enableFailedError, 422).
type enableResult struct {
	Status   int               `json:"-"`
	Success  bool              `json:"success"`
	Msg      string            `json:"msg"`
	SHA      string            `json:"sha"`
	Queue    string            `json:"queue"`
	Runners  []string          `json:"runners"`
	Warning  string            `json:"warning,omitempty"`
	Errors   map[string]string `json:"errors,omitempty"` // runner inbox → its error ack
	Replaced string            `json:"replaced,omitempty"`
}

// enable makes bundle req.SHA served: see the comment of each step.
func (t *Tron) enable(ctx context.Context, req enableRequest) (*enableResult, error) {
	start := time.Now()
	sha, err := t.resolveSHA(req.SHA)
	if err != nil {
		return nil, err
	}
	req.keepProps = req.Props == nil
	if req.Props == nil {
		req.Props = protocol.Props{}
	}
	if err := checkProps(req.Props); err != nil {
		return nil, err
	}
	b := t.getBus()
	if b == nil || !b.Connected() {
		return nil, newAPIError(http.StatusServiceUnavailable, "the message bus is not connected; nothing was changed, try again")
	}
	t.ctl.Lock()
	step, err := t.enableLocked(ctx, b, sha, req)
	t.ctl.Unlock()
	if err != nil {
		return nil, err
	}
	e, replaced := step.e, step.replaced
	res := &enableResult{Success: true, SHA: sha, Queue: e.Queue(), Replaced: replaced}
	res.Runners, res.Errors = t.awaitAcks(step.receipt, len(step.runners))
	t.metrics.enable.Observe(time.Since(start).Seconds())
	if len(res.Runners) == 0 && len(res.Errors) > 0 {
		// spec/tron-api.md "A failed enable fails": every runner that answered failed.
		t.ctl.Lock()
		t.undoEnable(ctx, step)
		t.ctl.Unlock()
		return nil, newEnableFailed(step, res.Errors)
	}

	// The route table goes out once a runner serves the bundle (or we gave up waiting), so
	// frontends do not send requests that nobody takes; the replaced bundle is disabled
	// only after that, so its route never goes dark.
	t.ctl.Lock()
	if len(res.Runners) > 0 {
		t.forgetRunners(e.Queue())
	}
	t.broadcastRoutes(ctx)
	if replaced != "" {
		t.disableReplaced(ctx, replaced)
	}
	t.ctl.Unlock()
	t.describeEnable(res, e, len(step.runners))
	return res, nil
}

// enableStep is what enableLocked did, for enable to finish or to undo.
type enableStep struct {
	e        enabledBundle
	replaced string
	// removed are the entries the new one took the place of: the replaced bundle's, and the
	// same sha's when it was enabled already (with other props).
	removed []enabledBundle
	receipt *bus.Receipt
	runners []bus.Destination
}

// enableLocked checks the request against the current state, declares the route queue,
// saves the new state and sends `enable` to every live runner as one message. Caller holds ctl.
func (t *Tron) enableLocked(ctx context.Context, b bus.Bus, sha string, req enableRequest) (*enableStep, error) {
	meta, st, err := t.bundleAndState(sha)
	if err != nil {
		return nil, err
	}
	step := &enableStep{}
	if o, conflict := owner(st.Enabled, sha, meta.Host, meta.BasePath); conflict {
		if !req.Replace {
			return nil, newAPIError(http.StatusConflict,
				"bundle %s already serves host %q path %q; enable with \"replace\":true to replace it", o.SHA, o.Host, o.Path)
		}
		step.replaced = o.SHA
	}
	e := enabledBundle{SHA: sha, Host: meta.Host, Path: meta.BasePath, Props: enableProps(req, st, step.replaced), EnabledAt: time.Now().UnixMilli()}
	// The route queue exists before the call returns, so requests a frontend sends from now
	// on wait in the queue for a runner instead of being dropped.
	dctx, cancel := context.WithTimeout(ctx, sendTimeout)
	err = b.DeclareRouteQueue(dctx, e.Queue())
	cancel()
	if err != nil {
		return nil, newAPIError(http.StatusServiceUnavailable, "declaring route queue %s: %v; nothing was changed", e.Queue(), err)
	}
	for _, old := range st.Enabled {
		if old.SHA == sha || (step.replaced != "" && old.SHA == step.replaced) {
			step.removed = append(step.removed, old)
		}
	}
	st.Enabled = removeSHA(removeSHA(st.Enabled, sha), step.replaced)
	st.Seq++
	e.Seq = st.Seq
	st.Enabled = append(st.Enabled, e)
	if err := t.saveRoutes(&st); err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.state = st
	step.runners = t.nodesOf(protocol.TypeRunner)
	t.mu.Unlock()
	step.e = e
	step.receipt = t.send(ctx, t.enableMsg(e), step.runners...)
	t.log.Info("bundle enabled", "sha", sha, "host", e.Host, "path", e.Path, "queue", e.Queue(), "runners", len(step.runners), "replaced", step.replaced)
	t.publish(ctx, Event{Key: "bundle.enabled." + sha, SHA: sha, Host: e.Host, Path: e.Path, Replaced: step.replaced})
	return step, nil
}

// enableProps is the props an enable gives its bundle: the request's, or, when the request
// has no props key (or null) and replaces a bundle, the replaced bundle's (spec/tron-api.md
// "Props on replace": deploying a new version keeps its configuration). `"props":{}` clears.
func enableProps(req enableRequest, st state, replaced string) protocol.Props {
	if !req.keepProps {
		return req.Props
	}
	if i := st.find(replaced); replaced != "" && i >= 0 && st.Enabled[i].Props != nil {
		return st.Enabled[i].Props
	}
	return protocol.Props{}
}

// awaitAcks waits up to --enable-wait for the first ok ack to the enable behind r (then
// briefly for the other runners'), and returns the runners that acked ok and the errors of
// those that acked with an error. It closes r.
func (t *Tron) awaitAcks(r *bus.Receipt, targets int) (acked []string, errs map[string]string) {
	acked = []string{}
	if r == nil || targets == 0 {
		return acked, nil
	}
	defer r.Close()
	deadline := time.Now().Add(t.opts.EnableWait)
	answered := map[string]bool{}
	record := func(m bus.Message) {
		a, ok := m.Data.(*protocol.Ack)
		if !ok || m.SignedBy != protocol.RoleRunner || answered[m.ReplyTo] {
			return
		}
		answered[m.ReplyTo] = true
		if a.Status == protocol.AckError {
			if errs == nil {
				errs = map[string]string{}
			}
			errs[m.ReplyTo] = a.Error
			return
		}
		acked = append(acked, m.ReplyTo) // the catalogue's ack has no status: ok
	}
	_ = r.WaitUntil(t.opts.EnableWait, func(m bus.Message) bool {
		record(m)
		return len(acked) > 0 || len(answered) == targets
	})
	if grace := min(ackGrace, time.Until(deadline)); len(acked) > 0 && len(answered) < targets && grace > 0 {
		_ = r.WaitUntil(grace, func(m bus.Message) bool {
			record(m)
			return len(answered) == targets
		})
	}
	return acked, errs
}

// describeEnable sets the status and the texts of an enable's answer.
func (t *Tron) describeEnable(res *enableResult, e enabledBundle, runners int) {
	what := fmt.Sprintf("Func bundle host: %q basePath: %q sha: %s", e.Host, e.Path, e.SHA)
	res.Status = http.StatusOK
	switch {
	case len(res.Runners) > 0:
		res.Msg = "Deployed " + what
	case runners == 0:
		res.Status = http.StatusAccepted
		res.Msg = "Enabled " + what
		res.Warning = "no runner is connected; the bundle stays enabled and runners get it when they arrive"
	default:
		res.Status = http.StatusAccepted
		res.Msg = "Enabled " + what
		res.Warning = fmt.Sprintf("no runner acked within %s; the bundle stays enabled and runners get it when they can", t.opts.EnableWait)
	}
}

// disableResult is the answer of POST /api/v1/disable.
type disableResult struct {
	Success bool   `json:"success"`
	Msg     string `json:"msg"`
	SHA     string `json:"sha"`
	Warning string `json:"warning,omitempty"`
}

// bundleAndState is bundle sha's metadata and a copy of the state for enable or disable to
// change and save (saveRoutes); the caller holds ctl, so no other change comes between. A
// bundle not in the store is the API's 404.
func (t *Tron) bundleAndState(sha string) (bundleMeta, state, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	meta, ok := t.bundles[sha]
	if !ok {
		return bundleMeta{}, state{}, newAPIError(http.StatusNotFound, "could not find Func bundle with sha %s", sha)
	}
	return meta, t.state.clone(), nil
}

// saveRoutes gives st, whose enabled bundles changed, a new route table version and saves
// it, before enable or disable makes it the Tron's state. An error is the API's 500: nothing
// was changed.
func (t *Tron) saveRoutes(st *state) error {
	st.routesChanged()
	if err := saveState(t.opts.DataDir, *st); err != nil {
		t.log.Error("saving state", "err", err)
		return newAPIError(http.StatusInternalServerError, "could not save the state; nothing was changed")
	}
	return nil
}

// disable stops serving bundle sha: frontends get the route table without it first (no new
// requests), then runners get `disable`.
func (t *Tron) disable(ctx context.Context, rawSHA string) (*disableResult, error) {
	sha, err := t.resolveSHA(rawSHA)
	if err != nil {
		return nil, err
	}
	b := t.getBus()
	if b == nil || !b.Connected() {
		return nil, newAPIError(http.StatusServiceUnavailable, "the message bus is not connected; nothing was changed, try again")
	}
	t.ctl.Lock()
	defer t.ctl.Unlock()
	_, st, err := t.bundleAndState(sha)
	if err != nil {
		return nil, err
	}
	i := st.find(sha)
	if i < 0 {
		return &disableResult{Success: true, SHA: sha, Msg: "Func bundle " + sha + " was not enabled"}, nil
	}
	e := st.Enabled[i]
	st.Enabled = removeSHA(st.Enabled, sha)
	if err := t.saveRoutes(&st); err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.state = st
	t.mu.Unlock()
	t.broadcastRoutes(ctx)
	res := &disableResult{Success: true, SHA: sha, Msg: fmt.Sprintf("Disabled Func bundle host: %q basePath: %q sha: %s", e.Host, e.Path, sha)}
	if !t.sendDisable(ctx, sha) {
		res.Warning = "could not tell the runners; they stop serving it when they next resend awake"
	}
	t.log.Info("bundle disabled", "sha", sha, "host", e.Host, "path", e.Path)
	t.publish(ctx, Event{Key: "bundle.disabled." + sha, SHA: sha, Host: e.Host, Path: e.Path})
	return res, nil
}

// disableReplaced tells runners to stop serving a bundle that another one replaced, unless it
// was enabled again meanwhile. Caller holds ctl.
func (t *Tron) disableReplaced(ctx context.Context, sha string) {
	t.mu.Lock()
	again := t.state.find(sha) >= 0
	t.mu.Unlock()
	if again {
		return
	}
	t.sendDisable(ctx, sha)
	t.publish(ctx, Event{Key: "bundle.disabled." + sha, SHA: sha})
}

// sendDisable sends `disable` for sha to every live runner as one message; it reports
// whether that worked (true when there is no runner).
func (t *Tron) sendDisable(ctx context.Context, sha string) bool {
	t.mu.Lock()
	runners := t.nodesOf(protocol.TypeRunner)
	t.noteDisabled(sha, runners)
	t.mu.Unlock()
	if len(runners) == 0 {
		return true
	}
	r := t.send(ctx, &protocol.Disable{TronHost: t.tronHost, SHA: sha}, runners...)
	if r == nil {
		return false
	}
	r.Close()
	return true
}

// broadcastRoutes sends the current route table to every live frontend as one message.
// Caller holds ctl, so tables go out in the order of the changes.
func (t *Tron) broadcastRoutes(ctx context.Context) {
	m := t.sendRoutesTo(ctx)
	t.publish(ctx, Event{Key: "route.updated", Routes: len(m.Routes)})
}

// currentRoutes is the route table of the current state.
func (t *Tron) currentRoutes() []protocol.RouteEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return routeTable(t.state.Enabled, t.runners)
}

func removeSHA(list []enabledBundle, sha string) []enabledBundle {
	if sha == "" {
		return list
	}
	out := list[:0:0]
	for _, e := range list {
		if e.SHA != sha {
			out = append(out, e)
		}
	}
	return out
}

// cleanSHA checks a sha given by a user: 64 hex digits (any case).
func cleanSHA(s string) (string, error) {
	if s == "" {
		return "", newAPIError(http.StatusBadRequest, "the request must be JSON and include the 'sha' of the Func bundle")
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if !isSHA(s) {
		return "", newAPIError(http.StatusBadRequest, "sha %q: want the 64 hex digits of the bundle's SHA-256", s)
	}
	return s, nil
}

// checkProps refuses props that the runners would refuse in the enable message that
// carries them (protocol.MaxDepth, protocol.MaxItems): a 400 now, not an enable that no
// runner ever acks. They are checked at the depth they have in that message.
func checkProps(p protocol.Props) error {
	b, err := json.Marshal(map[string]any{"props": p})
	if err != nil {
		return newAPIError(http.StatusBadRequest, "props cannot be encoded: %v", err)
	}
	if err := protocol.CheckShape(protocol.JSON, b); err != nil {
		return newAPIError(http.StatusBadRequest, "props: %v", err)
	}
	return nil
}
