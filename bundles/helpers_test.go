package bundles

import (
	"archive/zip"
	"bytes"
	"errors"
	"hash/crc32"
	"io/fs"
	"net"
	"testing"
	"time"
)

// zentry describes one entry of a zip built by a test.
type zentry struct {
	name string
	body string
	mode fs.FileMode // 0 means a 0644 file
	// raw, when set, writes the entry with CreateRaw: body is then the
	// compressed data and raw may change the header (sizes, CRC, method).
	raw func(h *zip.FileHeader)
}

// file, exe, dir and link build zentries tersely.
func file(name, body string) zentry { return zentry{name: name, body: body} }
func exe(name, body string) zentry  { return zentry{name: name, body: body, mode: 0o755} }
func dir(name string) zentry        { return zentry{name: name, mode: fs.ModeDir | 0o755} }
func link(name, target string) zentry {
	return zentry{name: name, body: target, mode: fs.ModeSymlink | 0o777}
}

// makeZip builds a zip archive in memory.
func makeZip(t testing.TB, entries ...zentry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		if err := addZipEntry(zw, e); err != nil {
			t.Fatalf("adding %q: %v", e.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatalf("closing zip: %v", err)
	}
	return buf.Bytes()
}

func addZipEntry(zw *zip.Writer, e zentry) error {
	h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
	mode := e.mode
	if mode == 0 {
		mode = 0o644
	}
	h.SetMode(mode)
	if e.raw != nil {
		h.CRC32 = crc32.ChecksumIEEE([]byte(e.body))
		h.CompressedSize64 = uint64(len(e.body))
		h.UncompressedSize64 = uint64(len(e.body))
		h.Method = zip.Store
		e.raw(h)
		w, err := zw.CreateRaw(h)
		if err != nil {
			return err
		}
		_, err = w.Write([]byte(e.body))
		return err
	}
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = w.Write([]byte(e.body))
	return err
}

// helloYAML is a valid Swagger 2.0 manifest for a bundle with bin/hello.
const helloYAML = `swagger: "2.0"
info: {title: hello, version: "1.0.0"}
host: Example.com
basePath: /hello
x-funcatron:
  kind: exec
  exec:
    command: ["bin/hello", "--flag"]
    workers: 3
    timeout: 5s
    env: {GREETING: hi, PORT: 8080}
    health: /health
paths:
  /greet/{name}:
    get: {operationId: greet}
  /echo:
    post: {operationId: echo}
    get: {operationId: echoGet}
`

// withManifest builds a bundle zip: the manifest under name, bin/hello and
// any extra entries.
func withManifest(t testing.TB, name, manifest string, extra ...zentry) []byte {
	t.Helper()
	entries := append([]zentry{file(name, manifest), exe("bin/hello", "#!/bin/sh\n")}, extra...)
	return makeZip(t, entries...)
}

// mustOpen opens data with default limits or fails the test.
func mustOpen(t testing.TB, data []byte) *Bundle {
	t.Helper()
	b, err := Open(data, Limits{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return b
}

// invalidText returns err's text, failing unless it is an *InvalidError.
func invalidText(t testing.TB, err error) string {
	t.Helper()
	var inv *InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("error %v (%T) is not an *InvalidError", err, err)
	}
	return inv.Error()
}

// mustZipReader parses data as a zip, ignoring insecure-path warnings.
func mustZipReader(t testing.TB, data []byte) *zip.Reader {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		t.Fatal(err)
	}
	return zr
}

// fixedTime is an arbitrary timestamp for tests that touch files.
var fixedTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

// listenUnix listens on a unix socket at p.
func listenUnix(p string) (net.Listener, error) { return net.Listen("unix", p) }
