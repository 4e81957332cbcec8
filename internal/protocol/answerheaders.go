// The two forms of an answer's headers (spec/protocol.md §3): the catalogue's [name, value]
// pairs, which our frontend asks for, and the map name → string | array of strings that the
// 2017 frontend reads (it does ngx.header[name] = value for each entry).

package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"olympos.io/encoding/edn"
)

// AnswerHeadersPairs is the value of a service message's `answer-headers` that asks for
// the answer's headers as pairs; any other value, or none, gets the map form.
const AnswerHeadersPairs = "pairs"

// HeaderPairs are an answer's headers in order, repeated names (Set-Cookie) as separate
// pairs. It decodes from either wire form; a map is read in name order.
type HeaderPairs [][2]string

func (h *HeaderPairs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var m map[string]Values
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("answer headers: %w", err)
		}
		*h = pairsOf(m)
		return nil
	}
	var p [][2]string
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*h = p
	return nil
}

func (h *HeaderPairs) UnmarshalEDN(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var m map[string]Values
		if err := unmarshalEDNMap(b, &m); err != nil {
			return fmt.Errorf("answer headers: %w", err)
		}
		*h = pairsOf(m)
		return nil
	}
	var p [][2]string
	if err := edn.Unmarshal(b, &p); err != nil {
		return err
	}
	*h = p
	return nil
}

// pairsOf turns the map form into pairs, names in order (a map has none of its own).
func pairsOf(m map[string]Values) HeaderPairs {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make(HeaderPairs, 0, len(m))
	for _, k := range names {
		for _, v := range m[k] {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

// Map is the map form of h. Names that differ only in case are one header (nginx's
// ngx.header is case-insensitive: a second assignment would replace the first), spelt as
// it first came; its values keep their order.
func (h HeaderPairs) Map() Headers {
	out := make(Headers, len(h))
	spelling := make(map[string]string, len(h))
	for _, p := range h {
		low := strings.ToLower(p[0])
		name, seen := spelling[low]
		if !seen {
			name = p[0]
			spelling[low] = name
		}
		out[name] = append(out[name], p[1])
	}
	return out
}

// mapAnswer is an Answer with its headers in the map form. Body stays the last field, as
// in AnswerBody.
type mapAnswer struct {
	Header
	RequestID string `json:"request-id" edn:"request-id"`
	Answer    struct {
		Status  int     `json:"status" edn:"status"`
		Headers Headers `json:"headers" edn:"headers"`
		Body    Base64  `json:"body" edn:"body"`
	} `json:"answer" edn:"answer"`
}

// wireForm is what Encode writes for m: an Answer whose MapHeaders is set goes out with
// the map form of its headers; every other message as it is.
func wireForm(m Message) any {
	a, ok := m.(*Answer)
	if !ok || !a.Answer.MapHeaders {
		return m
	}
	w := &mapAnswer{Header: a.Header, RequestID: a.RequestID}
	w.Answer.Status, w.Answer.Headers, w.Answer.Body = a.Answer.Status, a.Answer.Headers.Map(), a.Answer.Body
	return w
}
