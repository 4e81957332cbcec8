package runner

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

// refusedCount reads funcatron_runner_refused_messages_total for reason.
func refusedCount(t testing.TB, r *Runner, reason string) string {
	prefix := `funcatron_runner_refused_messages_total{reason="` + reason + `"} `
	for _, line := range strings.Split(metricsText(t, r), "\n") {
		if strings.HasPrefix(line, prefix) {
			return strings.TrimPrefix(line, prefix)
		}
	}
	return ""
}

// TestForgedControlMessagesAreRefused: the reproduction. Anyone who can publish to
// a runner inbox (a frontend's broker credentials are enough) sends enable with an
// attacker's URL: unsigned, with another key, signed for another inbox, stale, or with a
// body that is not what was signed. The runner downloads nothing, acks nothing, counts each
// refusal by reason, and keeps serving.
func TestForgedControlMessagesAreRefused(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr)
	var hits atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	t.Cleanup(attacker.Close)
	host, path := uniq(t)+".example", "/forged"
	forged := func() *protocol.Enable {
		return &protocol.Enable{SHA: strings.Repeat("ab", 32), Host: host, Path: path, URL: attacker.URL + "/evil.zip"}
	}
	otherKey := []byte("a-key-the-attacker-made-up-0123456789")
	ids := []string{
		tr.sendSigned(r.Inbox(), r.Inbox(), nil, forged()),
		tr.sendSigned(r.Inbox(), r.Inbox(), otherKey, forged()),
		tr.sendSigned(r.Inbox(), "RU-another-runner", harnessKey, forged()),
	}
	stale := forged()
	protocol.Stamp(stale, tr.queue, "test")
	stale.At = time.Now().Add(-10 * time.Minute).UnixMilli()
	body, _ := protocol.Encode(protocol.EDN, stale)
	tr.publishRaw(r.Inbox(), signedHeaders(harnessKey, r.Inbox(), stale.Head(), body), body)
	// Headers signed for one message, body of another (same bytes would verify: the
	// signature covers the body, so the body must claim another msg-id than its headers).
	swapped := forged()
	protocol.Stamp(swapped, tr.queue, "test")
	body, _ = protocol.Encode(protocol.EDN, swapped)
	hdr := *swapped.Head()
	hdr.MsgID = "not-the-body-msg-id"
	tr.publishRaw(r.Inbox(), signedHeaders(harnessKey, r.Inbox(), &hdr, body), body)
	ids = append(ids, stale.MsgID, swapped.MsgID)

	want := map[string]string{
		protocol.RefusedUnsigned: "1", protocol.RefusedBadSignature: "2", protocol.RefusedStale: "1", protocol.RefusedMismatch: "1",
	}
	testenv.WaitFor(t, 10*time.Second, "every forgery counted by reason", func() bool {
		for reason, n := range want {
			if refusedCount(t, r, reason) != n {
				return false
			}
		}
		return true
	})
	// The inbox is consumed in order: a genuine enable acked after the forgeries proves
	// they were all handled, and refused without a download or an ack.
	sha := tr.upload(fnBundle(t, host, path))
	tr.enableOK(r.Inbox(), sha, host, path, nil)
	if n := hits.Load(); n != 0 {
		t.Errorf("the attacker's URL was fetched %d times", n)
	}
	for _, m := range tr.all() {
		if a, ok := m.(*protocol.Ack); ok && contains(ids, a.AckID) {
			t.Errorf("a forged enable was acked: %+v", a)
		}
	}
}

// TestReplayedEnableAndDie: a copy of a genuine enable, captured off the broker and
// published again, is refused as a replay; a `die`, even signed, stops nothing (a runner
// has no handler for it: the Tron never sends one).
func TestReplayedEnableAndDie(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr)
	host, path := uniq(t)+".example", "/replay"
	sha := tr.upload(fnBundle(t, host, path))
	e := &protocol.Enable{SHA: sha, Host: host, Path: path, URL: tr.srv.URL + "/bundle/" + sha + "?sig=ok"}
	protocol.Stamp(e, tr.queue, "test")
	body, _ := protocol.Encode(protocol.EDN, e)
	headers := signedHeaders(harnessKey, r.Inbox(), e.Head(), body)
	tr.publishRaw(r.Inbox(), headers, body)
	if a := tr.ack(e.MsgID, 20*time.Second); a.Status != protocol.AckOK {
		t.Fatalf("genuine enable acked %s: %s", a.Status, a.Error)
	}
	tr.publishRaw(r.Inbox(), headers, body)
	testenv.WaitFor(t, 10*time.Second, "the replay counted", func() bool {
		return refusedCount(t, r, protocol.RefusedReplayed) == "1"
	})
	acks := 0
	for _, m := range tr.all() {
		if a, ok := m.(*protocol.Ack); ok && a.AckID == e.MsgID {
			acks++
		}
	}
	if acks != 1 {
		t.Errorf("%d acks of the enable, want 1 (the replay must not be handled)", acks)
	}

	tr.send(r.Inbox(), &protocol.Die{})                       // signed: no handler
	tr.sendSigned(r.Inbox(), r.Inbox(), nil, &protocol.Die{}) // unsigned: refused
	tr.enableOK(r.Inbox(), sha, host, path, nil)              // handled after both dies
	if a := newFrontend(t).do(protocol.RouteQueue(host, path), service(host, "GET", path+"/pid", nil)); a.Answer.Status != 200 {
		t.Errorf("after die: answer %d, want 200 (the runner keeps serving)", a.Answer.Status)
	}
	for _, m := range tr.all() {
		if d, ok := m.(*protocol.Died); ok && d.From == r.Inbox() {
			t.Error("the runner sent died after a die")
		}
	}
}

func contains(ids []string, id string) bool {
	for _, s := range ids {
		if s == id {
			return true
		}
	}
	return false
}
