package bundles

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// propsFrom decodes props as the Tron and runners get them: JSON.
func propsFrom(t *testing.T, s string) map[string]any {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		t.Fatalf("props %s: %v", s, err)
	}
	return p
}

func TestWithPropsZbus(t *testing.T) {
	b := mustOpen(t, makeZip(t, exe("bin/calc", "x"), file("funcatron.yaml", `swagger: "2.0"
x-funcatron:
  kind: zbus
  zbus:
    redis: redis://${props.host}:${props.port}/0
    twin: 1001
    twins: ${props.twins}
    command: bin/calc
    serve: [{cmd: "calc.${props.suffix}", path: /add}]
`+opsYAML)))
	if b.Section["twins"] != "${props.twins}" {
		t.Errorf("before props, twins = %v, want the placeholder", b.Section["twins"])
	}
	pb, err := b.WithProps(propsFrom(t, `{"host":"r.local","port":6379,"twins":{"1002":"http://b"},"suffix":"add","unused":true}`))
	if err != nil {
		t.Fatalf("WithProps: %v", err)
	}
	want := map[string]any{
		"redis":   "redis://r.local:6379/0",
		"twin":    1001,
		"twins":   map[string]any{"1002": "http://b"},
		"command": "bin/calc",
		"serve":   []any{map[string]any{"cmd": "calc.add", "path": "/add"}},
	}
	if !reflect.DeepEqual(pb.Section, want) {
		t.Errorf("Section = %#v\nwant %#v", pb.Section, want)
	}
	if b.Section["twins"] != "${props.twins}" {
		t.Errorf("WithProps changed the original: twins = %v", b.Section["twins"])
	}
}

// TestWithPropsExec checks that exec settings from props are checked and
// typed, and that Open leaves them for WithProps.
func TestWithPropsExec(t *testing.T) {
	b := mustOpen(t, makeZip(t, exe("bin/a", "x"), exe("bin/b", "x"), file("funcatron.yaml", `swagger: "2.0"
x-funcatron:
  exec:
    command: ["bin/${props.prog}", "--db=${props.db}"]
    workers: ${props.workers}
    timeout: ${props.timeout}
    env: {GREETING: "${props.greeting}"}
`+opsYAML)))
	if b.Exec.Workers != DefaultWorkers || b.Exec.Command[0] != "bin/${props.prog}" {
		t.Errorf("before props: workers %d, command %v; want the default and the placeholder", b.Exec.Workers, b.Exec.Command)
	}
	pb, err := b.WithProps(propsFrom(t, `{"prog":"b","db":"x","workers":4,"timeout":"2s","greeting":"hey"}`))
	if err != nil {
		t.Fatalf("WithProps: %v", err)
	}
	got := pb.Exec
	if got.Workers != 4 || got.Timeout != 2*time.Second || got.Env["GREETING"] != "hey" ||
		!reflect.DeepEqual(got.Command, []string{"bin/b", "--db=x"}) || got.file != "bin/b" {
		t.Errorf("after props: %+v", got)
	}
}

func TestWithPropsRefuses(t *testing.T) {
	b := mustOpen(t, makeZip(t, exe("bin/a", "x"), file("funcatron.yaml", `swagger: "2.0"
x-funcatron:
  exec:
    command: ["bin/${props.prog}"]
    workers: ${props.workers}
    env:
      URL: "redis://${props.host}/0"
`+opsYAML)))
	tests := []struct {
		name, props, want string
	}{
		{"missing prop", `{"prog":"a","workers":1}`,
			`funcatron.yaml: line 7: x-funcatron.exec.env.URL: missing prop "host"`},
		{"no props at all", `{}`,
			`funcatron.yaml: line 4: x-funcatron.exec.command: missing prop "prog"`},
		{"map inside a string", `{"prog":"a","workers":1,"host":{"a":1}}`,
			`funcatron.yaml: line 7: x-funcatron.exec.env.URL: prop "host" is a mapping; only a string, number or boolean can be part of a longer string`},
		{"wrong type for workers", `{"prog":"a","workers":"many","host":"h"}`,
			"funcatron.yaml: line 5: x-funcatron.exec.workers must be a whole number from 1 to 64, not many"},
		{"command not in the bundle", `{"prog":"zz","workers":1,"host":"h"}`,
			`funcatron.yaml: line 4: exec command "bin/zz" is not a file in the bundle`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.WithProps(propsFrom(t, tt.props))
			if err == nil {
				t.Fatal("WithProps accepted the props")
			}
			if got := invalidText(t, err); got != tt.want {
				t.Errorf("WithProps error\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestWithPropsWithoutPlaceholders(t *testing.T) {
	b := mustOpen(t, withManifest(t, "funcatron.yaml", helloYAML))
	pb, err := b.WithProps(nil)
	if err != nil {
		t.Fatalf("WithProps(nil): %v", err)
	}
	if !reflect.DeepEqual(pb.Exec, b.Exec) || pb.Router() != b.Router() {
		t.Errorf("WithProps(nil) changed the bundle: %+v vs %+v", pb.Exec, b.Exec)
	}
}

// TestWithPropsOtherSections checks that only the kind's own section needs props.
func TestWithPropsOtherSections(t *testing.T) {
	b := mustOpen(t, withManifest(t, "funcatron.yaml", `swagger: "2.0"
x-funcatron:
  kind: exec
  exec: {command: bin/hello}
  zbus: {redis: "${props.redis}"}
`+opsYAML))
	if _, err := b.WithProps(nil); err != nil {
		t.Errorf("WithProps(nil) with a placeholder in an unused section: %v", err)
	}
	noXF := mustOpen(t, withManifest(t, "funcatron.yaml", "swagger: '2.0'\n"+opsYAML, exe("bin/run", "x")))
	if pb, err := noXF.WithProps(map[string]any{"a": 1}); err != nil || pb.Exec.Command[0] != DefaultCommand {
		t.Errorf("WithProps without x-funcatron: %v, %v", pb, err)
	}
}
