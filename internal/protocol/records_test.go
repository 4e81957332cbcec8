package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// goldenServices are the requests of records-service.bin: a GET without body, a POST with a
// 5-byte body, a POST whose body holds a newline and a NUL (raw bytes, not a line).
func goldenServices() []*Service {
	mk := func(n, method, uri string, body string) *Service {
		s := &Service{Header: Header{Action: ActionService, MsgID: "msg-" + n, At: 1795312211000},
			Headers: Headers{"host": {"example.com"}}, Method: method, Host: "example.com", URI: uri,
			RequestURI: uri, Scheme: "http", RemoteAddr: "127.0.0.1", ServerPort: "8080",
			RequestID: "req-" + n, ReplyTo: "req-" + n, ReplyQueue: "FRNT41c01e80-c693-4dc5-8cdd-4dfd9b3d4d2e",
			AnswerHeaders: AnswerHeadersPairs}
		if body != "" {
			s.Body = Base64(body)
			s.ContentType = "application/octet-stream"
			s.Headers["content-type"] = Values{s.ContentType}
		}
		return s
	}
	return []*Service{
		mk("1", "GET", "/api/hello", ""),
		mk("2", "POST", "/api/echo", "hello"),
		mk("3", "POST", "/api/echo", "line1\nline2\x00end"),
	}
}

// goldenAnswers are the answers of records-answer.bin: one with a binary body, an empty 204.
func goldenAnswers() []*Answer {
	h := Header{Action: ActionAnswer, MsgID: "ans-1", At: 1795312211000, Version: "0.1.0", From: "RU-9d7c1a52-3f7e-4c55-a0c3-2a4e0c6f1b77"}
	h2 := h
	h2.MsgID = "ans-2"
	return []*Answer{
		{Header: h, RequestID: "req-2", Answer: AnswerBody{Status: 200,
			Headers: HeaderPairs{{"Content-Type", "application/octet-stream"}, {"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}},
			Body:    Base64("\x00\x01\xff\n{\"x\":1}\r\n")}},
		{Header: h2, RequestID: "req-1", Answer: AnswerBody{Status: 204, Headers: HeaderPairs{}}},
	}
}

// goldenDescription is the .json beside a golden records file: what a reader in any
// language must find in it (the Lua specs read it too).
type goldenDescription struct {
	Comment string            `json:"comment"`
	Headers map[string]string `json:"headers"`
	Records []goldenRecord    `json:"records"`
}

type goldenRecord struct {
	Fields     map[string]any `json:"fields"`      // the JSON line, decoded
	BodyBase64 string         `json:"body-base64"` // the raw body
}

// TestRecordsGolden pins the records framing of requests and answers (records-*.bin) and
// their descriptions (records-*.json), and reads each file back into what it came from.
func TestRecordsGolden(t *testing.T) {
	var svcBin []byte
	for _, s := range goldenServices() {
		var err error
		if svcBin, err = AppendServiceRecord(svcBin, s); err != nil {
			t.Fatal(err)
		}
	}
	var ansBin []byte
	for _, a := range goldenAnswers() {
		var err error
		if ansBin, err = AppendAnswerRecord(ansBin, a); err != nil {
			t.Fatal(err)
		}
	}
	checkGoldenRecords(t, "records-service", svcBin, 3, "3 service records: a GET without body, a POST with a 5-byte body, a POST whose body holds a newline and a NUL")
	checkGoldenRecords(t, "records-answer", ansBin, 2, "2 answer records: a 200 with a binary body, an empty 204")

	recs := splitGolden(t, "records-service.bin", 3)
	for i, want := range goldenServices() {
		var got Service
		if err := recs[i].DecodeService(&got); err != nil {
			t.Fatalf("service record %d: %v", i, err)
		}
		want.BodyLength = len(want.Body)
		if !reflect.DeepEqual(&got, want) {
			t.Errorf("service record %d:\n got %#v\nwant %#v", i, &got, want)
		}
	}
	recs = splitGolden(t, "records-answer.bin", 2)
	for i, want := range goldenAnswers() {
		var got Answer
		if err := recs[i].DecodeAnswer(&got); err != nil {
			t.Fatalf("answer record %d: %v", i, err)
		}
		if len(want.Answer.Body) == 0 {
			want.Answer.Body = nil
		}
		if !reflect.DeepEqual(&got, want) {
			t.Errorf("answer record %d:\n got %#v\nwant %#v", i, &got, want)
		}
	}
}

// checkGoldenRecords compares bin with the golden file name.bin and the description of
// its records with name.json (rewriting both with -update).
func checkGoldenRecords(t *testing.T, name string, bin []byte, count int, comment string) {
	t.Helper()
	recs, err := SplitRecords(bin, count)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	desc := goldenDescription{Comment: comment, Records: []goldenRecord{},
		Headers: map[string]string{"content-type": ContentTypeJSON, HeaderFraming: FramingRecords, HeaderRecords: RecordsHeaderValue(count)}}
	for _, r := range recs {
		var fields map[string]any
		if err := json.Unmarshal(r.Line, &fields); err != nil {
			t.Fatalf("%s: line %s: %v", name, r.Line, err)
		}
		desc.Records = append(desc.Records, goldenRecord{fields, base64.StdEncoding.EncodeToString(r.Body)})
	}
	descJSON, _ := json.MarshalIndent(desc, "", "  ")
	descJSON = append(descJSON, '\n')
	binPath := filepath.Join("testdata", "golden", name+".bin")
	jsonPath := filepath.Join("testdata", "golden", name+".json")
	if *update {
		os.WriteFile(binPath, bin, 0o644)
		os.WriteFile(jsonPath, descJSON, 0o644)
	}
	for path, got := range map[string][]byte{binPath: bin, jsonPath: descJSON} {
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("reading golden file (run go test -update once): %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s changed:\n got %q\nwant %q", path, got, want)
		}
	}
}

func splitGolden(t *testing.T, name string, count int) []Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := SplitRecords(b, count)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return recs
}

// TestSplitRecordsBroken: every way the framing can be broken is a CodeFraming error.
func TestSplitRecordsBroken(t *testing.T) {
	rec := `{"action":"service","body-length":5}` + "\nhello"
	cases := []struct {
		name, body string
		count      int
	}{
		{"count too high", rec, 2},
		{"count zero", rec, 0},
		{"count past MaxRecords", rec, MaxRecords + 1},
		{"trailing bytes", rec + "x", 1},
		{"no newline", `{"action":"service"}`, 1},
		{"empty", "", 1},
		{"length past the end", `{"action":"service","body-length":6}` + "\nhello", 1},
		{"negative length", `{"action":"service","body-length":-1}` + "\n", 1},
		{"fractional length", `{"action":"service","body-length":1.5}` + "\nh", 1},
		{"exponent length", `{"action":"service","body-length":1e0}` + "\nh", 1},
		{"string length", `{"action":"service","body-length":"5"}` + "\nhello", 1},
		{"huge length", `{"action":"service","body-length":99999999999999999999}` + "\nhello", 1},
		{"not an object", `["action","service"]` + "\n", 1},
		{"not JSON", "hello\n", 1},
		{"escaped key", `{"action":"service","body\u002dlength":5}` + "\nhello", 1},
		{"answer length past the end", `{"action":"answer","answer":{"status":200,"body-length":9}}` + "\nhi", 1},
		{"unclosed object", `{"action":"service","body-length":5` + "\nhello", 1},
	}
	for _, c := range cases {
		_, err := SplitRecords([]byte(c.body), c.count)
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != CodeFraming {
			t.Errorf("%s: err %v, want %s", c.name, err, CodeFraming)
		}
	}
}

// TestRecordDecodeRefusals: a record that frames but is no raw service request is refused
// by its decoding, not by the framing (the other records stay usable).
func TestRecordDecodeRefusals(t *testing.T) {
	cases := []struct {
		name, line string
		code       Code
	}{
		{"base64 body field", `{"action":"service","body":"aGk=","body-base64-encoded":true}`, CodeMalformed},
		{"base64 flag", `{"action":"service","body-base64-encoded":true}`, CodeMalformed},
		{"another action", `{"action":"heartbeat"}`, CodeWrongAction},
		{"wrong type", `{"action":"service","method":5}`, CodeMalformed},
		{"length differs in case", `{"action":"service","BODY-LENGTH":2,"body-length":0}`, ""},
		{"too deep", `{"action":"service","headers":` + strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1) + `}`, CodeTooDeep},
	}
	for _, c := range cases {
		body := []byte(c.line + "\n")
		recs, err := SplitRecords(body, 1)
		if err != nil {
			t.Errorf("%s: framing refused it: %v", c.name, err)
			continue
		}
		err = recs[0].DecodeService(new(Service))
		var pe *Error
		if c.code == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
		} else if !errors.As(err, &pe) || pe.Code != c.code {
			t.Errorf("%s: err %v, want %s", c.name, err, c.code)
		}
	}
}

// TestRecordBodiesNotCopied: a record's body is a slice of the message, capped at its end.
func TestRecordBodiesNotCopied(t *testing.T) {
	body := []byte(`{"action":"service","body-length":2}` + "\nhi" + `{"action":"service"}` + "\n")
	recs, err := SplitRecords(body, 2)
	if err != nil {
		t.Fatal(err)
	}
	if &recs[0].Body[0] != &body[len(body)-len(`{"action":"service"}`+"\n")-2] || cap(recs[0].Body) != 2 {
		t.Errorf("body %q is not the message's bytes, capped", recs[0].Body)
	}
	if recs[1].Body == nil || len(recs[1].Body) != 0 {
		t.Errorf("second record's body %q, want empty", recs[1].Body)
	}
}

// FuzzSplitRecords: no input makes the framing panic or return a record outside the
// message, and whatever frames and decodes as a service record writes and frames back to
// the same request.
func FuzzSplitRecords(f *testing.F) {
	for _, name := range []string{"records-service.bin", "records-answer.bin"} {
		b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, 3)
		f.Add(b, 2)
	}
	f.Add([]byte(`{"action":"answer","answer":{"body-length":1},"body-length":3}`+"\nabc"), 1)
	f.Add([]byte(`{"Body-Length":1,"body-length":2}`+"\nab"), 1)
	f.Fuzz(func(t *testing.T, body []byte, count int) {
		recs, err := SplitRecords(body, count)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("SplitRecords returned %T, want *Error", err)
			}
			return
		}
		total := 0
		for _, r := range recs {
			total += len(r.Line) + 1 + len(r.Body)
		}
		if total != len(body) || len(recs) != count {
			t.Fatalf("%d records covering %d bytes of %d", len(recs), total, len(body))
		}
		for _, r := range recs {
			var a Answer
			_ = r.DecodeAnswer(&a)
			var svc Service
			if r.DecodeService(&svc) != nil {
				continue
			}
			again, err := AppendServiceRecord(nil, &svc)
			if err != nil {
				t.Fatal(err)
			}
			back, err := SplitRecords(again, 1)
			if err != nil {
				t.Fatalf("a decoded record written again does not frame: %v\n%q", err, again)
			}
			var svc2 Service
			if err := back[0].DecodeService(&svc2); err != nil || !bytes.Equal(svc2.Body, svc.Body) {
				t.Fatalf("round trip: %v, body %q, want %q", err, svc2.Body, svc.Body)
			}
		}
	})
}

// answerRecordByJSON is what AppendAnswerRecord must write: encoding/json's form of
// recordAnswer, the `\n` and the body.
func answerRecordByJSON(a *Answer) []byte {
	w := recordAnswer{Header: a.Header, RequestID: a.RequestID}
	w.Action = ActionAnswer
	w.Answer.Status, w.Answer.Headers, w.Answer.BodyLength = a.Answer.Status, a.Answer.Headers, len(a.Answer.Body)
	if w.Answer.Headers == nil {
		w.Answer.Headers = HeaderPairs{}
	}
	line, _ := json.Marshal(&w)
	return append(append(line, '\n'), a.Answer.Body...)
}

// TestAnswerRecordAsEncodingJSON: the hand-written answer record is encoding/json's, byte
// for byte, for the golden answers and strings that need every kind of escape.
func TestAnswerRecordAsEncodingJSON(t *testing.T) {
	answers := goldenAnswers()
	odd := "q\"b\\s/<>&\b\f\n\r\t\x00\x1f\x7f é \u2028\u2029 \xff\xfe end"
	answers = append(answers, &Answer{Header: Header{From: odd}, RequestID: odd,
		Answer: AnswerBody{Status: -1, Headers: HeaderPairs{{odd, odd}, {"", ""}}, Body: []byte(odd)}})
	for i, a := range answers {
		got, _ := AppendAnswerRecord([]byte("prefix"), a)
		if want := append([]byte("prefix"), answerRecordByJSON(a)...); !bytes.Equal(got, want) {
			t.Errorf("answer %d:\n got %q\nwant %q", i, got, want)
		}
	}
}

// FuzzAnswerRecord: AppendAnswerRecord writes what encoding/json writes, for any strings.
func FuzzAnswerRecord(f *testing.F) {
	f.Add("req-1", "RU-x", "Content-Type", "text/plain", 200, []byte("hi"))
	f.Add("\u2028\xff<", "\"\\", "\x00", "é\n", -5, []byte{})
	f.Fuzz(func(t *testing.T, id, from, name, value string, status int, body []byte) {
		a := &Answer{Header: Header{MsgID: id, From: from, At: int64(status)}, RequestID: id,
			Answer: AnswerBody{Status: status, Headers: HeaderPairs{{name, value}}, Body: body}}
		got, _ := AppendAnswerRecord(nil, a)
		if want := answerRecordByJSON(a); !bytes.Equal(got, want) {
			t.Fatalf("\n got %q\nwant %q", got, want)
		}
	})
}

// BenchmarkAnswerRecord: the hand-written answer record against encoding/json's.
func BenchmarkAnswerRecord(b *testing.B) {
	a := goldenAnswers()[0]
	a.Answer.Body = bytes.Repeat([]byte("x"), 1024)
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			AppendAnswerRecord(nil, a)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			answerRecordByJSON(a)
		}
	})
}

// TestParseRecordCount: fc-records as AMQP may carry it (a string or any integer type).
func TestParseRecordCount(t *testing.T) {
	for _, v := range []any{"3", []byte("3"), 3, int8(3), int16(3), int32(3), int64(3), uint8(3), uint16(3), uint32(3)} {
		if n, err := ParseRecordCount(v); n != 3 || err != nil {
			t.Errorf("%T %v: %d, %v", v, v, n, err)
		}
	}
	for _, v := range []any{nil, "", "x", "-1", "0", " 3", 3.0, int64(MaxRecords + 1), "99999999999"} {
		if _, err := ParseRecordCount(v); err == nil {
			t.Errorf("%T %v: no error", v, v)
		}
	}
}
