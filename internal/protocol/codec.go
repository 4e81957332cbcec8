package protocol

import (
	"bytes"
	"encoding/json"
	"strings"

	"olympos.io/encoding/edn"
)

// The content types of the two codecs (spec/protocol.md §1).
const (
	ContentTypeJSON = "application/json"
	ContentTypeEDN  = "application/edn"
)

// Codec names a codec by its content type; it is what `--codec` selects.
type Codec string

const (
	JSON Codec = ContentTypeJSON
	EDN  Codec = ContentTypeEDN
)

// ParseCodec maps a `--codec` option value ("json", "edn") or a content type to a Codec.
func ParseCodec(s string) (Codec, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "json", ContentTypeJSON:
		return JSON, true
	case "edn", ContentTypeEDN:
		return EDN, true
	}
	return "", false
}

// CodecOf picks the codec of a received body from its content type (parameters such as
// `; charset=utf-8` are ignored). An empty content type is sniffed from the body; any other
// content type is a *Error with CodeContentType.
func CodecOf(contentType string, body []byte) (Codec, error) {
	c, err := codecFor(contentType, body)
	if err != nil {
		return "", err
	}
	return c, nil
}

func codecFor(contentType string, body []byte) (Codec, *Error) {
	ct := contentType
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	if ct == "" {
		return sniff(body), nil
	}
	if c, ok := ParseCodec(ct); ok && strings.Contains(ct, "/") {
		return c, nil
	}
	return "", errorf(CodeContentType, "", nil, "content type %q is neither %s nor %s", contentType, ContentTypeJSON, ContentTypeEDN)
}

// sniff tells EDN (`{:action ...}`) from JSON (`{"action" ...}`); JSON when unsure.
func sniff(body []byte) Codec {
	b := bytes.TrimLeft(body, " \t\r\n,")
	if len(b) > 0 && b[0] == '{' {
		b = bytes.TrimLeft(b[1:], " \t\r\n,")
		if len(b) > 0 && b[0] == ':' {
			return EDN
		}
	}
	return JSON
}

// Encode writes m in codec c. Header.Action is set from the message's type, so a caller
// cannot send a body whose action contradicts its Go type.
func Encode(c Codec, m Message) ([]byte, error) {
	if a := ActionOf(m); a != "" {
		m.Head().Action = a
	}
	v := wireForm(m)
	if c == EDN {
		return edn.Marshal(v)
	}
	return json.Marshal(v)
}

// Decode reads any message of the catalogue. Errors are *Error: CodeUnknownAction for an
// action the catalogue lacks (log and drop), otherwise the body is unusable (dead-letter).
// A body deeper or wider than the bounds of limits.go is refused before it is decoded; its
// size is the receiver's to check first (CheckSize).
func Decode(contentType string, body []byte) (Message, error) {
	c, perr := codecFor(contentType, body)
	if perr != nil {
		return nil, perr
	}
	if perr = checkShape(c, body); perr != nil {
		return nil, perr
	}
	var head Header
	if err := unmarshal(c, body, &head); err != nil {
		return nil, errorf(CodeMalformed, "", err, "decoding %s message", c)
	}
	if head.Action == "" {
		return nil, fromSender(errorf(CodeNoAction, "", nil, "message has no action"), head.From)
	}
	m := newMessage(head.Action)
	if m == nil {
		return nil, fromSender(errorf(CodeUnknownAction, head.Action, nil, "unknown action %q", head.Action), head.From)
	}
	if err := decodeInto(c, body, m); err != nil {
		return nil, fromSender(err, head.From)
	}
	return m, nil
}

// DecodeAs reads a body that must hold the action of m's type into m, in one pass: the
// runner's route queues carry only `service`, so the hot path skips Decode's look-ahead.
func DecodeAs(contentType string, body []byte, m Message) error {
	c, perr := codecFor(contentType, body)
	if perr != nil {
		return perr
	}
	if perr = checkShape(c, body); perr != nil {
		perr.Action = ActionOf(m)
		return perr
	}
	if err := decodeInto(c, body, m); err != nil {
		return err
	}
	if want := ActionOf(m); m.Head().Action != want {
		return errorf(CodeWrongAction, m.Head().Action, nil, "want action %q, got %q", want, m.Head().Action)
	}
	return nil
}

// Unmarshal decodes a body of codec c that is not a message of the catalogue (the
// configuration RPC of internal/rtconfig, the log records on funcatron.logging) into v,
// within Decode's bounds: a body deeper or wider than limits.go allows is refused
// (CodeTooDeep, CodeTooMany) before the decoder sees it; one that does not decode is
// CodeMalformed. Its size is the receiver's to check first (CheckSize).
func Unmarshal(c Codec, body []byte, v any) error {
	if perr := checkShape(c, body); perr != nil {
		return perr
	}
	if err := unmarshal(c, body, v); err != nil {
		return errorf(CodeMalformed, "", err, "decoding %s", c)
	}
	return nil
}

func fromSender(e *Error, from string) *Error {
	e.From = from
	return e
}

func decodeInto(c Codec, body []byte, m Message) *Error {
	if svc, ok := m.(*Service); ok && c == JSON && len(body) >= splitBodyMin && decodeServiceJSON(body, svc) {
		return nil
	}
	if err := unmarshal(c, body, m); err != nil {
		return errorf(CodeMalformed, m.Head().Action, err, "decoding %s %s message", ActionOf(m), c)
	}
	normalize(m)
	return nil
}

func unmarshal(c Codec, body []byte, v any) (err error) {
	if c == EDN {
		// The EDN decoder is third-party code fed with untrusted bytes: a panic in it must
		// become an error, never a dead consumer.
		defer func() {
			if r := recover(); r != nil {
				err = errorf(CodeMalformed, "", nil, "EDN decoder failed: %v", r)
			}
		}()
		return edn.Unmarshal(body, v)
	}
	return json.Unmarshal(body, v)
}

// normalize folds the original frontend's spellings into ours.
func normalize(m Message) {
	if a, ok := m.(*Awake); ok && a.HostInfo == nil && a.LegacyHostInfo != nil {
		a.HostInfo, a.LegacyHostInfo = a.LegacyHostInfo, nil
	}
}

// ActionOf is the action a message type stands for ("" for a type outside the catalogue).
func ActionOf(m Message) string {
	switch m.(type) {
	case *Awake:
		return ActionAwake
	case *Heartbeat:
		return ActionHeartbeat
	case *Died:
		return ActionDied
	case *Ack:
		return ActionAck
	case *TronInfo:
		return ActionTronInfo
	case *AllBundles:
		return ActionAllBundles
	case *Enable:
		return ActionEnable
	case *Disable:
		return ActionDisable
	case *ResendAwake:
		return ActionResendAwake
	case *Route:
		return ActionRoute
	case *Die:
		return ActionDie
	case *SetStatsd:
		return ActionSetStatsd
	case *Service:
		return ActionService
	case *Answer:
		return ActionAnswer
	}
	return ""
}
