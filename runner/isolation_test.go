// Bundle isolation through a real runner (spec/bundles.md §4 "Isolation", spec/testing.md
// "Hostile peers"): what a hostile bundle tries, and fails at.

package runner

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

// hostileCGI is a CGI script that does what its query asks (read=PATH, write=PATH,
// setsid=1) and always tries to read its parent's (the runner's) environ; each line of its
// answer is "<what> <path> ok|no" or "child <pid>".
const hostileCGI = `#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
try() { if "$@" >/dev/null 2>&1; then echo ok; else echo no; fi; }
echo "read /proc/$PPID/environ $(try cat /proc/$PPID/environ)"
IFS='&'; set -- $QUERY_STRING; unset IFS
for kv in "$@"; do
  v=${kv#*=}
  case $kv in
  read=*) echo "read $v $(try cat "$v")";;
  write=*) echo "write $v $(try sh -c 'echo pwned > "$1"' _ "$v")";;
  setsid=*) setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo "child $!";;
  esac
done
`

// cgiBundle is a cgi-mode bundle of script (bin/script.sh) on (host, path).
func cgiBundle(t *testing.T, host, path, script string, exec ...string) []byte {
	manifest := fmt.Sprintf(`swagger: "2.0"
info: {title: cgi, version: "1"}
host: %s
basePath: %s
x-funcatron:
  exec:
    command: [bin/script.sh]
    mode: cgi
%s
paths:
  /run: {get: {operationId: run}}
`, host, path, indent(exec))
	return makeBundle(t, manifest, file{"bin/script.sh", []byte(script), 0o755})
}

// probeResult is the answer of the test function's /probe.
type probeResult struct {
	Read, Write map[string]string
	Child       int
}

func probe(t *testing.T, fe *frontend, host, path, query string) probeResult {
	t.Helper()
	a := fe.do(protocol.RouteQueue(host, path), service(host, "GET", path+"/probe?"+query, nil))
	var p probeResult
	if err := json.Unmarshal(a.Answer.Body, &p); err != nil || a.Answer.Status != 200 {
		t.Fatalf("probe %s: %d %s", query, a.Answer.Status, a.Answer.Body)
	}
	return p
}

// echoOf is what the test function's /echo says about its process.
func echoOf(t *testing.T, fe *frontend, host, path string) (home, cwd string, pid int) {
	t.Helper()
	a := fe.do(protocol.RouteQueue(host, path), service(host, "GET", path+"/echo", nil))
	var e echoed
	if err := json.Unmarshal(a.Answer.Body, &e); err != nil || a.Answer.Status != 200 {
		t.Fatalf("echo: %d %s", a.Answer.Status, a.Answer.Body)
	}
	for _, kv := range e.Env {
		if v, ok := strings.CutPrefix(kv, "HOME="); ok {
			home = v
		}
	}
	a = fe.do(protocol.RouteQueue(host, path), service(host, "GET", path+"/pid", nil))
	pid, _ = strconv.Atoi(string(a.Answer.Body))
	return home, e.Cwd, pid
}

// TestBundleIsolation: bundles (http mode and a CGI script) cannot read the runner's
// /proc/<pid>/environ (the broker password is there) or a sibling bundle's (its props),
// nor write a sibling's files or HOME; each runs under a uid and gid of its own from
// --bundle-uids, with no supplementary groups. What a bundle may do (read its own environ,
// write its HOME) still works.
func TestBundleIsolation(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr)
	host := uniq(t) + ".example"
	for _, p := range []string{"/a", "/b"} {
		tr.enableOK(r.Inbox(), tr.upload(fnBundle(t, host, p)), host, p, protocol.Props{"secret": "of " + p})
	}
	tr.enableOK(r.Inbox(), tr.upload(cgiBundle(t, host, "/c", hostileCGI)), host, "/c", nil)
	fe := newFrontend(t)
	homeA, _, pidA := echoOf(t, fe, host, "/a")
	homeB, cwdB, pidB := echoOf(t, fe, host, "/b")
	runnerEnv := fmt.Sprintf("/proc/%d/environ", os.Getpid())
	siblingEnv := fmt.Sprintf("/proc/%d/environ", pidB)
	hostile := []string{runnerEnv, siblingEnv}
	writes := []string{filepath.Join(homeB, "x"), filepath.Join(cwdB, "bin", "fn"), filepath.Join(cwdB, "new")}

	q := "read=/proc/self/environ&write=" + filepath.Join(homeA, "mine")
	for _, p := range hostile {
		q += "&read=" + p
	}
	for _, p := range writes {
		q += "&write=" + p
	}
	res := probe(t, fe, host, "/a", q)
	if res.Read["/proc/self/environ"] != "ok" || res.Write[filepath.Join(homeA, "mine")] != "ok" {
		t.Errorf("a bundle cannot read its own environ or write its HOME: %+v", res)
	}
	for _, p := range hostile {
		if res.Read[p] == "ok" {
			t.Errorf("an http-mode bundle read %s", p)
		}
	}
	for _, p := range writes {
		if res.Write[p] == "ok" {
			t.Errorf("an http-mode bundle wrote %s", p)
		}
	}

	q = "read=" + siblingEnv
	for _, p := range writes {
		q += "&write=" + p
	}
	a := fe.do(protocol.RouteQueue(host, "/c"), service(host, "GET", "/c/run?"+q, nil))
	if a.Answer.Status != 200 || strings.Contains(string(a.Answer.Body), " ok") || strings.Count(string(a.Answer.Body), " no") != 5 {
		t.Errorf("a CGI script tried the runner's and a sibling's environ and a sibling's files:\n%s", a.Answer.Body)
	}
	checkOwnUIDs(t, pidA, pidB)
}

// checkOwnUIDs: each process runs as a different uid of testUIDs, with that number as its
// gid, and no supplementary groups.
func checkOwnUIDs(t *testing.T, pids ...int) {
	t.Helper()
	seen := map[string]bool{}
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		fields := map[string][]string{}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				fields[k] = strings.Fields(v)
			}
		}
		uid, gid := fields["Uid"], fields["Gid"]
		n, _ := strconv.Atoi(uid[0])
		if !testUIDs.Contains(uint32(n)) || uid[0] != uid[1] || gid[0] != uid[0] || gid[1] != uid[0] || len(fields["Groups"]) != 0 || seen[uid[0]] {
			t.Errorf("process %d: Uid %v Gid %v Groups %v; want a uid of %s of its own, gid the same, no groups", pid, uid, gid, fields["Groups"], testUIDs)
		}
		seen[uid[0]] = true
	}
}

// gone reports whether process pid no longer exists: neither running nor a zombie.
func gone(pid int) bool { return syscall.Kill(pid, 0) == syscall.ESRCH }

// waitGone waits until every pid is gone (no zombie left either).
func waitGone(t *testing.T, what string, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		if pid <= 0 {
			t.Fatalf("%s: no pid", what)
		}
		testenv.WaitFor(t, 10*time.Second, fmt.Sprintf("%s: process %d gone", what, pid), func() bool { return gone(pid) })
	}
}

// TestBundleChildrenDie: what a bundle leaves behind dies with it and is reaped — a
// `setsid` child and a child in the worker's process group when the worker exits, a
// setsid child on disable, a CGI script's setsid child after its request.
func TestBundleChildrenDie(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr)
	host := uniq(t) + ".example"
	sha := tr.upload(fnBundle(t, host, "/a", "workers: 1"))
	tr.enableOK(r.Inbox(), sha, host, "/a", nil)
	tr.enableOK(r.Inbox(), tr.upload(cgiBundle(t, host, "/c", hostileCGI)), host, "/c", nil)
	fe := newFrontend(t)

	escaped := probe(t, fe, host, "/a", "spawn=setsid").Child
	inGroup := probe(t, fe, host, "/a", "spawn=group").Child
	if gone(escaped) || gone(inGroup) {
		t.Fatalf("the children %d and %d did not start", escaped, inGroup)
	}
	fe.do(protocol.RouteQueue(host, "/a"), service(host, "GET", "/a/crash", nil))
	waitGone(t, "after the worker exited", escaped, inGroup)

	// The worker is restarted; a child of the new one goes on disable.
	var again int
	testenv.WaitFor(t, 10*time.Second, "the restarted worker", func() bool {
		a := fe.do(protocol.RouteQueue(host, "/a"), service(host, "GET", "/a/probe?spawn=setsid", nil))
		var p probeResult
		if a.Answer.Status == 200 && json.Unmarshal(a.Answer.Body, &p) == nil {
			again = p.Child
		}
		return again > 0
	})
	if ack := tr.ack(tr.send(r.Inbox(), &protocol.Disable{SHA: sha}), 10*time.Second); ack.Status != protocol.AckOK {
		t.Fatalf("disable: %+v", ack)
	}
	waitGone(t, "after disable", again)

	a := fe.do(protocol.RouteQueue(host, "/c"), service(host, "GET", "/c/run?setsid=1", nil))
	var child int
	for _, line := range strings.Split(string(a.Answer.Body), "\n") {
		if v, ok := strings.CutPrefix(line, "child "); ok {
			child, _ = strconv.Atoi(v)
		}
	}
	waitGone(t, "after the CGI request", child)
}

// TestCGIOutputOverLimit: a CGI script whose output is over the limit (64 MiB) gets a 502,
// never a truncated 200.
func TestCGIOutputOverLimit(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr)
	host := uniq(t) + ".example"
	script := "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nhead -c 67108865 /dev/zero\n"
	tr.enableOK(r.Inbox(), tr.upload(cgiBundle(t, host, "/big", script)), host, "/big", nil)
	fe := newFrontend(t)
	a := fe.do(protocol.RouteQueue(host, "/big"), service(host, "GET", "/big/run", nil))
	if a.Answer.Status != 502 {
		t.Errorf("output over the limit: %d (%d bytes of body), want 502", a.Answer.Status, len(a.Answer.Body))
	}
}

// TestBareCommand: command[0] may be the bare name of a program on the runner's PATH
// (sh for a CGI script, python3 for an http-mode server); a missing one fails the enable
// with a message naming it.
func TestBareCommand(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr)
	host := uniq(t) + ".example"
	manifest := func(path, cmd, mode string) string {
		return fmt.Sprintf("swagger: \"2.0\"\ninfo: {title: t, version: \"1\"}\nhost: %s\nbasePath: %s\n"+
			"x-funcatron:\n  exec: {command: %s, mode: %s, workers: 1}\npaths:\n  /run: {get: {operationId: run}}\n", host, path, cmd, mode)
	}
	sh := makeBundle(t, manifest("/sh", "[sh, run.sh]", "cgi"),
		file{"run.sh", []byte("printf 'Content-Type: text/plain\\n\\nfrom sh'\n"), 0o644})
	py := makeBundle(t, manifest("/py", "[python3, server.py]", "http"), file{"server.py", []byte(pyServer), 0o644})
	tr.enableOK(r.Inbox(), tr.upload(sh), host, "/sh", nil)
	tr.enableOK(r.Inbox(), tr.upload(py), host, "/py", nil)
	fe := newFrontend(t)
	for _, c := range []struct{ path, want string }{{"/sh", "from sh"}, {"/py", "from python"}} {
		a := fe.do(protocol.RouteQueue(host, c.path), service(host, "GET", c.path+"/run", nil))
		if a.Answer.Status != 200 || string(a.Answer.Body) != c.want {
			t.Errorf("%s: %d %q, want 200 %q", c.path, a.Answer.Status, a.Answer.Body, c.want)
		}
	}
	missing := makeBundle(t, manifest("/none", "[no-such-program-zq, x]", "http"))
	ack := tr.ack(tr.enable(r.Inbox(), tr.upload(missing), host, "/none", nil), 10*time.Second)
	if ack.Status != protocol.AckError || !strings.Contains(ack.Error, "no-such-program-zq") {
		t.Errorf("missing program: ack %s %q, want an error naming no-such-program-zq", ack.Status, ack.Error)
	}
}

// pyServer is an http-mode bundle in Python: HTTP/1.1 on the unix socket FUNCATRON_LISTEN.
const pyServer = `import os, socketserver, http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"from python"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def address_string(self):
        return "bundle"
class S(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
S(os.environ["FUNCATRON_LISTEN"], H).serve_forever()
`

// TestExitStatusReported: the runner as subreaper does not take os/exec's exit statuses: a
// worker that exits at start-up is reported with its exit code in the enable's error.
func TestExitStatusReported(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr)
	host := uniq(t) + ".example"
	ack := tr.ack(tr.enable(r.Inbox(), tr.upload(fnBundle(t, host, "/e", "env: {START: exit}")), host, "/e", nil), 20*time.Second)
	if ack.Status != protocol.AckError || !strings.Contains(ack.Error, "exit status 3") || !strings.Contains(ack.Error, "refusing to start") {
		t.Errorf("ack %s %q, want an error with the worker's exit status 3 and its stderr", ack.Status, ack.Error)
	}
}
