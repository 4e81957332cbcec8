// The records framing (spec/protocol.md §8): between our frontend and our runners a message
// may hold several service requests or answers, each a JSON line followed by its body raw
// (no base64). A message says so with the transport headers fc-framing: records and
// fc-records: <count>; without them it is the catalogue's single document.
//
// A record is the message's JSON on one line (JSON never holds a raw newline), a `\n`,
// then exactly body-length raw bytes: the top-level `body-length` of a service record,
// `answer.body-length` of an answer record (absent or 0: no bytes). The next record
// starts right after; nothing may follow the last one.

package protocol

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The transport headers of the records framing.
const (
	// HeaderFraming is the transport header naming a message's framing; FramingRecords is
	// its one value. Without it a message is in the catalogue's form.
	HeaderFraming  = "fc-framing"
	FramingRecords = "records"
	// HeaderRecords is the number of records the message holds (a decimal string on the
	// wire; RabbitMQ's STOMP adapter may hand it to AMQP as a string or an integer).
	HeaderRecords = "fc-records"
)

// MaxRecords bounds the records of one message, as MaxItems bounds a collection: far above
// any batch a frontend or runner makes (--max-batch, default 32), far below what would let
// a forged fc-records make a receiver allocate much.
const MaxRecords = MaxItems

// CodeFraming: a records message whose framing is broken (count, lengths, trailing bytes).
// The whole message is unusable: dead-letter it.
const CodeFraming Code = "E_FRAMING"

// Record is one record of a records message: its JSON line (without the `\n`) and its raw
// body. Both are slices of the message: nothing is copied.
type Record struct {
	Line []byte
	Body []byte
}

// ParseRecordCount reads the value of fc-records as a transport gives it: a decimal string
// or an integer. It must be 1..MaxRecords.
func ParseRecordCount(v any) (int, error) {
	var n int64
	switch t := v.(type) {
	case string:
		var err error
		if n, err = strconv.ParseInt(t, 10, 32); err != nil {
			return 0, errorf(CodeFraming, "", nil, "%s %q is not a count", HeaderRecords, t)
		}
	case []byte:
		return ParseRecordCount(string(t))
	case int:
		n = int64(t)
	case int8:
		n = int64(t)
	case int16:
		n = int64(t)
	case int32:
		n = int64(t)
	case int64:
		n = t
	case uint8:
		n = int64(t)
	case uint16:
		n = int64(t)
	case uint32:
		n = int64(t)
	default:
		return 0, errorf(CodeFraming, "", nil, "%s of type %T is not a count", HeaderRecords, v)
	}
	if n < 1 || n > MaxRecords {
		return 0, errorf(CodeFraming, "", nil, "%s %d is not in 1..%d", HeaderRecords, n, MaxRecords)
	}
	return int(n), nil
}

// SplitRecords cuts body into exactly count records. Any deviation is a *Error with
// CodeFraming: a count that does not match, a line without its `\n`, a line whose
// body-length cannot be read (not a JSON object, a negative, fractional or huge length, a
// length past the end), bytes after the last record. A record whose line is JSON but not
// a message is not a framing error: its decoding (DecodeService, DecodeAnswer) says so,
// and the other records stay usable.
func SplitRecords(body []byte, count int) ([]Record, error) {
	if count < 1 || count > MaxRecords {
		return nil, errorf(CodeFraming, "", nil, "record count %d is not in 1..%d", count, MaxRecords)
	}
	// A record takes at least 3 bytes ("{}\n"): a forged count cannot size the slice.
	out := make([]Record, 0, min(count, len(body)/3+1))
	rest := body
	for i := 0; i < count; i++ {
		r, next, err := cutRecord(rest, i)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
		rest = next
	}
	if len(rest) > 0 {
		return nil, errorf(CodeFraming, "", nil, "%d bytes after the last of %d records", len(rest), count)
	}
	return out, nil
}

// cutRecord cuts record i off the front of b.
func cutRecord(b []byte, i int) (Record, []byte, *Error) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		if len(b) == 0 {
			return Record{}, nil, errorf(CodeFraming, "", nil, "record %d is missing", i)
		}
		return Record{}, nil, errorf(CodeFraming, "", nil, "record %d: no newline after its JSON line", i)
	}
	line := b[:nl]
	n, err := bodyLengthOf(line)
	if err != nil {
		return Record{}, nil, errorf(CodeFraming, "", nil, "record %d: %s", i, err.Msg)
	}
	rest := b[nl+1:]
	if n > len(rest) {
		return Record{}, nil, errorf(CodeFraming, "", nil, "record %d: body-length %d is past the end (%d bytes left)", i, n, len(rest))
	}
	return Record{Line: line, Body: rest[:n:n]}, rest[n:], nil
}

// bodyLengthOf reads a record line's body-length without decoding the line: the top-level
// member, or the `answer` member's for an answer record. Names match as encoding/json
// matches them (any case, the last one wins), so that the decoded message's body-length
// is the same number; DecodeService and DecodeAnswer check that it is.
func bodyLengthOf(line []byte) (int, *Error) {
	m, ok := topMembers(line, "action", "body-length", "answer")
	if !ok {
		return 0, errorf(CodeFraming, "", nil, "the JSON line is not an object the framing can read")
	}
	lengthSpan := m[1]
	if isAnswerAction(line, m[0]) && m[2].ok() && line[m[2].start] == '{' {
		am, ok := topMembers(line[m[2].start:m[2].end], "body-length")
		if !ok {
			return 0, errorf(CodeFraming, "", nil, "the answer member is not an object the framing can read")
		}
		lengthSpan = am[0].shift(m[2].start)
	}
	if !lengthSpan.ok() {
		return 0, nil
	}
	return parseLength(line[lengthSpan.start:lengthSpan.end])
}

// isAnswerAction tells whether the action member (a span of line) is the string "answer".
func isAnswerAction(line []byte, s span) bool {
	return s.ok() && string(line[s.start:s.end]) == `"`+ActionAnswer+`"`
}

// parseLength reads a body-length: a non-negative integer of at most 10 digits (null is 0).
func parseLength(v []byte) (int, *Error) {
	if string(v) == "null" {
		return 0, nil
	}
	if len(v) == 0 || len(v) > 10 {
		return 0, errorf(CodeFraming, "", nil, "body-length %.20q is not a length", v)
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, errorf(CodeFraming, "", nil, "body-length %.20q is not a length", v)
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

// span is where a member's value lies in its object's text (start -1: absent).
type span struct{ start, end int }

func (s span) ok() bool { return s.start >= 0 }

func (s span) shift(by int) span {
	if !s.ok() {
		return s
	}
	return span{s.start + by, s.end + by}
}

// topMembers walks the JSON object in data and returns the value span of the last
// top-level member of each name (matched in any case, as encoding/json does). ok is false
// when data is not an object it can walk without unescaping a key; the walk only finds
// ends, validation is the decoder's.
func topMembers(data []byte, names ...string) (spans []span, ok bool) {
	spans = make([]span, len(names))
	for i := range spans {
		spans[i].start = -1
	}
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return spans, skipSpace(data, i+1) == len(data)
	}
	for {
		key, vStart, vEnd, good := member(data, i)
		if !good {
			return nil, false
		}
		for k, n := range names {
			if bytes.EqualFold(key, []byte(n)) {
				spans[k] = span{vStart, vEnd}
			}
		}
		i = skipSpace(data, vEnd)
		if i >= len(data) {
			return nil, false
		}
		if data[i] == '}' {
			return spans, skipSpace(data, i+1) == len(data)
		}
		if data[i] != ',' {
			return nil, false
		}
		i = skipSpace(data, i+1)
	}
}

// member reads the member starting at data[i]: its key (unescaped keys only) and its
// value's span.
func member(data []byte, i int) (key []byte, vStart, vEnd int, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, 0, 0, false
	}
	kEnd, escaped := stringEnd(data, i)
	if kEnd < 0 || escaped {
		return nil, 0, 0, false
	}
	key = data[i+1 : kEnd-1]
	i = skipSpace(data, kEnd)
	if i >= len(data) || data[i] != ':' {
		return nil, 0, 0, false
	}
	vStart = skipSpace(data, i+1)
	vEnd = valueEnd(data, vStart)
	return key, vStart, vEnd, vEnd >= 0
}

// DecodeService decodes r as a service request: the line with DecodeAs (bounded as any
// message), the body the record's raw bytes (a slice of the message, not a copy). A line
// that carries a `body` of its own, says its body is base64, or whose decoded body-length
// differs from the framing's is refused: a record's body is raw and only raw.
func (r Record) DecodeService(svc *Service) error {
	if err := DecodeAs(ContentTypeJSON, r.Line, svc); err != nil {
		return err
	}
	return r.rawBody(svc)
}

// DecodeRequest is DecodeService for a request about to be served: the fields of
// ServingSkips are left empty (DecodeRequest of serving.go).
func (r Record) DecodeRequest(svc *Service) error {
	if err := DecodeRequest(ContentTypeJSON, r.Line, svc); err != nil {
		return err
	}
	return r.rawBody(svc)
}

// rawBody checks that the decoded line of r leaves the body to the record, and sets it.
func (r Record) rawBody(svc *Service) error {
	switch {
	case svc.Body != nil:
		return errorf(CodeMalformed, ActionService, nil, "a service record carries a body field; its body must be raw")
	case svc.BodyBase64Encoded:
		return errorf(CodeMalformed, ActionService, nil, "a service record says body-base64-encoded true; its body is raw")
	case svc.BodyLength != len(r.Body):
		return errorf(CodeFraming, ActionService, nil, "the record's body-length %d is not the framing's %d", svc.BodyLength, len(r.Body))
	}
	if len(r.Body) > 0 {
		svc.Body = r.Body
	}
	return nil
}

// DecodeAnswer decodes r as an answer (what our frontend reads; the runner only writes
// them). Its body is the record's raw bytes.
func (r Record) DecodeAnswer(a *Answer) error {
	var w recordAnswer
	if err := checkShape(JSON, r.Line); err != nil {
		err.Action = ActionAnswer
		return err
	}
	if err := json.Unmarshal(r.Line, &w); err != nil {
		return errorf(CodeMalformed, ActionAnswer, err, "decoding an answer record")
	}
	if w.Action != ActionAnswer {
		return errorf(CodeWrongAction, w.Action, nil, "want action %q, got %q", ActionAnswer, w.Action)
	}
	if w.Answer.BodyLength != len(r.Body) {
		return errorf(CodeFraming, ActionAnswer, nil, "the record's answer.body-length %d is not the framing's %d", w.Answer.BodyLength, len(r.Body))
	}
	*a = Answer{Header: w.Header, RequestID: w.RequestID,
		Answer: AnswerBody{Status: w.Answer.Status, Headers: w.Answer.Headers}}
	if len(r.Body) > 0 {
		a.Answer.Body = r.Body
	}
	return nil
}

// recordAnswer is an answer as its record's line has it: headers always as pairs, no
// body, the body's length.
type recordAnswer struct {
	Header
	RequestID         string `json:"request-id"`
	BodyBase64Encoded bool   `json:"body-base64-encoded"`
	Answer            struct {
		Status     int         `json:"status"`
		Headers    HeaderPairs `json:"headers"`
		BodyLength int         `json:"body-length"`
	} `json:"answer"`
}

// AppendServiceRecord appends svc as a request record to dst: its fields as the catalogue
// has them, with body-base64-encoded false, no body field, body-length and the raw body.
// svc is left as it was.
func AppendServiceRecord(dst []byte, svc *Service) ([]byte, error) {
	w := *svc
	w.Action = ActionService
	w.BodyBase64Encoded, w.BodyLength, w.Body = false, len(svc.Body), nil
	return appendRecord(dst, &w, svc.Body)
}

// AppendAnswerRecord appends a as an answer record to dst: headers as pairs (whatever
// MapHeaders says: records go to our frontend, which reads pairs), answer.body-length and
// the raw body. It writes what encoding/json writes for recordAnswer, byte for byte
// (TestAnswerRecordAsEncodingJSON), without reflection: it is the runner's hot path.
func AppendAnswerRecord(dst []byte, a *Answer) ([]byte, error) {
	h := &a.Header
	dst = slices.Grow(dst, answerRecordSize(a))
	dst = append(dst, `{"action":"answer"`...)
	dst = appendMember(dst, "msg-id", h.MsgID)
	if h.At != 0 {
		dst = strconv.AppendInt(append(dst, `,"at":`...), h.At, 10)
	}
	dst = appendMember(dst, "version", h.Version)
	dst = appendMember(dst, "from", h.From)
	dst = appendJSONString(append(dst, `,"request-id":`...), a.RequestID)
	dst = strconv.AppendInt(append(dst, `,"body-base64-encoded":false,"answer":{"status":`...), int64(a.Answer.Status), 10)
	dst = append(dst, `,"headers":[`...)
	for i, p := range a.Answer.Headers {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(append(dst, '['), p[0])
		dst = append(appendJSONString(append(dst, ','), p[1]), ']')
	}
	dst = strconv.AppendInt(append(dst, `],"body-length":`...), int64(len(a.Answer.Body)), 10)
	dst = append(dst, "}}\n"...)
	return append(dst, a.Answer.Body...), nil
}

// answerRecordSize is the size of a's record when its strings need no escapes: one
// allocation for the usual record.
func answerRecordSize(a *Answer) int {
	n := 160 + len(a.MsgID) + len(a.Version) + len(a.From) + len(a.RequestID) + len(a.Answer.Body)
	for _, p := range a.Answer.Headers {
		n += len(p[0]) + len(p[1]) + 8
	}
	return n
}

// appendMember appends `,"name":"value"`, nothing for an empty value (omitempty).
func appendMember(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(append(append(dst, `,"`...), name...), `":`...)
	return appendJSONString(dst, value)
}

// appendJSONString appends s as encoding/json writes a string: quotes, backslash and
// control characters escaped, <, > and & as \u003c \u003e \u0026, invalid UTF-8 as
// \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(append(dst, s[start:i]...), `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(append(dst, s[start:i]...), '\\', 'u', '2', '0', '2', hex[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(dst, s[start:]...), '"')
}

// appendRecord appends v's JSON line, the `\n` and body.
func appendRecord(dst []byte, v any, body []byte) ([]byte, error) {
	line, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	dst = append(append(dst, line...), '\n')
	return append(dst, body...), nil
}

// RecordsHeaderValue is the fc-records value of a message of n records.
func RecordsHeaderValue(n int) string { return strconv.Itoa(n) }
