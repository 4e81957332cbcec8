// A faster JSON decode of the service message: its base64 body is cut out and decoded
// directly, so encoding/json only reads the small rest.

package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
)

// splitBodyMin is the size from which a service message's body is decoded apart; below it
// encoding/json alone is as fast.
const splitBodyMin = 1024

// decodeServiceJSON decodes a JSON service message into svc, its body apart: encoding/json
// reads the message with the body's value replaced by null (the small rest), and the body's
// base64 text is decoded here, without encoding/json's two byte-by-byte passes over it
// (validation, then unquoting) that made a 64 KiB request cost ~0.6 ms. It reports false,
// leaving svc to be decoded as usual, whenever the message is not the plain case: no body or
// not a string, escapes other than `\/` (lua-cjson writes every '/' so: our frontend no
// longer encodes the body with it, but the 2017 frontend does), a body member
// spelt otherwise (encoding/json matches names case-insensitively, the last one winning),
// escaped keys, anything not base64, or any error, so errors stay encoding/json's own.
// The result is then the same as encoding/json's: FuzzServiceBody compares them.
func decodeServiceJSON(data []byte, svc *Service) bool {
	return decodeServiceJSONInto(data, svc, svc)
}

// decodeServiceJSONInto is decodeServiceJSON decoding the rest into into, which is svc or
// a view of it (servingService).
func decodeServiceJSONInto(data []byte, svc *Service, into any) bool {
	if !bytes.Contains(data, []byte(`"body"`)) {
		return false // no body (a GET): no walk; a body spelt otherwise takes the usual way
	}
	start, end, ok := bodySpan(data)
	if !ok {
		return false
	}
	body, ok := decodeBase64Text(data[start+1 : end-1])
	if !ok {
		return false
	}
	rest := make([]byte, 0, len(data)-(end-start)+len("null"))
	rest = append(append(append(rest, data[:start]...), "null"...), data[end:]...)
	if json.Unmarshal(rest, into) != nil {
		return false // the message is broken: decoding it as usual gives encoding/json's error
	}
	svc.Body = body
	return true
}

// bodySpan finds the value of the last top-level member of the JSON object in data named
// "body" in any case; start and end bound the string, quotes included. ok is false when the
// value is not a string or the object cannot be walked without unescaping a key.
func bodySpan(data []byte) (start, end int, ok bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return 0, 0, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return 0, 0, false
	}
	found := false
	for {
		if i >= len(data) || data[i] != '"' {
			return 0, 0, false
		}
		kEnd, escaped := stringEnd(data, i)
		if kEnd < 0 || escaped {
			return 0, 0, false
		}
		key := data[i+1 : kEnd-1]
		i = skipSpace(data, kEnd)
		if i >= len(data) || data[i] != ':' {
			return 0, 0, false
		}
		i = skipSpace(data, i+1)
		vEnd := valueEnd(data, i)
		if vEnd < 0 {
			return 0, 0, false
		}
		if bytes.EqualFold(key, []byte("body")) {
			start, end, found = i, vEnd, true
		}
		i = skipSpace(data, vEnd)
		if i >= len(data) {
			return 0, 0, false
		}
		if data[i] == '}' {
			break
		}
		if data[i] != ',' {
			return 0, 0, false
		}
		i = skipSpace(data, i+1)
	}
	if !found || data[start] != '"' {
		return 0, 0, false
	}
	return start, end, true
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the closing quote of the string starting at data[i],
// and whether it holds a backslash; -1 when it does not end. A quote is the closing one when
// an even number of backslashes precede it.
func stringEnd(data []byte, i int) (end int, escaped bool) {
	for j := i + 1; ; {
		k := bytes.IndexByte(data[j:], '"')
		if k < 0 {
			return -1, escaped
		}
		q := j + k
		if !escaped && bytes.IndexByte(data[j:q], '\\') >= 0 {
			escaped = true
		}
		n := 0
		for p := q - 1; p > i && data[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, escaped
		}
		j = q + 1
	}
}

// valueEnd returns the index after the value starting at data[i] (-1: it does not end). It
// only finds the end; json.Unmarshal validates the rest of the message.
func valueEnd(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		end, _ := stringEnd(data, i)
		return end
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				end, _ := stringEnd(data, i)
				if end < 0 {
					return -1
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	j := i
	for j < len(data) && isLiteralByte(data[j]) {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

func isLiteralByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'E'
}

// decodeBase64Text decodes the content of a JSON string holding standard base64, where the
// only escape is `\/`. ok is false for anything else, including the CR and LF the base64
// decoder would skip but JSON does not allow in a string.
func decodeBase64Text(text []byte) ([]byte, bool) {
	if bytes.IndexByte(text, '\\') >= 0 {
		var ok bool
		if text, ok = unescapeSlashes(text); !ok {
			return nil, false
		}
	}
	if bytes.IndexByte(text, '\n') >= 0 || bytes.IndexByte(text, '\r') >= 0 {
		return nil, false
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Decode(out, text)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}

// unescapeSlashes returns s with each `\/` turned into '/'; ok is false when s holds
// another escape.
func unescapeSlashes(s []byte) (out []byte, ok bool) {
	out = make([]byte, 0, len(s))
	for {
		i := bytes.IndexByte(s, '\\')
		if i < 0 {
			return append(out, s...), true
		}
		if i+1 >= len(s) || s[i+1] != '/' {
			return nil, false
		}
		out = append(append(out, s[:i]...), '/')
		s = s[i+2:]
	}
}
