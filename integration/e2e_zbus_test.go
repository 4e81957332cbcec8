package integration

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/testenv"
)

// e2eTestZbus: the zbus kind through nginx. The hello-zbus sample answers POST
// /zbus/add from its own node over the stack's Redis. Then two twins, two bundles of the
// stack on two Redis servers of their own, talk through nginx: POST /za/add on twin 2001
// calls calc.add on twin 2002, whose /zb/zbus-remote takes the request and whose reply
// comes back through /za/zbus-reply. An endpoint refuses a stale message. Last, on the same
// stack, RoleHolderKill kills the runner holding the sample's msgbusd role (and starts it
// again).
func e2eTestZbus(t *testing.T, env *e2eEnv) {
	s := e2eStart(t, env, e2eStackOptions{runners: 2, redis: true})
	sample := s.deploy(t, env.sample("hello-zbus"), map[string]any{"redis": s.Redis.URL()})
	r := s.front(t, "POST", "/zbus/add", "", []byte(`{"a":2,"b":3}`), nil)
	e2eWant(t, "hello-zbus add", r, 200, `{"sum":5}`)
	r = s.front(t, "POST", "/zbus/add", "", []byte(`{"a":2}`), nil)
	if r.status != 502 || !strings.Contains(string(r.body), `"err":"status 400: want {\"a\": \u003cnumber\u003e, \"b\": \u003cnumber\u003e}"`) {
		t.Errorf("hello-zbus add without b: %s", r)
	}

	calc := e2eZipEntry(t, env.sample("hello-zbus"), "bin/calc")
	ra, rb := testenv.StartRedis(t), testenv.StartRedis(t)
	twins := fmt.Sprintf(`{2001: %q, 2002: %q}`, s.FrontURL()+"/za", s.FrontURL()+"/zb")
	a := e2eZbusBundle(t, "/za", fmt.Sprintf(`{redis: %q, twin: 2001, twins: %s, endpoints: true}`, ra.URL(), twins),
		"  /add:\n    post: {operationId: add, x-zbus: {cmd: calc.add, dst: [2002], exp: 10, try: 1}}\n")
	b := e2eZbusBundle(t, "/zb", fmt.Sprintf(`{redis: %q, twin: 2002, twins: %s, command: bin/calc, workers: 1, serve: [{cmd: calc.add, path: /add}], endpoints: true}`, rb.URL(), twins),
		"  /nothing:\n    get: {operationId: nothing}\n", calc)
	s.deploy(t, b, nil)
	s.deploy(t, a, nil)
	r = s.front(t, "POST", "/za/add", "", []byte(`{"a":40,"b":2}`), nil)
	e2eWant(t, "twin 2001 calling calc.add on twin 2002", r, 200, `{"sum":42}`)

	stale, _ := json.Marshal(map[string]any{"ver": 1, "uid": "2002.99", "cmd": "calc.add", "exp": 10, "try": 0,
		"dat": base64.StdEncoding.EncodeToString([]byte(`{"a":1,"b":1}`)), "src": 2001, "dst": []int{2002},
		"ret": "msgbus.system.reply", "shm": "", "now": time.Now().Unix() - 120, "err": ""})
	r = s.front(t, "POST", "/zb/zbus-remote", "", stale, nil)
	if r.status != 400 || !strings.Contains(string(r.body), `"status":"error"`) {
		t.Errorf("stale message at /zb/zbus-remote: %s", r)
	}
	r = s.front(t, "POST", "/zb/zbus-remote", "", []byte(`{"ver":`), nil)
	if r.status != 400 {
		t.Errorf("bad JSON at /zb/zbus-remote: %s", r)
	}

	t.Run("RoleHolderKill", func(t *testing.T) { e2eTestZbusHolderKill(t, s, s.queueOf(t, sample)) })
}

// e2eZbusBundle writes a zbus bundle with section sec and paths ops under basePath base,
// plus bin/calc when given, and returns its file.
func e2eZbusBundle(t *testing.T, base, sec, ops string, calc ...[]byte) string {
	manifest := "swagger: '2.0'\ninfo: {title: twin, version: '1'}\nbasePath: " + base +
		"\nx-funcatron:\n  kind: zbus\n  zbus: " + sec + "\npaths:\n" + ops
	entries := []e2eEntry{{name: "funcatron.yaml", body: manifest}}
	for _, c := range calc {
		entries = append(entries, e2eEntry{name: "bin/calc", body: string(c), mode: 0o755})
	}
	path := filepath.Join(t.TempDir(), strings.TrimPrefix(base, "/")+".zip")
	if err := os.WriteFile(path, e2eZip(t, entries...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// e2eZipEntry reads one file of a zip.
func e2eZipEntry(t *testing.T, zipPath, name string) []byte {
	data, err := os.ReadFile(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := zr.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
