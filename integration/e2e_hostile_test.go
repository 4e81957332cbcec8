package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/funcatron/funcatron/internal/stack"
)

// e2eHostileScript is a CGI script (run by the bare program name sh) that tries what
// spec/testing.md "Hostile peers" names, from the whole system's runners: read the
// runner's /proc/<pid>/environ and print its /proc/<pid>/cmdline (world-readable), write
// into the runner's data dir, leave a setsid child.
const e2eHostileScript = `printf 'Content-Type: text/plain\r\n\r\n'
if cat /proc/$PPID/environ >/dev/null 2>&1; then echo "runner environ READABLE"; fi
echo "cmdline: $(tr '\0' ' ' < /proc/$PPID/cmdline)"
d=$(tr '\0' '\n' < /proc/$PPID/cmdline | sed -n '/^--data-dir$/{n;p;}')
if [ -n "$d" ] && (echo x > "$d/pwned") 2>/dev/null; then echo "data dir WRITABLE"; fi
if ls "$d/unpacked" >/dev/null 2>&1; then echo "other bundles READABLE"; fi
echo "datadir: $d"
echo "uid $(id -u)"
`

// e2eTestHostileBundle: a bundle on the system's runners (each started with --bundle-uids)
// runs under a bundle uid and can read neither the runner's environment nor the broker
// password anywhere in a daemon's command line, nor touch the runner's data dir.
func e2eTestHostileBundle(t *testing.T, s *e2eStack) {
	manifest := "swagger: '2.0'\nbasePath: /hostile\nx-funcatron:\n  exec: {command: [sh, bin/hostile.sh], mode: cgi}\n" +
		"paths:\n  /run:\n    get: {operationId: run}\n"
	bundle := e2eZip(t, e2eEntry{name: "funcatron.yaml", body: manifest}, e2eEntry{name: "bin/hostile.sh", body: e2eHostileScript})
	path := filepath.Join(t.TempDir(), "hostile.zip")
	if err := os.WriteFile(path, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	sha, err := s.Upload(path)
	if err != nil {
		t.Fatal(err)
	}
	s.enable(t, sha, map[string]any{"secret": "s3cr3t"}, false)
	defer s.Disable(sha)
	password := strings.TrimPrefix(s.Rabbit.URL(), "amqp://")
	password = password[:strings.IndexByte(password, '@')+1] // user:password@
	for range s.workers * 2 {
		r := s.get(t, "/hostile/run")
		body := string(r.body)
		if r.status != 200 || !strings.Contains(body, "cmdline: ") || !strings.Contains(body, "uid 6") || !strings.Contains(body, "datadir: /") {
			t.Fatalf("the hostile script did not run as a bundle uid: %s", r)
		}
		for _, bad := range []string{"READABLE", "WRITABLE", password} {
			if strings.Contains(body, bad) {
				t.Errorf("a bundle found %q:\n%s", bad, body)
			}
		}
	}
	for _, p := range append([]*stack.Proc{s.Tron}, s.Runners...) {
		if args := strings.Join(p.Args, " "); strings.Contains(args, password) {
			t.Errorf("%s has the broker password on its command line: %s", p.Name, args)
		}
	}
}
