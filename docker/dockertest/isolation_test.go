package dockertest

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/testenv"
)

// orphanManifest and orphanScript make a CGI bundle that leaves an orphan behind: a `sleep`
// in a session of its own, whose parent (the script) exits at once. The answer names the
// orphan's pid, the container it runs in and the uid the bundle runs as.
const orphanManifest = `swagger: "2.0"
info: {title: orphan, version: "1.0.0"}
basePath: /orphan
x-funcatron:
  kind: exec
  exec: {command: [bin/orphan.sh], mode: cgi}
paths:
  /leave:
    get: {operationId: leave}
`

const orphanScript = `#!/bin/sh
setsid sleep 2 </dev/null >/dev/null 2>&1 &
printf 'Content-Type: text/plain\r\n\r\n%s %s %s\n' "$!" "$(cat /etc/hostname)" "$(id -u)"
`

// isolation: the runner is PID 1 of its container (/proc/1/comm in the container that served
// the bundle) and reaps what its bundles orphan. A bundle leaves a process behind; once it
// has exited (after 2 s, or sooner when the runner kills what a bundle left), nothing of it
// remains in the container's process table: not even a zombie, which is what an unreaped
// orphan of PID 1 becomes. And the bundle ran under a uid
// of FUNCATRON_BUNDLE_UIDS (bundleUIDs for the test's project), not as the root runner.
func isolation(t *testing.T, p *project, cli, front string) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "orphan", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "orphan", "funcatron.yaml"), []byte(orphanManifest), 0o644)
	os.WriteFile(filepath.Join(dir, "orphan", "bin", "orphan.sh"), []byte(orphanScript), 0o755)
	zip := filepath.Join(dir, "orphan.zip")
	must(t, os.Environ(), cli, "pack", filepath.Join(dir, "orphan"), "-o", zip)
	deploy(t, p, cli, zip)

	var pid, host string
	var uid int
	testenv.WaitFor(t, 30*time.Second, "the orphan bundle served", func() bool {
		resp, err := (&http.Client{Timeout: clientTimeout}).Get(front + "/orphan/leave")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		_, err = fmt.Fscan(resp.Body, &pid, &host, &uid)
		return err == nil && resp.StatusCode == 200
	})
	t.Logf("the bundle ran as uid %d and left pid %s behind in container %s", uid, pid, host)
	if uid < bundleUIDFirst || uid > bundleUIDLast {
		t.Errorf("the bundle ran as uid %d, want one of FUNCATRON_BUNDLE_UIDS %s", uid, bundleUIDs)
	}
	if comm := must(t, os.Environ(), "docker", "exec", host, "cat", "/proc/1/comm"); comm != "runner" {
		t.Errorf("PID 1 of runner container %s is %q, want the runner itself (the entrypoint execs it)", host, comm)
	}
	var state string
	if !testenv.Poll(10*time.Second, func() bool {
		out, err := run(os.Environ(), "docker", "exec", host, "sh", "-c",
			fmt.Sprintf("cat /proc/%s/stat 2>/dev/null || echo gone", pid))
		state = out
		return err == nil && out == "gone"
	}) {
		t.Errorf("the orphan of a bundle is still in the runner's process table 10 s later: %s", state)
	}
}
