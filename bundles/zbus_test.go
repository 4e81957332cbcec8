package bundles

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// zbusManifest is a zbus manifest with section sec and the paths of ops.
func zbusManifest(sec, ops string) string {
	return "swagger: '2.0'\nbasePath: /z\nx-funcatron:\n  kind: zbus\n  zbus: " + sec + "\npaths:\n" + ops
}

const zbusOps = "  /bal:\n    post: {operationId: bal, x-zbus: {cmd: wallet.balance, dst: [1002, 1003], exp: 30, try: 1}}\n"

// TestZbusSection: the section's settings with defaults, the routes by operationId, the
// endpoints as operations.
func TestZbusSection(t *testing.T) {
	b := mustOpen(t, withManifest(t, "funcatron.yaml", zbusManifest(
		`{redis: "redis://r:6379/1", twin: 1001, twins: {1002: "http://b.example/z/", "1003": "https://c"}, command: bin/calc, workers: 1, timeout: 5, serve: [{cmd: calc.add, path: /add}], endpoints: true}`,
		zbusOps+"  /plain:\n    get: {operationId: plain}\n"), exe("bin/calc", "x")))
	z := b.Zbus
	want := &ZbusConfig{Redis: "redis://r:6379/1", Twin: 1001, Twins: map[int]string{1002: "http://b.example/z", 1003: "https://c"},
		Serve: []ZbusServe{{"calc.add", "/add"}}, Endpoints: true, Concurrency: DefaultConcurrency,
		Routes: map[string]ZbusRoute{"bal": {Cmd: "wallet.balance", Dst: []int{1002, 1003}, Exp: 30, Try: 1}}}
	node := z.Node
	z.Node = nil
	if !reflect.DeepEqual(z, want) {
		t.Errorf("Zbus = %+v\nwant %+v", z, want)
	}
	if node == nil || node.Command[0] != "bin/calc" || node.Workers != 1 || node.Timeout != 5*time.Second || node.Mode != ModeHTTP || node.Concurrency != DefaultConcurrency {
		t.Errorf("node = %+v", node)
	}
	var ids []string
	for _, op := range b.Operations {
		ids = append(ids, op.Method+" "+op.Path+" "+op.OperationID)
	}
	wantIDs := []string{"POST /bal bal", "GET /plain plain", "POST /zbus-cmd zbus-cmd", "POST /zbus-remote zbus-remote", "POST /zbus-reply zbus-reply", "POST /zbus-result zbus-result"}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Errorf("operations %v\nwant %v", ids, wantIDs)
	}
	if m, err := b.Router().Match("POST", "/z/zbus-reply"); err != nil || m.Operation.OperationID != "zbus-reply" {
		t.Errorf("POST /z/zbus-reply: %v %v", m, err)
	}
	min := mustOpen(t, withManifest(t, "funcatron.yaml", zbusManifest(`{twin: 7}`, "  /a:\n    get: {operationId: a}\n")))
	if z := min.Zbus; z.Redis != DefaultZbusRedis || z.Node != nil || z.Twins != nil || z.Endpoints || len(min.Operations) != 1 {
		t.Errorf("defaults: %+v, %v", z, min.Operations)
	}
	if rt := mustOpen(t, withManifest(t, "funcatron.yaml", zbusManifest(`{twin: 7}`, "  /a:\n    post: {operationId: a, x-zbus: {cmd: c, dst: [8]}}\n"))).Zbus.Routes["a"]; rt.Exp != DefaultZbusExp || rt.Try != DefaultZbusTry {
		t.Errorf("x-zbus defaults: %+v", rt)
	}
}

// TestZbusRefuses: each bad setting is refused with a message naming it.
func TestZbusRefuses(t *testing.T) {
	ops := "  /a:\n    get: {operationId: a}\n"
	tests := []struct{ name, sec, ops, want string }{
		{"no twin", `{redis: "redis://r"}`, ops, "x-funcatron.zbus.twin is missing"},
		{"twin zero", `{twin: 0}`, ops, "x-funcatron.zbus.twin must be a twin id"},
		{"twin a word", `{twin: abc}`, ops, "x-funcatron.zbus.twin must be a twin id"},
		{"redis not a URL", `{twin: 1, redis: "http://r"}`, ops, "x-funcatron.zbus.redis must be a redis:// or rediss:// URL"},
		{"unknown key", `{twin: 1, mode: x}`, ops, `unknown key "mode" in x-funcatron.zbus`},
		{"twins bad key", `{twin: 1, twins: {x: "http://a"}}`, ops, `x-funcatron.zbus.twins has the key "x"`},
		{"twins bad URL", `{twin: 1, twins: {2: "ftp://a"}}`, ops, "x-funcatron.zbus.twins 2 must be an http:// or https:// base URL"},
		{"serve without node", `{twin: 1, serve: [{cmd: a, path: /a}]}`, ops, "x-funcatron.zbus.serve needs a node"},
		{"node key without command", `{twin: 1, workers: 2}`, ops, "x-funcatron.zbus.workers configures the node"},
		{"command not in bundle", `{twin: 1, command: bin/nope}`, ops, `zbus command "bin/nope" is not a file in the bundle`},
		{"serve system cmd", `{twin: 1, command: bin/calc, serve: [{cmd: system.local, path: /a}]}`, ops, "msgbusd's own queue"},
		{"serve bad path", `{twin: 1, command: bin/calc, serve: [{cmd: a, path: a}]}`, ops, "entry 1: path must be a clean path"},
		{"serve twice", `{twin: 1, command: bin/calc, serve: [{cmd: a, path: /a}, {cmd: a, path: /b}]}`, ops, `serves "a" twice`},
		{"serve extra key", `{twin: 1, command: bin/calc, serve: [{cmd: a, path: /a, x: 1}]}`, ops, "entry 1 must be {cmd, path}"},
		{"endpoints a prop", `{twin: 1, endpoints: "${props.e}"}`, ops, "x-funcatron.zbus.endpoints must be true or false"},
		{"concurrency 0", `{twin: 1, concurrency: 0}`, ops, "x-funcatron.zbus.concurrency must be a whole number from 1"},
		{"endpoint clash", `{twin: 1, endpoints: true}`, "  /zbus-cmd:\n    post: {operationId: mine}\n", "clashes with the endpoint POST /zbus-cmd"},
		{"x-zbus no cmd", `{twin: 1}`, "  /a:\n    post: {operationId: a, x-zbus: {dst: [2]}}\n", "x-zbus of POST /a needs cmd and dst"},
		{"x-zbus dst a number", `{twin: 1}`, "  /a:\n    post: {operationId: a, x-zbus: {cmd: c, dst: 2}}\n", "dst must be a list of 1 to 64 twin ids"},
		{"x-zbus dst twice", `{twin: 1}`, "  /a:\n    post: {operationId: a, x-zbus: {cmd: c, dst: [2, 2]}}\n", "names twin 2 twice"},
		{"x-zbus exp 0", `{twin: 1}`, "  /a:\n    post: {operationId: a, x-zbus: {cmd: c, dst: [2], exp: 0}}\n", "exp must be a whole number from 1 to 86400"},
		{"x-zbus unknown key", `{twin: 1}`, "  /a:\n    post: {operationId: a, x-zbus: {cmd: c, dst: [2], ttl: 3}}\n", `unknown key "ttl"`},
		{"x-zbus without operationId", `{twin: 1}`, "  /a:\n    post: {x-zbus: {cmd: c, dst: [2]}}\n  /b:\n    get: {operationId: b}\n", "needs an operationId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(withManifest(t, "funcatron.yaml", zbusManifest(tt.sec, tt.ops), exe("bin/calc", "x")), Limits{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open: %v\nwant an error containing %q", err, tt.want)
			}
		})
	}
}

// TestZbusProps: settings from props are checked once props are known.
func TestZbusProps(t *testing.T) {
	b := mustOpen(t, withManifest(t, "funcatron.yaml", zbusManifest(`{redis: "${props.redis}", twin: "${props.twin}", twins: "${props.twins}"}`, "  /a:\n    get: {operationId: a}\n")))
	pb, err := b.WithProps(map[string]any{"redis": "redis://x:1/0", "twin": float64(5), "twins": map[string]any{"6": "http://six"}})
	if err != nil || pb.Zbus.Redis != "redis://x:1/0" || pb.Zbus.Twin != 5 || pb.Zbus.Twins[6] != "http://six" {
		t.Fatalf("WithProps: %+v, %v", pb, err)
	}
	if _, err := b.WithProps(map[string]any{"redis": "nope", "twin": 5, "twins": map[string]any{}}); err == nil || !strings.Contains(err.Error(), "redis must be a redis://") {
		t.Errorf("bad redis prop: %v", err)
	}
}
