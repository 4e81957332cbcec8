package zbus

import (
	"strings"
	"testing"
)

// TestMessageKeepsFields: a decoded message encodes back with every field, in its order,
// the extra ones (sig, pxy of the npm client) included; one built here has msgbusd's order.
func TestMessageKeepsFields(t *testing.T) {
	for _, name := range []string{"request-calc-add.json", "request-calc-add-two-dst.json", "app-reply-calc-add.json", "forward-to-app-calc-add.json"} {
		_, raw := captured(t, name)
		m, err := Decode([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := string(m.Encode()); got != raw {
			t.Errorf("%s: encoded\n got %s\nwant %s", name, got, raw)
		}
	}
	m := &Message{Ver: 1, Cmd: "c", Dst: []int64{2}, Ret: "r"}
	if got, want := string(m.Encode()), `{"ver":1,"uid":"","cmd":"c","exp":0,"try":0,"dat":"","src":0,"dst":[2],"ret":"r","shm":"","now":0,"err":""}`; got != want {
		t.Errorf("built: %s, want %s", got, want)
	}
	_, raw := captured(t, "request-calc-add.json")
	m, _ = Decode([]byte(raw))
	if m.Pxy() || string(m.Extra("sig")) != `""` || m.Dst[0] != 1002 || m.Try != 2 {
		t.Errorf("fields: %+v", m)
	}
}

// TestMessageLenient: rmb-peer's err object and string src are read; a field of the wrong
// type is reported by Validate, not by Decode; input that is not an object is refused.
func TestMessageLenient(t *testing.T) {
	m, err := Decode([]byte(`{"ver":1,"uid":"1.1","src":"1002","dst":[1001],"err":{"code":1,"message":"boom"},"now":1.0}`))
	if err != nil || m.Src != 1002 || m.Err != "boom" || m.Now != 1 || m.ValidateReply() != nil {
		t.Errorf("rmb-peer reply: %+v, %v", m, err)
	}
	bad := map[string]string{
		`{"ver":"1","cmd":"c","dst":[1],"ret":"r"}`:           "ver must be a number",
		`{"ver":1,"cmd":3,"dst":[1],"ret":"r"}`:               "cmd must be a string",
		`{"ver":1,"cmd":"c","dst":"1","ret":"r"}`:             "dst must be a list of twin ids",
		`{"ver":1,"cmd":"c","dst":[1.5],"ret":"r"}`:           "dst must be a list of twin ids",
		`{"ver":1,"cmd":"c","dst":[1],"ret":"r","dat":"*"}`:   "dat is not base64",
		`{"ver":1,"cmd":"c","dst":[1],"ret":""}`:              "ret is missing",
		`{"ver":1,"cmd":"c","dst":[],"ret":"r"}`:              "dst is missing",
		`{"ver":1,"cmd":"c","dst":[0],"ret":"r"}`:             "not a twin id",
		`{"ver":1,"cmd":"c","dst":[1],"ret":"r","exp":1e400}`: "exp must be",
	}
	for raw, want := range bad {
		m, err := Decode([]byte(raw))
		if err != nil {
			t.Errorf("%s: Decode: %v", raw, err)
			continue
		}
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Validate: %v, want %q", raw, err, want)
		}
	}
	for _, raw := range []string{``, `[]`, `"x"`, `{"ver":1`, `{"ver":1}{}`, `{"ver":1} x`} {
		if _, err := Decode([]byte(raw)); err == nil {
			t.Errorf("%q decoded", raw)
		}
	}
}

// FuzzDecode: any input decodes or fails cleanly, and what decodes encodes to JSON that
// decodes again to the same fields (after one round, which makes invalid UTF-8 U+FFFD).
func FuzzDecode(f *testing.F) {
	f.Add(`{"ver":1,"uid":"","cmd":"calc.add","dst":[1002],"ret":"r","sig":"","pxy":false}`)
	f.Add(`{"err":{"code":1},"src":"7","dst":null}`)
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Decode([]byte(s))
		if err != nil {
			return
		}
		m.Validate()
		once, err := Decode(m.Encode())
		if err != nil {
			t.Fatalf("re-decoding %s: %v", m.Encode(), err)
		}
		twice, err := Decode(once.Encode())
		if err != nil || string(twice.Encode()) != string(once.Encode()) {
			t.Fatalf("not stable: %s vs %s (%v)", twice.Encode(), once.Encode(), err)
		}
	})
}
