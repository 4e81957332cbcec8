package protocol

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode: no input makes a decoder panic, and whatever decodes encodes and decodes again
// in both codecs. The seed corpus is every golden and captured message.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"testdata/golden", "testdata/captured"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			ct := ContentTypeJSON
			if filepath.Ext(p) == ".edn" {
				ct = ContentTypeEDN
			}
			f.Add(ct, b)
		}
	}
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
