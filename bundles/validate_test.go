package bundles

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"strings"
	"testing"
)

// opsYAML is a paths section shared by the manifests below.
const opsYAML = "paths:\n  /a:\n    get: {operationId: a}\n"

// TestOpenRefuses has one case per rule of spec/bundles.md §2, each with the
// exact message a user gets.
func TestOpenRefuses(t *testing.T) {
	yaml := func(m string, extra ...zentry) func(testing.TB) []byte {
		return func(t testing.TB) []byte { return withManifest(t, "funcatron.yaml", m, extra...) }
	}
	zipOf := func(entries ...zentry) func(testing.TB) []byte {
		return func(t testing.TB) []byte { return makeZip(t, entries...) }
	}
	manifest := file("funcatron.yaml", "swagger: \"2.0\"\nx-funcatron: {exec: {command: bin/hello}}\n"+opsYAML)
	hello := exe("bin/hello", "#!/bin/sh\n")
	tests := []struct {
		name string
		data func(testing.TB) []byte
		lim  Limits
		want string
	}{
		// The file.
		{"not a zip", func(testing.TB) []byte { return []byte("hello, world") }, Limits{},
			"not a zip archive: zip: not a valid zip file"},
		{"empty file", func(testing.TB) []byte { return nil }, Limits{},
			"not a zip archive: zip: not a valid zip file"},
		{"no manifest", zipOf(hello), Limits{},
			"no manifest: the bundle root must hold one of funcatron.yaml, funcatron.yml, funcatron.json"},
		{"manifest not at the root", zipOf(file("sub/funcatron.yaml", "swagger: '2.0'"), hello), Limits{},
			"no manifest: the bundle root must hold one of funcatron.yaml, funcatron.yml, funcatron.json"},
		{"two manifests", yaml("swagger: '2.0'", file("funcatron.json", "{}")), Limits{},
			"more than one manifest: funcatron.yaml and funcatron.json"},
		{"manifest is a directory", zipOf(dir("funcatron.yml/"), hello), Limits{},
			"manifest funcatron.yml is not a regular file"},

		// The manifest parses.
		{"yaml syntax", yaml("swagger: '2.0'\ninfo:\n  title: x\nbasePath: /a: b\n"), Limits{},
			"funcatron.yaml: line 4: mapping values are not allowed in this context"},
		{"yaml duplicate key", yaml("swagger: '2.0'\nbasePath: /a\nbasePath: /b\n"), Limits{},
			`funcatron.yaml: line 3: mapping key "basePath" already defined at line 2`},
		{"json syntax", func(t testing.TB) []byte {
			return withManifest(t, "funcatron.json", "{\n  \"swagger\": \"2.0\",\n  \"paths\": {,}\n}")
		}, Limits{}, "funcatron.json: line 3: invalid character ',' looking for beginning of object key string"},
		{"json duplicate operationId has a line", func(t testing.TB) []byte {
			return withManifest(t, "funcatron.json", "{\"swagger\": \"2.0\",\n \"paths\": {\n  \"/a\": {\"get\": {\"operationId\": \"x\"}},\n  \"/b\": {\"get\": {\"operationId\": \"x\"}}\n}}")
		}, Limits{}, `funcatron.json: line 4: operationId "x" is used by both GET /a and GET /b`},
		{"manifest too large", zipOf(zentry{name: "funcatron.yaml", body: "swagger: '2.0'\n#" + strings.Repeat("x", 1<<20),
			raw: func(*zip.FileHeader) {}}), Limits{},
			"funcatron.yaml: larger than 1048576 bytes (--max-manifest-bytes)"},
		{"manifest of YAML aliases expanding past the limit", yaml(aliasBomb(9)), Limits{},
			"funcatron.yaml: decodes to more than 1048576 bytes (YAML aliases count as the bytes they expand to; --max-manifest-bytes)"},
		{"manifest over a smaller limit", yaml(aliasBomb(3)), Limits{MaxManifestBytes: 4096},
			"funcatron.yaml: decodes to more than 4096 bytes (YAML aliases count as the bytes they expand to; --max-manifest-bytes)"},
		{"manifest is a list", yaml("- swagger\n- paths\n"), Limits{},
			"funcatron.yaml: line 1: the manifest is not a mapping (a Swagger or OpenAPI document)"},
		{"manifest is empty", yaml(""), Limits{},
			"funcatron.yaml: line 1: the manifest is not a mapping (a Swagger or OpenAPI document)"},
		{"neither swagger nor openapi", yaml("info: {title: x}\n" + opsYAML), Limits{},
			`funcatron.yaml: not a Swagger 2.0 or OpenAPI 3.x document (no "swagger" or "openapi" key)`},
		{"swagger 1.2", yaml("swagger: '1.2'\n" + opsYAML), Limits{},
			`funcatron.yaml: line 1: swagger is 1.2; only "2.0" is supported`},
		{"openapi 2", yaml("openapi: 2.0.0\n" + opsYAML), Limits{},
			"funcatron.yaml: line 1: openapi is 2.0.0; only 3.x is supported"},

		// basePath.
		{"basePath without slash", yaml("swagger: '2.0'\nbasePath: hello\n" + opsYAML), Limits{},
			`funcatron.yaml: line 2: basePath "hello" does not start with /`},
		{"basePath with ..", yaml("swagger: '2.0'\nbasePath: /a/../b\n" + opsYAML), Limits{},
			`funcatron.yaml: line 2: basePath "/a/../b" is not a clean path (no //, . or ..)`},
		{"openapi relative url without slash", yaml("openapi: 3.0.3\nservers: [{url: v1}]\n" + opsYAML), Limits{},
			`funcatron.yaml: line 2: servers[0].url "v1": basePath "v1" does not start with /`},
		{"bad host", yaml("swagger: '2.0'\nhost: http://example.com/\n" + opsYAML), Limits{},
			"funcatron.yaml: line 2: host http://example.com/ is not a host name (like example.com or example.com:8080)"},

		// Operations.
		{"no operationId", yaml("swagger: '2.0'\npaths:\n  /a: {get: {summary: x}}\n"), Limits{},
			"funcatron.yaml: line 2: no operation has an operationId"},
		{"no paths", yaml("swagger: '2.0'\n"), Limits{},
			"funcatron.yaml: no operation has an operationId"},
		{"duplicate operationId", yaml("swagger: '2.0'\npaths:\n  /a:\n    get: {operationId: x}\n  /b:\n    post: {operationId: x}\n"), Limits{},
			`funcatron.yaml: line 6: operationId "x" is used by both GET /a and POST /b`},
		{"operationId not a string", yaml("swagger: '2.0'\npaths:\n  /a:\n    get: {operationId: [x]}\n"), Limits{},
			"funcatron.yaml: line 4: operationId of GET /a is not a string"},
		{"path without slash", yaml("swagger: '2.0'\npaths:\n  a:\n    get: {operationId: x}\n"), Limits{},
			`funcatron.yaml: line 3: path "a" does not start with /`},
		{"bad template", yaml("swagger: '2.0'\npaths:\n  /a/{b:\n    get: {operationId: x}\n"), Limits{},
			`funcatron.yaml: line 3: path "/a/{b" segment "{b" must hold exactly one {name}`},
		{"two parameters in a segment", yaml("swagger: '2.0'\npaths:\n  /a/{b}-{c}:\n    get: {operationId: x}\n"), Limits{},
			`funcatron.yaml: line 3: path "/a/{b}-{c}" segment "{b}-{c}" must hold exactly one {name}`},
		{"same route twice", yaml("swagger: '2.0'\npaths:\n  /a/{x}:\n    get: {operationId: x}\n  /a/{y}/:\n    get: {operationId: y}\n"), Limits{},
			`funcatron.yaml: line 5: path "/a/{y}/" and "/a/{x}" are the same route for GET`},

		// Kinds and sections.
		{"unknown kind", yaml("swagger: '2.0'\nx-funcatron:\n  kind: lambda\n" + opsYAML), Limits{},
			`funcatron.yaml: line 3: unknown kind "lambda" (want exec, gilmour or zbus)`},
		{"x-funcatron not a mapping", yaml("swagger: '2.0'\nx-funcatron: exec\n" + opsYAML), Limits{},
			"funcatron.yaml: line 2: x-funcatron is not a mapping"},
		{"unknown x-funcatron key", yaml("swagger: '2.0'\nx-funcatron:\n  knd: exec\n" + opsYAML), Limits{},
			`funcatron.yaml: line 3: unknown key "knd" in x-funcatron (want kind, exec, gilmour or zbus)`},
		{"gilmour section not a mapping", yaml("swagger: '2.0'\nx-funcatron:\n  kind: gilmour\n  gilmour: [redis]\n" + opsYAML), Limits{},
			"funcatron.yaml: line 4: x-funcatron.gilmour is not a mapping"},
		{"zbus section not a mapping", yaml("swagger: '2.0'\nx-funcatron:\n  kind: zbus\n  zbus: 1001\n" + opsYAML), Limits{},
			"funcatron.yaml: line 4: x-funcatron.zbus is not a mapping"},
		{"exec unknown key", yaml("swagger: '2.0'\nx-funcatron:\n  exec:\n    comand: [bin/hello]\n" + opsYAML), Limits{},
			`funcatron.yaml: line 4: unknown key "comand" in x-funcatron.exec`},
		{"exec bad mode", yaml("swagger: '2.0'\nx-funcatron:\n  exec: {command: bin/hello, mode: fcgi}\n" + opsYAML), Limits{},
			"funcatron.yaml: line 3: x-funcatron.exec.mode must be http or cgi, not fcgi"},
		{"exec zero workers", yaml("swagger: '2.0'\nx-funcatron:\n  exec:\n    command: bin/hello\n    workers: 0\n" + opsYAML), Limits{},
			"funcatron.yaml: line 5: x-funcatron.exec.workers must be a whole number from 1 to 64, not 0"},
		{"exec bad timeout", yaml("swagger: '2.0'\nx-funcatron:\n  exec:\n    command: bin/hello\n    timeout: soon\n" + opsYAML), Limits{},
			"funcatron.yaml: line 5: x-funcatron.exec.timeout must be a positive duration such as 30s or a number of seconds, not soon"},
		{"exec env FUNCATRON_", yaml("swagger: '2.0'\nx-funcatron:\n  exec:\n    command: bin/hello\n    env: {FUNCATRON_LISTEN: x}\n" + opsYAML), Limits{},
			`funcatron.yaml: line 5: x-funcatron.exec.env has the name "FUNCATRON_LISTEN"; names must be non-empty, without = and not start with FUNCATRON_`},
		{"exec health not a path", yaml("swagger: '2.0'\nx-funcatron:\n  exec: {command: bin/hello, health: health}\n" + opsYAML), Limits{},
			"funcatron.yaml: line 3: x-funcatron.exec.health must be a path starting with /, not health"},
		{"exec absolute command", yaml("swagger: '2.0'\nx-funcatron:\n  exec:\n    command: [/usr/bin/python3]\n" + opsYAML), Limits{},
			`funcatron.yaml: line 4: x-funcatron.exec.command "/usr/bin/python3" must be a path inside the bundle, relative to its root`},
		{"exec command missing", yaml("swagger: '2.0'\nx-funcatron:\n  exec:\n    command: [bin/nope]\n" + opsYAML), Limits{},
			`funcatron.yaml: line 4: exec command "bin/nope" is not a file in the bundle`},
		{"exec command is a directory", yaml("swagger: '2.0'\nx-funcatron:\n  exec:\n    command: [bin]\n" + opsYAML), Limits{},
			`funcatron.yaml: line 4: exec command "bin" is not a file in the bundle`},
		{"exec command climbs out", yaml("swagger: '2.0'\nx-funcatron:\n  exec:\n    command: [../bin/hello]\n" + opsYAML), Limits{},
			`funcatron.yaml: line 4: exec command "../bin/hello" is not a file in the bundle`},
		{"default command missing", yaml("swagger: '2.0'\n" + opsYAML), Limits{},
			`funcatron.yaml: exec command "bin/run" (the default, as x-funcatron.exec.command is not set) is not a file in the bundle`},

		// Entry names.
		{"absolute path", zipOf(manifest, hello, file("/etc/evil", "x")), Limits{},
			`entry "/etc/evil" is an absolute path`},
		{"zip slip", zipOf(manifest, hello, file("../evil", "x")), Limits{},
			`entry "../evil" contains .. (it would leave the bundle)`},
		{"zip slip inside the name", zipOf(manifest, hello, file("a/../../evil", "x")), Limits{},
			`entry "a/../../evil" contains .. (it would leave the bundle)`},
		{"dot dot even when it stays inside", zipOf(manifest, hello, file("a/../b", "x")), Limits{},
			`entry "a/../b" contains .. (it would leave the bundle)`},
		{"backslash", zipOf(manifest, hello, file(`..\evil`, "x")), Limits{},
			`entry "..\\evil" has a backslash or NUL in its name`},
		{"duplicate entry", zipOf(manifest, hello, file("x", "1"), file("./x", "2")), Limits{},
			`entry "x" appears more than once`},
		{"entry under a file", zipOf(manifest, hello, file("bin/hello/x", "1")), Limits{},
			`entry "bin/hello/x" lies under "bin/hello", which is a file`},
		{"named pipe", zipOf(manifest, hello, zentry{name: "fifo", mode: fs.ModeNamedPipe | 0o644}), Limits{},
			`entry "fifo" is a named pipe; only files, directories and symlinks are allowed`},

		// Links.
		{"symlink to /etc/passwd", zipOf(manifest, hello, link("passwd", "/etc/passwd")), Limits{},
			`symlink "passwd" points to the absolute path "/etc/passwd"`},
		{"symlink to ../x", zipOf(manifest, hello, link("x", "../x")), Limits{},
			`symlink "x" -> "../x" leads outside the bundle`},
		{"symlink climbing from a subdirectory", zipOf(manifest, hello, link("a/b/c", "../../../etc")), Limits{},
			`symlink "a/b/c" -> "../../../etc" leads outside the bundle`},
		{"symlink escaping through another link", zipOf(manifest, hello, link("d/up", ".."), link("l", "d/up/..")), Limits{},
			`symlink "l" -> "d/up/.." leads outside the bundle`},
		{"symlink loop", zipOf(manifest, hello, link("a", "b"), link("b", "a")), Limits{},
			`symlink "a" -> "b" is part of a symlink loop`},
		{"entry under a symlink", zipOf(manifest, hello, link("lib", "bin"), file("lib/x", "1")), Limits{},
			`entry "lib/x" lies under the symlink "lib"`},

		// Limits.
		{"10 001 entries", func(t testing.TB) []byte {
			entries := []zentry{manifest, hello}
			for i := len(entries); i < 10001; i++ {
				entries = append(entries, zentry{name: fmt.Sprintf("f/%d", i), raw: func(*zip.FileHeader) {}})
			}
			return makeZip(t, entries...)
		}, Limits{}, "the archive has 10001 entries, over the limit of 10000"},
		{"over a lowered entry limit", zipOf(manifest, hello, file("x", "")), Limits{MaxEntries: 2},
			"the archive has 3 entries, over the limit of 2"},
		{"zip bomb", zipOf(manifest, hello, file("bomb", strings.Repeat("\x00", 1<<20))), Limits{},
			`entry "bomb" has a compression ratio over 200:1 (a zip bomb?)`},
		{"over a lowered size limit", zipOf(manifest, hello, file("big", randomText(4000))), Limits{MaxUnpackedBytes: 3000},
			"the archive unpacks to more than the limit of 3000 bytes"},
		{"header understating the size", zipOf(manifest, hello, zentry{name: "liar", body: "0123456789",
			raw: func(h *zip.FileHeader) { h.UncompressedSize64 = 4 }}), Limits{},
			`entry "liar" is corrupt: zip: not a valid zip file`},
		{"bad checksum", zipOf(manifest, hello, zentry{name: "crc", body: "0123456789",
			raw: func(h *zip.FileHeader) { h.CRC32++ }}), Limits{},
			`entry "crc" is corrupt: zip: checksum error`},
		{"unknown compression method", zipOf(manifest, hello, zentry{name: "odd", body: "0123456789",
			raw: func(h *zip.FileHeader) { h.Method = 99 }}), Limits{},
			`entry "odd" uses an unsupported compression method (99)`},
		{"encrypted entry", zipOf(manifest, hello, zentry{name: "secret", body: "0123456789",
			raw: func(h *zip.FileHeader) { h.Flags |= 1 }}), Limits{},
			`entry "secret" is encrypted`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Open(tt.data(t), tt.lim)
			if err == nil {
				t.Fatalf("Open accepted the bundle (kind %s, base %s)", b.Kind, b.BasePath)
			}
			if got := invalidText(t, err); got != tt.want {
				t.Errorf("Open error\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

// randomText returns n bytes that do not compress.
// aliasBomb is a manifest whose x-bomb key expands to 10^levels copies of a
// 100-byte string through nested aliases, in a few hundred bytes: a billion
// laughs. yaml.v3 alone lets 9 levels through (its alias ratio check only
// looks at the count of aliases, which stays small).
func aliasBomb(levels int) string {
	var b strings.Builder
	b.WriteString("swagger: \"2.0\"\nx-funcatron: {exec: {command: bin/hello}}\n" + opsYAML)
	b.WriteString("x-bomb:\n  l0: &l0 \"" + strings.Repeat("a", 100) + "\"\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func randomText(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return string(b[:n])
}

// TestYAMLSyntaxErrorLines: a YAML syntax error names the line of the problem, not the line
// (counted from 0) where the enclosing mapping began, as yaml.v3 does.
func TestYAMLSyntaxErrorLines(t *testing.T) {
	head := "swagger: \"2.0\"\ninfo: {title: t, version: \"1\"}\nbasePath: /x\nx-funcatron:\n  kind: exec\n"
	tests := []struct {
		name, manifest, want string
	}{
		{"unclosed { on line 6", head + "  exec: {command: [bin/run], mode: cgi\n" + opsYAML,
			"funcatron.yaml: line 6: did not find expected ',' or '}'"},
		{"mis-indented key on line 10", head + "  exec:\n    command: [bin/run]\n    mode: cgi\n    workers: 2\n   timeout: 3s\n" + opsYAML,
			"funcatron.yaml: line 10: did not find expected key"},
		{"mapping value on line 4", "swagger: '2.0'\ninfo:\n  title: x\nbasePath: /a: b\n",
			"funcatron.yaml: line 4: mapping values are not allowed in this context"},
		{"a valid multi-line flow mapping before the error", head + "  exec: {command: [bin/run],\n    mode: cgi}\npaths:\n  /a:\n   get: {operationId: a}\n  bad\n",
			"funcatron.yaml: line 11: could not find expected ':'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(withManifest(t, "funcatron.yaml", tt.manifest), Limits{})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Open = %v, want %q", err, tt.want)
			}
		})
	}
}
