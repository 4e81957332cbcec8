package protocol_test

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
)

// SignVector is one entry of testdata/sign-vectors.json, shared with the Lua tests.
type signVector struct {
	Note, Key, Destination, Action, At, Body, Sig string
	MsgID                                         string `json:"msg-id"`
}

func readVectors(t *testing.T) []signVector {
	t.Helper()
	b, err := os.ReadFile("testdata/sign-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []signVector }
	if err := json.Unmarshal(b, &f); err != nil || len(f.Vectors) == 0 {
		t.Fatalf("sign-vectors.json: %v (%d vectors)", err, len(f.Vectors))
	}
	return f.Vectors
}

func TestSignatureGoldenVectors(t *testing.T) {
	for _, v := range readVectors(t) {
		got := protocol.Signature([]byte(v.Key), v.Destination, v.Action, v.MsgID, v.At, []byte(v.Body))
		if got != v.Sig {
			t.Errorf("%s: signature %s, want %s", v.Note, got, v.Sig)
		}
	}
}

var (
	runnerKey   = []byte("runner-key-0123456789abcdef")
	frontendKey = []byte("frontend-key-0123456789abcdef")
)

// signed returns a header reader for a message signed with key for dest.
func signed(key []byte, dest string, h *protocol.Header, body []byte) func(string) string {
	hs := protocol.SignHeaders(key, dest, h, body)
	return func(name string) string { return hs[name] }
}

func TestVerifierRefusesEachForgery(t *testing.T) {
	now := time.UnixMilli(1795312211000)
	newV := func() *protocol.Verifier {
		return &protocol.Verifier{Now: func() time.Time { return now },
			Keys: []protocol.RoleKey{{Role: protocol.RoleRunner, Key: runnerKey}, {Role: protocol.RoleFrontend, Key: frontendKey}}}
	}
	body := []byte(`{"action":"awake"}`)
	h := &protocol.Header{Action: "awake", MsgID: "id-1", At: now.UnixMilli()}
	stale := &protocol.Header{Action: "awake", MsgID: "id-2", At: now.Add(-6 * time.Minute).UnixMilli()}
	none := func(string) string { return "" }
	tests := []struct {
		name, queue, key string
		hdr              func(string) string
		want             string
	}{
		{"unsigned", "for_tron", "", none, protocol.RefusedUnsigned},
		{"wrong key", "for_tron", "", signed([]byte("another-key-0123456789"), "for_tron", h, body), protocol.RefusedBadSignature},
		{"signed for another queue", "for_tron", "", signed(runnerKey, "RU-x", h, body), protocol.RefusedBadSignature},
		{"routed from another queue", "for_tron", "RU-x", signed(runnerKey, "for_tron", h, body), protocol.RefusedMisdirected},
		{"stale", "for_tron", "", signed(runnerKey, "for_tron", stale, body), protocol.RefusedStale},
	}
	for _, tt := range tests {
		_, err := newV().Verify(tt.queue, tt.key, tt.hdr, body)
		if re := protocol.Refusal(err); re == nil || re.Reason != tt.want {
			t.Errorf("%s: %v, want refused %s", tt.name, err, tt.want)
		}
	}
	v := newV()
	vd, err := v.Verify("for_tron", "", signed(frontendKey, "for_tron", h, body), body)
	if err != nil || vd.Role != protocol.RoleFrontend {
		t.Fatalf("frontend-signed: %+v %v, want role frontend", vd, err)
	}
	if _, err := v.Verify("for_tron", "", signed(frontendKey, "for_tron", h, body), body); err != nil {
		t.Errorf("a redelivery of a message never processed was refused: %v", err)
	}
	v.Processed(vd)
	_, err = v.Verify("for_tron", "", signed(frontendKey, "for_tron", h, body), body)
	if re := protocol.Refusal(err); re == nil || re.Reason != protocol.RefusedReplayed {
		t.Errorf("replay after processing: %v, want refused replayed", err)
	}
	other := *h
	other.At++
	if err := v.Matches(vd, &other); protocol.Refusal(err) == nil {
		t.Errorf("a body whose at differs from fc-at was accepted")
	}
	if _, err := (&protocol.Verifier{AcceptUnsigned: true}).Verify("q", "", none, body); err != nil {
		t.Errorf("AcceptUnsigned refused an unsigned message: %v", err)
	}
	partial := func(n string) string { return map[string]string{protocol.HeaderAction: "awake"}[n] }
	if _, err := (&protocol.Verifier{AcceptUnsigned: true}).Verify("q", "", partial, body); protocol.Refusal(err) == nil {
		t.Errorf("AcceptUnsigned accepted a message with only some of the headers")
	}
}
