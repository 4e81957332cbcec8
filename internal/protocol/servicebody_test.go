package protocol

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// cjsonService is a service message as the Lua frontend writes it: lua-cjson escapes every
// '/' as `\/`, also in the base64 body. The body is random bytes.
func cjsonService(t testing.TB, size int) []byte {
	s := benchService(size)
	rand.New(rand.NewSource(int64(size))).Read(s.Body)
	b, err := Encode(JSON, s)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(b, []byte("/"), []byte(`\/`))
}

// TestDecodeServiceJSON: the body decoded apart gives what encoding/json gives, and every
// case off the plain path is left to encoding/json.
func TestDecodeServiceJSON(t *testing.T) {
	body := strings.Repeat("QUJD", 300) // "ABC" repeated
	tests := []struct {
		name string
		msg  string
		fast bool
	}{
		{"plain", `{"action":"service","body":"` + body + `","reply-queue":"q"}`, true},
		{"escaped slash", `{"action":"service","body":"` + body + `Pz8\/","reply-queue":"q"}`, true},
		{"body last of two", `{"body":"QQ==","action":"service","Body":"` + body + `"}`, true},
		{"nested body keys", `{"headers":{"body":"x","b":["}]","{\"body\":"]},"body":"` + body + `"}`, true},
		{"other escape", `{"body":"` + body + `\u0041A=="}`, false},
		{"newline in the string", "{\"body\":\"" + body + "\nQQ==\"}", false},
		{"escaped key", `{"bod\u0079":"` + body + `"}`, false},
		{"body not a string", `{"action":"service","body":12,"x":"` + body + `"}`, false},
		{"no body", `{"action":"service","x":"` + body + `"}`, false},
		{"bad base64", `{"body":"` + body + `%%%"}`, false},
		{"broken rest", `{"body":"` + body + `","method":5}`, false},
		{"not an object", `["body","` + body + `"]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got, want Service
			fast := decodeServiceJSON([]byte(tt.msg), &got)
			if fast != tt.fast {
				t.Fatalf("decodeServiceJSON = %v, want %v", fast, tt.fast)
			}
			if err := json.Unmarshal([]byte(tt.msg), &want); fast && (err != nil || !reflect.DeepEqual(got, want)) {
				t.Errorf("decoded apart:\n%+v\nencoding/json (err %v):\n%+v", got, err, want)
			}
		})
	}
}

// FuzzServiceBody: whatever the body-apart decoder accepts, encoding/json decodes to the same
// Service; nothing makes it panic.
func FuzzServiceBody(f *testing.F) {
	for _, dir := range []string{"testdata/golden", "testdata/captured"} {
		files, _ := filepath.Glob(filepath.Join(dir, "service*.json"))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add(cjsonService(f, 2000))
	f.Fuzz(func(t *testing.T, msg []byte) {
		var got, want Service
		if !decodeServiceJSON(msg, &got) {
			return
		}
		if err := json.Unmarshal(msg, &want); err != nil {
			t.Fatalf("decoded apart a message encoding/json refuses (%v): %q", err, msg)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded apart:\n%+v\nencoding/json:\n%+v", got, want)
		}
	})
}

// BenchmarkDecodeServiceCJSON decodes service messages as the Lua frontend writes them.
func BenchmarkDecodeServiceCJSON(b *testing.B) {
	for _, size := range benchSizes {
		msg := cjsonService(b, size)
		b.Run(byteSize(size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if err := DecodeAs(ContentTypeJSON, msg, new(Service)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func byteSize(n int) string {
	switch {
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string { return strconv.Itoa(n) }
