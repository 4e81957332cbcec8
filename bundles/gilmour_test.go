package bundles

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// gilmourManifest is the spec's example (spec/bundles.md §5).
const gilmourManifest = `swagger: "2.0"
basePath: /g
x-funcatron:
  kind: gilmour
  gilmour:
    redis: ${props.redis}
    error_policy: queue
    node:
      command: ["bin/node"]
      health_check: /health
      services: [{topic: fib, group: math, path: /fib, timeout: 10}]
      slots:    [{topic: "user.*", group: audit, path: /audit, timeout: 5}, {topic: x, path: /x}]
paths:
  /fib:     {post: {operationId: fib,    x-gilmour: {request: fib, timeout: 10}}}
  /signal:  {post: {operationId: sig,    x-gilmour: {signal: user.created}}}
  /report:  {post: {operationId: report, x-gilmour: {timeout: 30, composition: {pipe: [{topic: a}, {andand: [{topic: b}, {topic: c, message: {k: 1}}]}]}}}}
`

func TestGilmourSection(t *testing.T) {
	b := mustOpen(t, withManifest(t, "funcatron.yaml", gilmourManifest, exe("bin/node", "#!/bin/sh\n")))
	b, err := b.WithProps(map[string]any{"redis": "redis://127.0.0.1:7777/1"})
	if err != nil {
		t.Fatal(err)
	}
	g := b.Gilmour
	if b.Kind != KindGilmour || g == nil || g.Redis != "redis://127.0.0.1:7777/1" || g.ErrorPolicy != ErrorsQueue || g.Concurrency != 32 {
		t.Fatalf("kind %s, config %+v", b.Kind, g)
	}
	n := g.Node
	wantServices := []Subscription{{Topic: "fib", Group: "math", Path: "/fib", Timeout: 10 * time.Second}}
	wantSlots := []Subscription{{Topic: "user.*", Group: "audit", Path: "/audit", Timeout: 5 * time.Second},
		{Topic: "x", Path: "/x", Timeout: DefaultTimeout}}
	if !reflect.DeepEqual(n.Command, []string{"bin/node"}) || n.HealthCheck != "/health" ||
		!reflect.DeepEqual(n.Services, wantServices) || !reflect.DeepEqual(n.Slots, wantSlots) {
		t.Errorf("node = %+v", n)
	}
	if r := g.Routes["fib"]; r == nil || r.Request != "fib" || r.Timeout != 10*time.Second {
		t.Errorf("fib route = %+v", r)
	}
	if r := g.Routes["sig"]; r == nil || r.Signal != "user.created" || r.Timeout != DefaultTimeout {
		t.Errorf("sig route = %+v", r)
	}
	want := &Composition{Combinator: Pipe, Steps: []*Composition{
		{Topic: "a"},
		{Combinator: AndAnd, Steps: []*Composition{{Topic: "b"}, {Topic: "c", Message: map[string]any{"k": 1}}}},
	}}
	if r := g.Routes["report"]; r == nil || !reflect.DeepEqual(r.Composition, want) || r.Timeout != 30*time.Second {
		t.Errorf("report route = %+v", r)
	}
}

func TestGilmourDefaults(t *testing.T) {
	m := "swagger: '2.0'\nx-funcatron: {kind: gilmour}\npaths:\n  /a: {get: {operationId: a, x-gilmour: {request: a}}}\n"
	b := mustOpen(t, withManifest(t, "funcatron.yaml", m))
	if g := b.Gilmour; g.Redis != DefaultRedisURL || g.ErrorPolicy != ErrorsIgnore || g.Node != nil || g.Concurrency != 32 {
		t.Errorf("defaults = %+v", g)
	}
}

// TestGilmourRefuses checks each rule with the message (file and line) a user gets.
func TestGilmourRefuses(t *testing.T) {
	head := "swagger: '2.0'\nx-funcatron:\n  kind: gilmour\n  gilmour:\n"
	route := "paths:\n  /a: {get: {operationId: a, x-gilmour: {request: a}}}\n"
	tests := []struct{ name, manifest, want string }{
		{"unknown key", head + "    redis2: x\n" + route,
			`funcatron.yaml: line 5: unknown key "redis2" in x-funcatron.gilmour (want redis, concurrency, error_policy, node)`},
		{"bad redis url", head + "    redis: http://x\n" + route,
			`funcatron.yaml: line 5: x-funcatron.gilmour.redis must be a redis://, rediss:// or unix:// URL, not "http://x"`},
		{"bad error policy", head + "    error_policy: loud\n" + route,
			`funcatron.yaml: line 5: x-funcatron.gilmour.error_policy must be ignore, publish or queue, not "loud"`},
		{"service with a wildcard", head + "    node:\n      command: [node]\n      services: [{topic: 'a.*', group: g, path: /a}]\n" + route,
			`funcatron.yaml: line 7: x-funcatron.gilmour.node.services entry 0: the topic "a.*" has a wildcard (*), which only a slot's topic may have`},
		{"service without group", head + "    node:\n      command: [node]\n      services: [{topic: a, path: /a}]\n" + route,
			`funcatron.yaml: line 7: x-funcatron.gilmour.node.services entry 0: service "a" needs a group (its exclusion group)`},
		{"node command not in bundle", head + "    node:\n      command: [bin/nope]\n" + route,
			`funcatron.yaml: line 6: x-funcatron.gilmour.node.command "bin/nope" is not a file in the bundle`},
		{"two services on one topic and group", head + "    node:\n      command: [node]\n      services:\n        - {topic: a, group: g, path: /a}\n        - {topic: a, group: g, path: /b}\n" + route,
			`funcatron.yaml: line 9: two services on topic "a" in group "g"`},
		{"operation without x-gilmour", head + "    {}\npaths:\n  /a: {get: {operationId: a}}\n",
			`funcatron.yaml: line 7: GET /a (a) needs an x-gilmour mapping with request, signal or composition`},
		{"two of request, signal, composition", head + "    {}\npaths:\n  /a: {get: {operationId: a, x-gilmour: {request: a, signal: b}}}\n",
			`funcatron.yaml: line 7: x-gilmour of a needs exactly one of request, signal and composition`},
		{"composition that does not parse", head + "    {}\npaths:\n  /a:\n    get:\n      operationId: a\n      x-gilmour:\n        composition:\n          pipe:\n            - {topic: a}\n            - {andand: [{topic: b}, {tpoic: c}]}\n",
			`funcatron.yaml: line 14: x-gilmour composition: unknown combinator "tpoic" (want pipe, andand, oror, batch or parallel)`},
		{"composition with an empty list", head + "    {}\npaths:\n  /a:\n    get:\n      operationId: a\n      x-gilmour:\n        composition: {oror: []}\n",
			`funcatron.yaml: line 11: x-gilmour composition: oror must be a non-empty list of compositions`},
		// A request reaches services only, whose topics may not have one (the seed), and a
		// signal is published to one channel: only a slot's topic may hold a wildcard.
		{"request topic with a wildcard", head + "    {}\npaths:\n  /a: {get: {operationId: a, x-gilmour: {request: 'a.*'}}}\n",
			`funcatron.yaml: line 7: x-gilmour request: the topic "a.*" has a wildcard (*), which only a slot's topic may have`},
		{"signal topic with a wildcard", head + "    {}\npaths:\n  /a: {get: {operationId: a, x-gilmour: {signal: 'user.*'}}}\n",
			`funcatron.yaml: line 7: x-gilmour signal: the topic "user.*" has a wildcard (*), which only a slot's topic may have`},
		{"composition step topic with a wildcard", head + "    {}\npaths:\n  /a:\n    get:\n      operationId: a\n      x-gilmour:\n        composition:\n          pipe:\n            - {topic: a}\n            - {topic: 'b.*'}\n",
			`funcatron.yaml: line 14: x-gilmour composition: the topic "b.*" has a wildcard (*), which only a slot's topic may have`},
		{"bad timeout", head + "    {}\npaths:\n  /a: {get: {operationId: a, x-gilmour: {request: a, timeout: 601}}}\n",
			`funcatron.yaml: line 7: x-gilmour timeout: timeout must be a number of seconds (or a duration such as 10s) above 0 and at most 600, not 601`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(withManifest(t, "funcatron.yaml", tt.manifest), Limits{})
			if got := invalidText(t, err); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseComposition(t *testing.T) {
	for _, tt := range []struct {
		spec any
		want string
	}{
		{map[string]any{"pipe": []any{map[string]any{"topic": "a"}, "x"}}, "pipe.1: a composition is a mapping"},
		{map[string]any{"topic": ""}, "topic: the topic must be a non-empty string"},
		{map[string]any{"pipe": []any{}, "oror": []any{}}, "exactly one of pipe"},
		{deepComposition(17), "nested more than 16 deep"},
	} {
		if _, err := ParseComposition(tt.spec); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseComposition(%v) = %v, want %q", tt.spec, err, tt.want)
		}
	}
	if _, err := ParseComposition(deepComposition(16)); err != nil {
		t.Errorf("16 deep: %v", err)
	}
}

func deepComposition(n int) any {
	var c any = map[string]any{"topic": "t"}
	for range n {
		c = map[string]any{"pipe": []any{c}}
	}
	return c
}
