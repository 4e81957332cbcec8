package protocol

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seed is one golden or captured message.
type seed struct {
	name, contentType string
	body              []byte
}

// corpus is every golden and captured message: the seed corpus of the fuzz targets.
func corpus(tb testing.TB) []seed {
	var out []seed
	for _, dir := range []string{"testdata/golden", "testdata/captured"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				tb.Fatal(err)
			}
			ct := ContentTypeJSON
			if filepath.Ext(p) == ".edn" {
				ct = ContentTypeEDN
			}
			out = append(out, seed{p, ct, b})
		}
	}
	return out
}

// FuzzDecode: no input makes a decoder panic or overflow its stack, and whatever decodes
// encodes and decodes again in both codecs. The seed corpus is every golden and captured
// message, and deep and tagged bodies in both codecs, so the fuzzer starts at the bounds.
func FuzzDecode(f *testing.F) {
	for _, g := range corpus(f) {
		f.Add(g.contentType, g.body)
	}
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	f.Add(ContentTypeEDN, heartbeatWith(EDN, deep))
	f.Add(ContentTypeJSON, heartbeatWith(JSON, deep))
	f.Add(ContentTypeEDN, heartbeatWith(EDN, `#_ #a #{[\] "]" ; ]`+"\n"+`(\u0028)}`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		m, err := Decode(ct, body)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Decode returned %T, want *Error", err)
			}
			return
		}
		for _, c := range []Codec{JSON, EDN} {
			b, err := Encode(c, m)
			if err != nil {
				t.Fatalf("Encode(%s) of a decoded message: %v", c, err)
			}
			if _, err := Decode(string(c), b); err != nil {
				t.Fatalf("Decode(Encode(%s)) = %v\nbody %s", c, err, b)
			}
		}
	})
}
