// Signed control messages (spec/protocol.md §7): the four transport headers, the HMAC over
// destination, action, msg-id, at and body, and the receiver's checks. The same rules are
// implemented in Lua (frontend-lua/lib/funcatron/sign.lua); testdata/sign-vectors.json pins
// both to the same bytes.

package protocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// The transport headers of a signed message (AMQP message headers; RabbitMQ's STOMP plugin
// passes them through as STOMP headers both ways). All four are strings.
const (
	HeaderAction = "fc-action"
	HeaderMsgID  = "fc-msg-id"
	HeaderAt     = "fc-at"
	HeaderSig    = "fc-sig"
)

// signVersion opens every signed string, so a later scheme cannot be confused with this one.
const signVersion = "fc1"

// Roles are named after the key that verified a message: the runner key (Tron ↔ runners)
// or the frontend key (Tron ↔ frontends). An unsigned message has no role ("").
const (
	RoleRunner   = "runner"
	RoleFrontend = "frontend"
)

// DefaultMaxClockSkew is how far a message's fc-at may be from the receiver's clock.
const DefaultMaxClockSkew = 5 * time.Minute

// Signature is lowercase hex of HMAC-SHA256(key, "fc1\n" + dest + "\n" + action + "\n" +
// msgID + "\n" + at + "\n" + body).
func Signature(key []byte, dest, action, msgID, at string, body []byte) string {
	return hex.EncodeToString(mac(key, dest, action, msgID, at, body))
}

func mac(key []byte, dest, action, msgID, at string, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	for _, s := range []string{signVersion, dest, action, msgID, at} {
		h.Write([]byte(s))
		h.Write([]byte{'\n'})
	}
	h.Write(body)
	return h.Sum(nil)
}

// SignHeaders returns the four headers that sign body, whose common fields are h, for the
// queue dest.
func SignHeaders(key []byte, dest string, h *Header, body []byte) map[string]string {
	at := strconv.FormatInt(h.At, 10)
	return map[string]string{
		HeaderAction: h.Action,
		HeaderMsgID:  h.MsgID,
		HeaderAt:     at,
		HeaderSig:    Signature(key, dest, h.Action, h.MsgID, at, body),
	}
}

// Reasons a message is refused, the label of the refusal counters on /metrics.
const (
	RefusedUnsigned     = "unsigned"      // a header is missing (and unsigned messages are not accepted)
	RefusedBadSignature = "bad-signature" // no key verifies it (wrong key, or signed for another queue)
	RefusedMisdirected  = "misdirected"   // the transport says it was sent to another queue
	RefusedStale        = "stale"         // fc-at further than the allowed skew from now
	RefusedReplayed     = "replayed"      // its msg-id was already processed
	RefusedMismatch     = "mismatch"      // the body's action, msg-id or at differ from the headers
	RefusedRole         = "role"          // the key does not allow what the message claims (a frontend claiming to be a runner)
)

// RefusedReasons lists every reason, so counters can start at 0.
var RefusedReasons = []string{
	RefusedUnsigned, RefusedBadSignature, RefusedMisdirected, RefusedStale, RefusedReplayed,
	RefusedMismatch, RefusedRole,
}

// RefusedError is a control message that failed verification. Reason is one of the
// Refused* constants.
type RefusedError struct {
	Reason string
	Msg    string
}

func (e *RefusedError) Error() string { return "refused control message (" + e.Reason + "): " + e.Msg }

func refused(reason, format string, args ...any) *RefusedError {
	return &RefusedError{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// Refusal returns the *RefusedError in err's chain, or nil.
func Refusal(err error) *RefusedError {
	var re *RefusedError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

// RoleKey is one key a Verifier tries, and the role a message verified by it gets.
type RoleKey struct {
	Role string
	Key  []byte
}

// Verified is what Verify learnt from a message's headers: who signed it (Role, "" when
// unsigned and accepted) and the signed fields, which the decoded body must repeat.
type Verified struct {
	Role   string
	Signed bool
	Action string
	MsgID  string
	At     int64
}

// Verifier checks received control messages (spec/protocol.md §7). It is safe for
// concurrent use.
type Verifier struct {
	// Keys are tried in order; the first that verifies gives the message its role.
	Keys []RoleKey
	// AcceptUnsigned lets a message without any fc-* header through with Role "" (the
	// Tron's --accept-unsigned-frontends). A message with some of the headers is refused.
	AcceptUnsigned bool
	// MaxSkew bounds |now - fc-at|; default DefaultMaxClockSkew.
	MaxSkew time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time

	seen ReplayCache
}

// Verify checks a message's headers and signature before its body is decoded, in the
// order of spec/protocol.md §7: the four headers, the time, the destination, the signature,
// the replay. queue is the queue it was consumed from; routingKey the one it was published
// with ("" when the transport does not say: a message routed to queue from another name is
// misdirected); header reads a transport header ("" when absent). A message signed for
// another queue and copied into this one fails the signature (the destination is signed),
// so it counts as bad-signature: the receiver cannot tell it from a wrong key.
func (v *Verifier) Verify(queue, routingKey string, header func(string) string, body []byte) (Verified, error) {
	action, msgID, at, sig := header(HeaderAction), header(HeaderMsgID), header(HeaderAt), header(HeaderSig)
	if action == "" && msgID == "" && at == "" && sig == "" && v.AcceptUnsigned {
		return Verified{}, nil
	}
	if action == "" || msgID == "" || at == "" || sig == "" {
		return Verified{}, refused(RefusedUnsigned, "missing %s headers", missing(action, msgID, at, sig))
	}
	ms, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return Verified{}, refused(RefusedUnsigned, "%s %q is not epoch milliseconds", HeaderAt, at)
	}
	if d := v.now().Sub(time.UnixMilli(ms)); d > v.skew() || -d > v.skew() {
		return Verified{}, refused(RefusedStale, "%s is %s away from now (at most %s)", HeaderAt, d.Round(time.Millisecond), v.skew())
	}
	if routingKey != "" && routingKey != queue {
		return Verified{}, refused(RefusedMisdirected, "sent to %q, consumed from %q", routingKey, queue)
	}
	role, ok := v.check(queue, action, msgID, at, sig, body)
	if !ok {
		return Verified{}, refused(RefusedBadSignature, "no key verifies %s %s for queue %q", action, msgID, queue)
	}
	if v.seen.Has(msgID) {
		return Verified{}, refused(RefusedReplayed, "%s %s was already processed", action, msgID)
	}
	return Verified{Role: role, Signed: true, Action: action, MsgID: msgID, At: ms}, nil
}

// check compares sig with each key's signature in constant time.
func (v *Verifier) check(queue, action, msgID, at, sig string, body []byte) (string, bool) {
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return "", false
	}
	for _, k := range v.Keys {
		if len(k.Key) > 0 && hmac.Equal(got, mac(k.Key, queue, action, msgID, at, body)) {
			return k.Role, true
		}
	}
	return "", false
}

// Matches checks, after decoding, that the body repeats the signed headers.
func (v *Verifier) Matches(vd Verified, h *Header) error {
	if !vd.Signed {
		return nil
	}
	if h.Action != vd.Action || h.MsgID != vd.MsgID || h.At != vd.At {
		return refused(RefusedMismatch, "body says %s %s at %d, headers %s %s at %d",
			h.Action, h.MsgID, h.At, vd.Action, vd.MsgID, vd.At)
	}
	return nil
}

// Processed records that a verified message was acted on: a copy of it is now a replay.
// A message refused or never processed (a redelivery after a lost connection) is not.
func (v *Verifier) Processed(vd Verified) {
	if vd.Signed {
		v.seen.Add(vd.MsgID, time.UnixMilli(vd.At).Add(v.skew()), v.now())
	}
}

func (v *Verifier) skew() time.Duration {
	if v.MaxSkew <= 0 {
		return DefaultMaxClockSkew
	}
	return v.MaxSkew
}

func (v *Verifier) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

func missing(action, msgID, at, sig string) string {
	var out []string
	for i, s := range []string{action, msgID, at, sig} {
		if s == "" {
			out = append(out, []string{HeaderAction, HeaderMsgID, HeaderAt, HeaderSig}[i])
		}
	}
	return fmt.Sprint(out)
}
