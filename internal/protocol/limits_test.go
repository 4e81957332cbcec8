package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"olympos.io/encoding/edn"
)

// heartbeatWith is a heartbeat whose extra field junk holds v (in EDN or JSON).
func heartbeatWith(c Codec, junk string) []byte {
	if c == EDN {
		return []byte(`{:action "heartbeat" :msg-id "m0" :at 1 :from "RU-x" :type "runner" :junk ` + junk + `}`)
	}
	return []byte(`{"action":"heartbeat","msg-id":"m0","at":1,"from":"RU-x","type":"runner","junk":` + junk + `}`)
}

func wantCode(t *testing.T, what string, err error, code Code) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Errorf("%s: got %v, want %s", what, err, code)
	}
}

// TestDeepBodiesRefused: a body nested past MaxDepth is refused with CodeTooDeep by Decode
// and DecodeAs in both codecs, also at 12 MB (the reproduction, which crashed the
// runner with a stack overflow); one just within the bound decodes.
func TestDeepBodiesRefused(t *testing.T) {
	for _, c := range []Codec{JSON, EDN} {
		for _, n := range []int{MaxDepth, 12 << 20 / 2} {
			body := heartbeatWith(c, strings.Repeat("[", n)+strings.Repeat("]", n))
			_, err := Decode(string(c), body)
			wantCode(t, string(c)+" Decode nested deep", err, CodeTooDeep)
			wantCode(t, string(c)+" DecodeAs nested deep", DecodeAs(string(c), body, new(Heartbeat)), CodeTooDeep)
		}
		n := MaxDepth - 1 // the message's own map is one level
		ok := heartbeatWith(c, strings.Repeat("[", n)+strings.Repeat("]", n))
		if _, err := Decode(string(c), ok); err != nil {
			t.Errorf("%s nested %d deep: %v, want it decoded", c, n, err)
		}
	}
}

// TestShapeScanNotFooled: closers hidden where they are not structure (strings, comments,
// character literals) do not lower the count, and EDN tags and discards, which the decoder
// reads recursively, raise it.
func TestShapeScanNotFooled(t *testing.T) {
	deep := func(unit string) string { return strings.Repeat(unit, MaxDepth+5) }
	cases := []struct {
		what string
		c    Codec
		junk string
	}{
		{"JSON closers in strings", JSON, deep(`["]]]]",`) + `1`},
		{"JSON escaped quotes in strings", JSON, deep(`["\"]]\\",`) + `1`},
		{"EDN closers in strings", EDN, deep(`["]]]]" `) + `1`},
		{"EDN escaped quotes in strings", EDN, deep(`["\"]]\\" `) + `1`},
		{"EDN closers in comments", EDN, deep("[; ]]]]]\n") + `1`},
		{"EDN closer characters", EDN, deep(`[\] \) \} `) + `1`},
		{"EDN quote character", EDN, deep(`[\" `) + `1`},
		{"EDN tags", EDN, deep(`#a `) + `1`},
		{"EDN discards", EDN, deep(`#_ `) + `1 1`},
		{"EDN sets", EDN, deep(`#{`) + strings.Repeat("}", MaxDepth+5)},
		{"EDN lists", EDN, deep(`(`) + strings.Repeat(")", MaxDepth+5)},
	}
	for _, tc := range cases {
		err := CheckShape(tc.c, heartbeatWith(tc.c, tc.junk))
		wantCode(t, tc.what, err, CodeTooDeep)
	}
}

// TestWideBodiesRefused: a collection of more than MaxItems elements is refused with
// CodeTooMany in both codecs; one of MaxItems/2 pairs decodes.
func TestWideBodiesRefused(t *testing.T) {
	list := func(c Codec, n int) string {
		if c == EDN {
			return "[" + strings.Repeat("1 ", n) + "]"
		}
		return "[" + strings.Repeat("1,", n-1) + "1]"
	}
	for _, c := range []Codec{JSON, EDN} {
		_, err := Decode(string(c), heartbeatWith(c, list(c, MaxItems+2)))
		wantCode(t, string(c)+" wide list", err, CodeTooMany)
		if _, err := Decode(string(c), heartbeatWith(c, list(c, MaxItems/2))); err != nil {
			t.Errorf("%s list of %d: %v, want it decoded", c, MaxItems/2, err)
		}
	}
}

// TestUnmarshalBounded: Unmarshal, the decoder of bodies outside the catalogue, refuses
// what Decode refuses (deep, wide) and decodes the rest into any value.
func TestUnmarshalBounded(t *testing.T) {
	var v map[string]any
	for _, c := range []Codec{JSON, EDN} {
		deep := heartbeatWith(c, strings.Repeat("[", MaxDepth)+strings.Repeat("]", MaxDepth))
		wantCode(t, string(c)+" deep", Unmarshal(c, deep, &v), CodeTooDeep)
		wide := heartbeatWith(c, "["+strings.Repeat("1 ", MaxItems+2)+"]")
		if c == JSON {
			wide = heartbeatWith(c, "["+strings.Repeat("1,", MaxItems+1)+"1]")
		}
		wantCode(t, string(c)+" wide", Unmarshal(c, wide, &v), CodeTooMany)
	}
	wantCode(t, "not JSON", Unmarshal(JSON, []byte(`{"a":`), &v), CodeMalformed)
	if err := Unmarshal(JSON, heartbeatWith(JSON, `[1]`), &v); err != nil || v["action"] != "heartbeat" {
		t.Errorf("a small JSON body: %v, %v", err, v)
	}
}

// TestCheckSize: over the limit is CodeTooLarge; at it, fine; 0 means the default.
func TestCheckSize(t *testing.T) {
	wantCode(t, "11 bytes over 10", CheckSize(make([]byte, 11), 10), CodeTooLarge)
	if err := CheckSize(make([]byte, 10), 10); err != nil {
		t.Errorf("10 bytes at 10: %v", err)
	}
	wantCode(t, "default", CheckSize(make([]byte, DefaultMaxMessageBytes+1), 0), CodeTooLarge)
}

// TestGoldenWithinBounds: every golden and captured message passes the shape scan.
func TestGoldenWithinBounds(t *testing.T) {
	for _, g := range corpus(t) {
		c, _ := CodecOf(g.contentType, g.body)
		if err := CheckShape(c, g.body); err != nil {
			t.Errorf("%s: %v", g.name, err)
		}
	}
}

// depthOf is the nesting depth of a value the EDN decoder produced (a tag is a level).
func depthOf(v any) int {
	d := 0
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			d = max(d, depthOf(e))
		}
	case map[any]any:
		for k, e := range t {
			d = max(d, depthOf(k), depthOf(e))
		}
	case map[string]any:
		for _, e := range t {
			d = max(d, depthOf(e))
		}
	case map[any]bool:
		for k := range t {
			d = max(d, depthOf(k))
		}
	case edn.Tag:
		d = depthOf(t.Value)
	default:
		return 0
	}
	return d + 1
}

// FuzzShapeEDN: the scan never panics, and whatever passes it decodes (when it decodes at
// all) to a value no deeper than MaxDepth: the scan never counts less than the decoder
// nests, whatever strings, comments, characters and tags the input holds.
func FuzzShapeEDN(f *testing.F) {
	for _, g := range corpus(f) {
		f.Add(g.body)
	}
	for _, s := range []string{`[\] "]" ; ]` + "\n]", `#a #b [#_ 1 #{(1)}]`, `[\"]`, `["\\" [1]]`, `(\u0028)`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if CheckShape(EDN, body) != nil {
			return
		}
		var v any
		if edn.Unmarshal(body, &v) != nil {
			return
		}
		if d := depthOf(v); d > MaxDepth {
			t.Fatalf("the scan passed a body the decoder nests %d deep: %q", d, body)
		}
	})
}

// FuzzShapeJSON: the same for JSON, against encoding/json.
func FuzzShapeJSON(f *testing.F) {
	for _, g := range corpus(f) {
		f.Add(g.body)
	}
	f.Add([]byte(`[["\"]]\\", [1]], {"a": [[]]}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if CheckShape(JSON, body) != nil {
			return
		}
		var v any
		if json.Unmarshal(body, &v) != nil {
			return
		}
		if d := depthOf(v); d > MaxDepth {
			t.Fatalf("the scan passed a body the decoder nests %d deep: %q", d, body)
		}
	})
}

// BenchmarkCheckShape is the scan's share of decoding a service message as our frontend
// sends it (lua-cjson: base64 with `\/` escapes); compare BenchmarkDecodeServiceCJSON.
func BenchmarkCheckShape(b *testing.B) {
	for _, size := range benchSizes {
		msg := cjsonService(b, size)
		b.Run(byteSize(size), func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if err := CheckShape(JSON, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
