// The msgbusd message (the seed's object schema): decoding that keeps every field and
// its order, encoding, and the checks msgbusd makes.

package zbus

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Message is one msgbusd message. Fields other than the seed's twelve (sig, pxy, ...) are
// kept with their order, so a message passed on or answered keeps what its sender wrote
// (the npm application side does the same).
type Message struct {
	Ver int64   `json:"ver"`
	UID string  `json:"uid"`
	Cmd string  `json:"cmd"`
	Exp int64   `json:"exp"`
	Try int64   `json:"try"`
	Dat string  `json:"dat"`
	Src int64   `json:"src"`
	Dst []int64 `json:"dst"`
	Ret string  `json:"ret"`
	Shm string  `json:"shm"`
	Now int64   `json:"now"`
	Err string  `json:"err"`

	order []string                   // every key as received, first occurrence first
	extra map[string]json.RawMessage // keys other than the twelve
	bad   error                      // the first field of the wrong type, for Validate
}

// knownKeys are the seed's fields in msgbusd's order, the order of a message built here.
var knownKeys = []string{"ver", "uid", "cmd", "exp", "try", "dat", "src", "dst", "ret", "shm", "now", "err"}

// errNotObject is Decode's error for input that is not a JSON object.
var errNotObject = errors.New("the message is not a JSON object")

// Decode reads a message. Input that is not a JSON object is an error; a field of the
// wrong type is not (the message can still be answered): Validate reports it.
func Decode(data []byte) (*Message, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errNotObject
	}
	m := &Message{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, errNotObject
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errNotObject
		}
		m.set(key, raw)
	}
	if _, err := dec.Token(); err != nil {
		return nil, errNotObject
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return nil, errNotObject // trailing data
	}
	return m, nil
}

// set stores one field; a value of the wrong type is noted in m.bad.
func (m *Message) set(key string, raw json.RawMessage) {
	if m.has(key) {
		m.drop(key)
	}
	m.order = append(m.order, key)
	var err error
	switch key {
	case "ver":
		m.Ver, err = intField(raw)
	case "exp":
		m.Exp, err = intField(raw)
	case "try":
		m.Try, err = intField(raw)
	case "src":
		m.Src, err = twinField(raw)
	case "now":
		m.Now, err = intField(raw)
	case "dst":
		m.Dst, err = dstField(raw)
	case "err":
		m.Err, err = errField(raw)
	case "uid", "cmd", "dat", "ret", "shm":
		err = stringField(raw, m.stringPtr(key))
	default:
		if m.extra == nil {
			m.extra = map[string]json.RawMessage{}
		}
		m.extra[key] = raw
	}
	if err != nil && m.bad == nil {
		m.bad = fmt.Errorf("%s %v", key, err)
	}
}

func (m *Message) has(key string) bool {
	for _, k := range m.order {
		if k == key {
			return true
		}
	}
	return false
}

func (m *Message) drop(key string) {
	for i, k := range m.order {
		if k == key {
			m.order = append(m.order[:i], m.order[i+1:]...)
			return
		}
	}
}

func (m *Message) stringPtr(key string) *string {
	switch key {
	case "uid":
		return &m.UID
	case "cmd":
		return &m.Cmd
	case "dat":
		return &m.Dat
	case "ret":
		return &m.Ret
	}
	return &m.Shm
}

// intField reads a whole number (an integral float too: JavaScript writes those).
func intField(raw json.RawMessage) (int64, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil || bytes.HasPrefix(bytes.TrimSpace(raw), []byte{'"'}) {
		if string(raw) == "null" {
			return 0, nil
		}
		return 0, errors.New("must be a number")
	}
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, errors.New("must be a whole number")
	}
	return int64(f), nil
}

// twinField reads src: a number, or the decimal string rmb-peer writes.
func twinField(raw json.RawMessage) (int64, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, errors.New("must be a twin id")
		}
		return n, nil
	}
	return intField(raw)
}

func dstField(raw json.RawMessage) ([]int64, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil || list == nil && string(raw) != "null" {
		return nil, errors.New("must be a list of twin ids")
	}
	dst := make([]int64, 0, len(list))
	for _, x := range list {
		n, err := intField(x)
		if err != nil {
			return nil, errors.New("must be a list of twin ids")
		}
		dst = append(dst, n)
	}
	return dst, nil
}

// errField reads err: a string, or rmb-peer's {code, message} (its message is kept).
func errField(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil || string(raw) == "null" {
		return s, nil
	}
	var obj struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		if obj.Message == "" {
			return string(raw), nil
		}
		return obj.Message, nil
	}
	return "", errors.New("must be a string")
}

func stringField(raw json.RawMessage, into *string) error {
	if string(raw) == "null" {
		*into = ""
		return nil
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return errors.New("must be a string")
	}
	return nil
}

// Extra returns a field other than the twelve as it was written, or nil.
func (m *Message) Extra(key string) json.RawMessage { return m.extra[key] }

// Pxy reports whether the message carries pxy: true (a /zbus-cmd request: its reply goes
// straight to ret).
func (m *Message) Pxy() bool { return string(m.extra["pxy"]) == "true" }

// SetExtra sets a field other than the twelve.
func (m *Message) SetExtra(key string, raw json.RawMessage) {
	if !m.has(key) {
		m.order = append(m.order, key)
	}
	if m.extra == nil {
		m.extra = map[string]json.RawMessage{}
	}
	m.extra[key] = raw
}

// Clone returns a copy that shares nothing mutable with m.
func (m *Message) Clone() *Message {
	c := *m
	c.Dst = append([]int64(nil), m.Dst...)
	c.order = append([]string(nil), m.order...)
	if m.extra != nil {
		c.extra = make(map[string]json.RawMessage, len(m.extra))
		for k, v := range m.extra {
			c.extra[k] = v
		}
	}
	return &c
}

// MarshalJSON writes the fields in the order they were received (a message built here:
// msgbusd's order), the twelve always present, dst never null.
func (m *Message) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	written := map[string]bool{}
	write := func(key string) {
		if written[key] {
			return
		}
		v, ok := m.value(key)
		if !ok {
			return
		}
		if len(written) > 0 {
			b.WriteByte(',')
		}
		written[key] = true
		k, _ := json.Marshal(key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	for _, k := range m.order {
		write(k)
	}
	for _, k := range knownKeys {
		write(k)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// value is the JSON of one field; ok is false for an unknown key m does not hold.
func (m *Message) value(key string) (json.RawMessage, bool) {
	var v any
	switch key {
	case "ver":
		v = m.Ver
	case "uid", "cmd", "dat", "ret", "shm":
		v = *m.stringPtr(key)
	case "exp":
		v = m.Exp
	case "try":
		v = m.Try
	case "src":
		v = m.Src
	case "dst":
		if m.Dst == nil {
			return json.RawMessage("[]"), true
		}
		v = m.Dst
	case "now":
		v = m.Now
	case "err":
		v = m.Err
	default:
		raw, ok := m.extra[key]
		return raw, ok
	}
	out, _ := json.Marshal(v)
	return out, true
}

// Encode is MarshalJSON for callers that cannot fail.
func (m *Message) Encode() []byte {
	b, _ := m.MarshalJSON()
	return b
}

// Data decodes dat (standard base64; the padding may be left out).
func (m *Message) Data() ([]byte, error) {
	if d, err := base64.StdEncoding.DecodeString(m.Dat); err == nil {
		return d, nil
	}
	d, err := base64.RawStdEncoding.DecodeString(m.Dat)
	if err != nil {
		return nil, errors.New("dat is not base64")
	}
	return d, nil
}

// SetData sets dat to the base64 of d.
func (m *Message) SetData(d []byte) { m.Dat = base64.StdEncoding.EncodeToString(d) }

// Validate makes msgbusd's checks of a request: fields of the right types, ver 1, cmd, dst
// and ret set, dst of twin ids, dat base64.
func (m *Message) Validate() error {
	switch {
	case m.bad != nil:
		return m.bad
	case m.Ver != 1:
		return fmt.Errorf("ver is %d, want 1", m.Ver)
	case m.Cmd == "":
		return errors.New("cmd is missing")
	case len(m.Dst) == 0:
		return errors.New("dst is missing")
	case m.Ret == "":
		return errors.New("ret is missing")
	case len(m.Dst) > maxDst:
		return fmt.Errorf("dst names more than %d twins", maxDst)
	}
	for _, d := range m.Dst {
		if d < 1 || d > math.MaxUint32 {
			return fmt.Errorf("dst holds %d, which is not a twin id", d)
		}
	}
	if _, err := m.Data(); err != nil {
		return err
	}
	return nil
}

// ValidateReply makes the checks of a reply: right types, ver 1, a uid and one dst.
func (m *Message) ValidateReply() error {
	switch {
	case m.bad != nil:
		return m.bad
	case m.Ver != 1:
		return fmt.Errorf("ver is %d, want 1", m.Ver)
	case m.UID == "":
		return errors.New("uid is missing")
	case len(m.Dst) != 1:
		return errors.New("dst must name one twin")
	}
	return nil
}

// maxDst bounds a message's destinations (each is a push and a backlog entry).
const maxDst = 64
