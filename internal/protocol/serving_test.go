package protocol

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestServingSkips: servingService shadows exactly the fields ServingSkips names, each a
// field of Service; DecodeRequest gives what DecodeAs gives with those fields empty, for
// every golden and captured service message, in both forms of the body (below and above
// splitBodyMin) and as a record.
func TestServingSkips(t *testing.T) {
	var shadowed []string
	vt := reflect.TypeOf(servingService{})
	for i := range vt.NumField() {
		if f := vt.Field(i); !f.Anonymous {
			shadowed = append(shadowed, f.Tag.Get("json"))
		}
	}
	if !slices.Equal(shadowed, ServingSkips) {
		t.Errorf("servingService shadows %v, ServingSkips says %v", shadowed, ServingSkips)
	}
	full, _ := Encode(JSON, examples()[ActionService])
	big := benchService(4096)
	big.Header = Header{Action: ActionService, MsgID: "m", At: 1, Version: "v", From: "f"}
	bigBody, _ := Encode(JSON, big)
	bodies := [][]byte{full, bigBody}
	for _, g := range corpus(t) {
		var head Header
		if json.Unmarshal(g.body, &head) == nil && head.Action == ActionService {
			bodies = append(bodies, g.body)
		}
	}
	for _, b := range bodies {
		var want, got Service
		if err := DecodeAs(ContentTypeJSON, b, &want); err != nil {
			t.Fatal(err)
		}
		if err := DecodeRequest(ContentTypeJSON, b, &got); err != nil {
			t.Fatal(err)
		}
		want.MsgID, want.At, want.Version, want.From = "", 0, "", ""
		want.URIArgs, want.ServerAddr, want.Request, want.HTTPReferer, want.HTTPUserAgent = nil, "", "", "", ""
		if !reflect.DeepEqual(got, want) {
			t.Errorf("DecodeRequest:\n got %+v\nwant %+v", got, want)
		}
	}
	names := jsonNames(reflect.TypeOf(Service{}))
	for _, name := range ServingSkips {
		if !slices.Contains(names, name) {
			t.Errorf("%s is not a field of the service message", name)
		}
	}
}

// jsonNames are the JSON names of t's fields, embedded structs' included.
func jsonNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, jsonNames(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out = append(out, name)
	}
	return out
}
