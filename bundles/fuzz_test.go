package bundles

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to Open. Properties: no panic; a refusal
// is always an *InvalidError; an accepted bundle has a JSON-encodable
// manifest, sorted operations each reachable through its router, and
// survives WithProps(nil).
func FuzzOpen(f *testing.F) {
	f.Add(withManifest(f, "funcatron.yaml", helloYAML))
	f.Add(withManifest(f, "funcatron.json", `{"openapi":"3.0.0","servers":[{"url":"/x"}],"paths":{"/a/{b}":{"get":{"operationId":"a"}}},"x-funcatron":{"exec":{"command":"bin/hello"}}}`))
	f.Add(makeZip(f, file("funcatron.yaml", "swagger: '2.0'\nx-funcatron: {exec: {command: run}}\n"+opsYAML),
		exe("libexec/tool", "x"), link("run", "libexec/tool"), link("up", "..")))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkOpen(t, data)
	})
}

// FuzzManifest fuzzes the manifest text inside an otherwise valid bundle,
// which reaches the manifest logic far more often than raw bytes do.
func FuzzManifest(f *testing.F) {
	f.Add("funcatron.yaml", helloYAML)
	f.Add("funcatron.json", `{"swagger":"2.0","basePath":"/a","paths":{"/{x}.json":{"get":{"operationId":"a"}}},"x-funcatron":{"exec":{"command":"bin/hello","workers":"${props.w}"}}}`)
	f.Add("funcatron.yaml", gilmourManifest)
	f.Add("funcatron.yml", "openapi: 3.1\nservers: [{url: '{s}://h/{p}', variables: {s: {default: http}, p: {default: v}}}]\npaths: {/a: {get: {operationId: a}}}\nx-funcatron: {kind: zbus, zbus: {twins: '${props.t}'}}\n")
	f.Fuzz(func(t *testing.T, name, manifest string) {
		if name != "funcatron.json" && name != "funcatron.yml" {
			name = "funcatron.yaml"
		}
		checkOpen(t, withManifest(t, name, manifest))
	})
}

// checkOpen asserts the properties FuzzOpen lists.
func checkOpen(t *testing.T, data []byte) {
	b, err := Open(data, Limits{MaxUnpackedBytes: 1 << 20})
	if err != nil {
		var inv *InvalidError
		if !errors.As(err, &inv) {
			t.Fatalf("Open error %v is a %T, not an *InvalidError", err, err)
		}
		return
	}
	if _, err := json.Marshal(b.Manifest); err != nil {
		t.Fatalf("Manifest does not encode: %v", err)
	}
	if !sort.SliceIsSorted(b.Operations, func(i, j int) bool {
		x, y := b.Operations[i], b.Operations[j]
		return x.Path < y.Path || x.Path == y.Path && x.Method < y.Method
	}) {
		t.Fatalf("Operations are not sorted: %v", b.Operations)
	}
	for _, op := range b.Operations {
		// A template's own text is a path it matches ({x} is a non-empty segment).
		uri := strings.TrimSuffix(b.BasePath, "/") + op.Path
		if _, err := b.Router().Match(op.Method, uri); err != nil {
			t.Fatalf("Match(%s %s) for its own operation: %v", op.Method, uri, err)
		}
	}
	if _, err := b.WithProps(nil); err != nil {
		var inv *InvalidError
		if !errors.As(err, &inv) {
			t.Fatalf("WithProps error %v is a %T", err, err)
		}
	}
}
