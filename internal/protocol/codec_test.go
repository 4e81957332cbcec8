package protocol

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGolden pins the wire form of every message in both codecs, and shows each golden file
// decodes back to the message it came from.
func TestGolden(t *testing.T) {
	for action, m := range examples() {
		for _, c := range []struct {
			codec Codec
			ext   string
		}{{JSON, "json"}, {EDN, "edn"}} {
			t.Run(action+"."+c.ext, func(t *testing.T) {
				got, err := Encode(c.codec, m)
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				path := filepath.Join("testdata", "golden", action+"."+c.ext)
				if *update {
					os.MkdirAll(filepath.Dir(path), 0o755)
					if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("reading golden file (run go test -update once): %v", err)
				}
				if !bytes.Equal(got, bytes.TrimSuffix(want, []byte("\n"))) {
					t.Errorf("wire form changed:\n got %s\nwant %s", got, want)
				}
				back, err := Decode(string(c.codec), want)
				if err != nil {
					t.Fatalf("Decode(golden): %v", err)
				}
				if !reflect.DeepEqual(back, m) {
					t.Errorf("round trip:\n got %#v\nwant %#v", back, m)
				}
			})
		}
	}
}

// TestCapturedOriginalFrontend decodes the messages the original Lua frontend really sent
// (trailing CRLFs, ports as strings, host_info, repeated headers and args as arrays).
func TestCapturedOriginalFrontend(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", "captured", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	m, err := Decode("application/json", read("awake.json"))
	if err != nil {
		t.Fatalf("awake: %v", err)
	}
	a := m.(*Awake)
	if a.Type != TypeFrontend || a.InstanceID != "R-12345-23456-3456-4567-5678" || a.HostInfo == nil || a.HostInfo.Port != 80 {
		t.Errorf("awake decoded as %+v (host info %+v)", a, a.HostInfo)
	}
	if _, err := Decode("application/json", read("heartbeat.json")); err != nil {
		t.Errorf("heartbeat: %v", err)
	}
	var s Service
	if err := DecodeAs("application/json", read("service-get.json"), &s); err != nil {
		t.Fatalf("service-get: %v", err)
	}
	if !reflect.DeepEqual(s.Headers["x-multi"], Values{"a", "b"}) || !reflect.DeepEqual(s.URIArgs["x"], Values{"1", "2"}) ||
		s.URIArgs["y"][0] != "z" || s.ServerPort != "18080" || s.Method != "GET" || len(s.Body) != 0 {
		t.Errorf("service-get decoded as %+v", s)
	}
	var p Service
	if err := DecodeAs("application/json", read("service-post.json"), &p); err != nil {
		t.Fatalf("service-post: %v", err)
	}
	if string(p.Body) != `{"hello":"world","n":42}` {
		t.Errorf("service-post body = %q", p.Body)
	}
	for _, name := range []string{"service-host.json", "service-post-20k.json"} {
		if err := DecodeAs("application/json", read(name), &Service{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, ct, body string
		code           Code
	}{
		{"not json", "application/json", "{nope", CodeMalformed},
		{"not a map", "application/json", "[1,2]", CodeMalformed},
		{"no action", "application/json", `{"msg-id":"x"}`, CodeNoAction},
		{"unknown action", "application/json", `{"action":"dance"}`, CodeUnknownAction},
		{"wrong field type", "application/json", `{"action":"ack","ack-id":7}`, CodeMalformed},
		{"bad content type", "text/xml", `<a/>`, CodeContentType},
		{"edn garbage", "application/edn", `{:action "ack" :ack-id`, CodeMalformed},
		{"bad base64", "application/json", `{"action":"service","body":"%%%"}`, CodeMalformed},
		{"bad port", "application/json", `{"action":"tron-info","tron-host":{"host":"h","port":"x"}}`, CodeMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.ct, []byte(tt.body))
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != tt.code {
				t.Errorf("Decode(%q) error = %v, want code %s", tt.body, err, tt.code)
			}
		})
	}
}

func TestDecodeAsWrongAction(t *testing.T) {
	err := DecodeAs("application/json", []byte(`{"action":"answer"}`), &Service{})
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeWrongAction {
		t.Errorf("DecodeAs(answer into Service) = %v, want %s", err, CodeWrongAction)
	}
}

func TestSniffAndContentTypeParameters(t *testing.T) {
	for _, tt := range []struct{ ct, body string }{
		{"", `{:action "resend-awake" :msg-id "m"}`},
		{"", ` {"action":"resend-awake","msg-id":"m"}`},
		{"application/json; charset=utf-8", `{"action":"resend-awake","msg-id":"m"}`},
		{"Application/EDN", `{:action "resend-awake", :msg-id "m"}`},
	} {
		m, err := Decode(tt.ct, []byte(tt.body))
		if err != nil || m.Head().MsgID != "m" {
			t.Errorf("Decode(%q, %q) = %+v, %v", tt.ct, tt.body, m, err)
		}
	}
}

// TestEDNKeywordMaps: a Clojure sender keywordizes data maps; they still decode.
func TestEDNKeywordMaps(t *testing.T) {
	body := `{:action "enable" :sha "ab" :props {:db {:url "x" :pool 4} "plain" [1 2.5 :k]}
	          :tron-host {:host "t" :port 3000} :host "" :path "/"}`
	m, err := Decode("application/edn", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := Props{"db": map[string]any{"url": "x", "pool": int64(4)}, "plain": []any{int64(1), 2.5, "k"}}
	if got := m.(*Enable).Props; !reflect.DeepEqual(got, want) {
		t.Errorf("props = %#v, want %#v", got, want)
	}
	h, err := Decode("application/edn", []byte(`{:action "service" :headers {:host "h" :x-a ["1" "2"]} :uri-args {:f true}}`))
	if err != nil {
		t.Fatal(err)
	}
	s := h.(*Service)
	if s.Headers.Get("host") != "h" || len(s.Headers["x-a"]) != 2 || s.URIArgs["f"] != nil {
		t.Errorf("service = %+v", s)
	}
}

func TestStamp(t *testing.T) {
	m := Stamp(&Ack{AckID: "a"}, "RU-1", "v1")
	if m.Action != ActionAck || m.MsgID == "" || m.At == 0 || m.From != "RU-1" || m.Version != "v1" {
		t.Errorf("Stamp gave %+v", m.Header)
	}
}

func TestCodecOf(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		want                    Codec
	}{
		{"json", "application/json", `{}`, JSON},
		{"json with charset", "application/json; charset=utf-8", `{}`, JSON},
		{"edn", "application/edn", `{}`, EDN},
		{"unlabelled edn", "", ` { :action "x"}`, EDN},
		{"unlabelled json", "", `{"action":"x"}`, JSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := CodecOf(tt.contentType, []byte(tt.body)); got != tt.want {
				t.Errorf("CodecOf(%q, %q) = %s, want %s", tt.contentType, tt.body, got, tt.want)
			}
		})
	}
}

// TestGoldenAnswerMapHeaders pins the map form of an answer's headers, the one the 2017
// frontend reads (spec/protocol.md §3): name → string, or → array for a repeated header,
// names differing in case merged, and the body still last. It decodes back to pairs.
func TestGoldenAnswerMapHeaders(t *testing.T) {
	m := examples()[ActionAnswer].(*Answer)
	m.Answer.MapHeaders = true
	m.Answer.Headers = append(m.Answer.Headers, [2]string{"set-cookie", "c=3"})
	got, err := Encode(JSON, m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "golden", "answer-map-headers.json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.TrimSuffix(want, []byte("\n"))) {
		t.Errorf("wire form changed:\n got %s\nwant %s", got, want)
	}
	if !bytes.HasSuffix(got, []byte(`"body":"aGk="}}`)) {
		t.Errorf("the body is not the last field: %s", got)
	}
	back, err := Decode(ContentTypeJSON, want)
	if err != nil {
		t.Fatal(err)
	}
	wantPairs := HeaderPairs{{"Content-Type", "text/plain"}, {"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}, {"Set-Cookie", "c=3"}}
	if h := back.(*Answer).Answer.Headers; !reflect.DeepEqual(h, wantPairs) {
		t.Errorf("decoded headers %v, want %v", h, wantPairs)
	}
}

// TestRouteHostNull: a route without a host goes out as null in both codecs (what the
// 2017 frontend matches as "any host") and null decodes as "".
func TestRouteHostNull(t *testing.T) {
	r := examples()[ActionRoute]
	j, _ := Encode(JSON, r)
	e, _ := Encode(EDN, r)
	if !bytes.Contains(j, []byte(`{"host":null,"path":"/api"`)) || !bytes.Contains(e, []byte(`{:host nil :path"/api"`)) {
		t.Errorf("host-less route not null:\n%s\n%s", j, e)
	}
	m, err := Decode(ContentTypeJSON, []byte(`{"action":"route","routes":[{"host":null,"path":"/a","queue":"q"},{"path":"/b","queue":"r"}],"table-version":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if rt := m.(*Route); rt.Routes[0].Host != "" || rt.Routes[1].Host != "" || rt.TableVersion != 2 {
		t.Errorf("decoded %+v", rt)
	}
}
