// This file undoes an enable that every answering runner failed (spec/tron-api.md "A failed
// enable fails"): the bundle is not enabled, and a bundle it was to replace keeps serving.

package tron

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// enableFailedError is enable's 422: {"success":false,"error","sha","runners":{<id>: <error>}}.
type enableFailedError struct {
	msg     string
	sha     string
	runners map[string]string // runner inbox → its error ack (the bundle's stderr is in it)
}

func (e *enableFailedError) Error() string { return e.msg }

func newEnableFailed(step *enableStep, errs map[string]string) *enableFailedError {
	ids := make([]string, 0, len(errs))
	for id := range errs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	msg := fmt.Sprintf("no runner could start Func bundle %s (%d failed; first: %s); it is not enabled",
		step.e.SHA, len(errs), firstLine(errs[ids[0]]))
	if step.replaced != "" {
		msg += "; " + step.replaced + " keeps serving the route"
	}
	return &enableFailedError{msg: msg, sha: step.e.SHA, runners: errs}
}

// body is the 422's body.
func (e *enableFailedError) body() map[string]any {
	return map[string]any{"success": false, "error": e.msg, "sha": e.sha, "runners": e.runners}
}

// undoEnable puts back what a failed enable changed, unless later changes superseded it:
// its entry goes, the entries it removed (the replaced bundle; the same sha with its earlier
// props) come back when their route is still free, the frontends get the table again (the
// served watcher may have sent one with the new entry), and runners that did not answer
// are told to disable the sha unless it came back. Caller holds ctl.
func (t *Tron) undoEnable(ctx context.Context, step *enableStep) {
	t.mu.Lock()
	st := t.state.clone()
	t.mu.Unlock()
	i := st.find(step.e.SHA)
	if i < 0 || st.Enabled[i].Seq != step.e.Seq {
		return // disabled or enabled again meanwhile: that is the newer word
	}
	st.Enabled = removeSHA(st.Enabled, step.e.SHA)
	restored := false
	for _, old := range step.removed {
		if _, taken := owner(st.Enabled, old.SHA, old.Host, old.Path); !taken && st.find(old.SHA) < 0 {
			st.Enabled = append(st.Enabled, old)
			restored = restored || old.SHA == step.e.SHA
		}
	}
	slices.SortFunc(st.Enabled, func(a, b enabledBundle) int { return compareSeq(a.Seq, b.Seq) })
	if err := saveState(t.opts.DataDir, st); err != nil {
		t.log.Error("saving state after a failed enable", "err", err)
	}
	t.mu.Lock()
	t.state = st
	t.mu.Unlock()
	t.broadcastRoutes(ctx)
	if !restored {
		t.sendDisable(ctx, step.e.SHA)
	}
	t.log.Warn("enable failed on every runner that answered: undone", "sha", step.e.SHA, "replaced", step.replaced)
	t.publish(ctx, Event{Key: "bundle.failed." + step.e.SHA, SHA: step.e.SHA, Host: step.e.Host, Path: step.e.Path, Replaced: step.replaced})
}

// firstLine is s up to its first newline.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
