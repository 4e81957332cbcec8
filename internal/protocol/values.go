package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"

	"olympos.io/encoding/edn"
)

// HostPort is an address such as `tron-host` or a frontend's `host-info`.
type HostPort struct {
	Host string `json:"host" edn:"host"`
	Port Port   `json:"port" edn:"port"`
}

// Port is a TCP port. It decodes from a number or a numeric string (the original frontend
// sends "80") and always encodes as a number.
type Port int

func (p *Port) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		return p.parse(s)
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("port: %w", err)
	}
	*p = Port(n)
	return nil
}

func (p *Port) UnmarshalEDN(b []byte) error {
	var v any
	if err := edn.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case int64:
		*p = Port(x)
		return nil
	case string:
		return p.parse(x)
	}
	return fmt.Errorf("port: want a number, got %T", v)
}

func (p *Port) parse(s string) error {
	if s == "" {
		*p = 0
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("port %q: not a number", s)
	}
	*p = Port(n)
	return nil
}

// Base64 is a binary payload, written as a standard base64 string with padding in both
// codecs (encoding/json does that for any []byte; EDN would otherwise write #base64 tags).
type Base64 []byte

func (b Base64) MarshalEDN() ([]byte, error) {
	out := make([]byte, 0, base64.StdEncoding.EncodedLen(len(b))+2)
	out = append(out, '"')
	out = base64.StdEncoding.AppendEncode(out, b)
	return append(out, '"'), nil
}

func (b *Base64) UnmarshalEDN(data []byte) error {
	var s string
	if err := edn.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("body: want a base64 string: %w", err)
	}
	dec, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("body: %w", err)
	}
	*b = dec
	return nil
}

// Values are the values of one request header or query argument. One value travels as a
// string, several as an array. A nil Values is a query argument given without `=` (nginx
// reports it as `true`); a header is never nil.
type Values []string

func (v Values) MarshalJSON() ([]byte, error) {
	switch {
	case v == nil:
		return []byte("true"), nil
	case len(v) == 1:
		return json.Marshal(v[0])
	}
	return json.Marshal([]string(v))
}

func (v *Values) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = Values{s}
		return nil
	case len(b) > 0 && b[0] == '[':
		var ss []string
		if err := json.Unmarshal(b, &ss); err != nil {
			return err
		}
		*v = append(Values{}, ss...)
		return nil
	case bytes.Equal(b, []byte("true")):
		*v = nil
		return nil
	}
	return fmt.Errorf("want a string, an array of strings or true, got %.20s", b)
}

func (v Values) MarshalEDN() ([]byte, error) {
	switch {
	case v == nil:
		return []byte("true"), nil
	case len(v) == 1:
		return edn.Marshal(v[0])
	}
	return edn.Marshal([]string(v))
}

func (v *Values) UnmarshalEDN(b []byte) error {
	var x any
	if err := edn.Unmarshal(b, &x); err != nil {
		return err
	}
	switch t := x.(type) {
	case string:
		*v = Values{t}
		return nil
	case bool:
		if t {
			*v = nil
			return nil
		}
	case []any:
		out := make(Values, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("want strings in the list, got %T", e)
			}
			out = append(out, s)
		}
		*v = out
		return nil
	}
	return fmt.Errorf("want a string, a list of strings or true, got %T", x)
}

// Headers maps lower-case request header names to their values.
type Headers map[string]Values

func (h *Headers) UnmarshalEDN(b []byte) error { return unmarshalEDNMap(b, (*map[string]Values)(h)) }

// Get returns the first value of header name (lower-case), or "".
func (h Headers) Get(name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// URIArgs maps query argument names to their values (nil Values: given without `=`).
type URIArgs map[string]Values

func (a *URIArgs) UnmarshalEDN(b []byte) error { return unmarshalEDNMap(b, (*map[string]Values)(a)) }

// Props are the properties given at enable time: any JSON value per name. They reach the
// bundle and never leave the Tron and runners.
type Props map[string]any

func (p *Props) UnmarshalEDN(b []byte) error {
	var raw any
	if err := edn.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw == nil {
		*p = nil
		return nil
	}
	v, err := fromEDN(raw)
	if err != nil {
		return fmt.Errorf("props: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("props: want a map, got %T", raw)
	}
	*p = m
	return nil
}

// Stats maps route queue names to their counters.
type Stats map[string]RouteStats

func (s *Stats) UnmarshalEDN(b []byte) error { return unmarshalEDNMap(b, (*map[string]RouteStats)(s)) }

// unmarshalEDNMap decodes an EDN map whose keys are strings or keywords (a Clojure sender
// keywordizes) into a map with string keys.
func unmarshalEDNMap[V any](b []byte, dst *map[string]V) error {
	var raw map[any]edn.RawMessage
	if err := edn.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw == nil {
		*dst = nil
		return nil
	}
	m := make(map[string]V, len(raw))
	for k, rv := range raw {
		key, ok := ednKey(k)
		if !ok {
			return fmt.Errorf("map key %v: want a string or keyword", k)
		}
		var v V
		if err := edn.Unmarshal(rv, &v); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		m[key] = v
	}
	*dst = m
	return nil
}

func ednKey(k any) (string, bool) {
	switch t := k.(type) {
	case string:
		return t, true
	case edn.Keyword:
		return string(t), true
	case edn.Symbol:
		return string(t), true
	}
	return "", false
}

// fromEDN turns a generically decoded EDN value into the JSON data model (string-keyed
// maps, []any, string, float64/int64, bool, nil), so props look the same from both codecs.
func fromEDN(v any) (any, error) {
	switch t := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			key, ok := ednKey(k)
			if !ok {
				return nil, fmt.Errorf("map key %v: want a string or keyword", k)
			}
			val, err := fromEDN(e)
			if err != nil {
				return nil, err
			}
			m[key] = val
		}
		return m, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			val, err := fromEDN(e)
			if err != nil {
				return nil, err
			}
			out[i] = val
		}
		return out, nil
	case edn.Keyword:
		return string(t), nil
	case edn.Symbol:
		return string(t), nil
	case edn.Rune:
		return string(rune(t)), nil
	case nil, string, bool, int64, float64:
		return t, nil
	}
	return nil, fmt.Errorf("unsupported EDN value of type %T", v)
}
