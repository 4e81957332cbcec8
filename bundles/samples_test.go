package bundles

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// sampleOps are the operations every sample declares.
var sampleOps = []Operation{
	{"GET", "/args", "args"}, {"GET", "/crash", "crash"}, {"POST", "/echo", "echo"}, {"GET", "/env", "env"},
	{"GET", "/greet/{name}", "greet"}, {"GET", "/health", "health"}, {"GET", "/sleep", "sleep"},
}

// buildSamples runs scripts/build-samples.sh once for the whole test binary.
var buildSamples = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "funcatron-samples-")
	if err != nil {
		return "", err
	}
	out, err := exec.Command("bash", "../scripts/build-samples.sh", dir).CombinedOutput()
	if err != nil {
		return "", errors.New("build-samples.sh: " + err.Error() + "\n" + string(out))
	}
	return dir, nil
})

// openSample builds the samples and opens one.
func openSample(t *testing.T, name string) (*Bundle, []byte) {
	t.Helper()
	dir, err := buildSamples()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, name+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	return mustOpen(t, data), data
}

func TestMain(m *testing.M) {
	code := m.Run()
	if dir, err := buildSamples(); err == nil && dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

func TestSamplesOpen(t *testing.T) {
	tests := []struct {
		name, base string
		mode       Mode
		command    string
	}{
		{"hello-go", "/hello", ModeHTTP, "bin/hello"},
		{"hello-py", "/py", ModeHTTP, "bin/hello.py"},
		{"hello-sh", "/sh", ModeCGI, "bin/hello.sh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := openSample(t, tt.name)
			if b.Kind != KindExec || b.Host != "" || b.BasePath != tt.base || b.Exec.Mode != tt.mode || b.Exec.Command[0] != tt.command {
				t.Errorf("kind, host, base, mode, command = %s, %q, %s, %s, %s; want exec, any, %s, %s, %s",
					b.Kind, b.Host, b.BasePath, b.Exec.Mode, b.Exec.Command[0], tt.base, tt.mode, tt.command)
			}
			if !reflect.DeepEqual(b.Operations, sampleOps) {
				t.Errorf("Operations = %v\nwant %v", b.Operations, sampleOps)
			}
		})
	}
}

// TestSampleHelloZbus opens the zbus sample (its section, its x-zbus operation, the
// endpoints it adds) and runs its node as the runner would: POST /add answers the sum.
func TestSampleHelloZbus(t *testing.T) {
	b, _ := openSample(t, "hello-zbus")
	if _, err := b.WithProps(nil); err == nil || !strings.Contains(err.Error(), `missing prop "redis"`) {
		t.Errorf("WithProps without redis: %v", err)
	}
	b, err := b.WithProps(map[string]any{"redis": "redis://127.0.0.1:6379/0"})
	if err != nil {
		t.Fatal(err)
	}
	z := b.Zbus
	if b.Kind != KindZbus || b.BasePath != "/zbus" || z.Twin != 1001 || z.Redis != "redis://127.0.0.1:6379/0" || !z.Endpoints ||
		!reflect.DeepEqual(z.Serve, []ZbusServe{{"calc.add", "/add"}}) || z.Node.Command[0] != "bin/calc" {
		t.Errorf("kind %s, base %s, zbus %+v", b.Kind, b.BasePath, z)
	}
	if rt := z.Routes["add"]; !reflect.DeepEqual(rt, ZbusRoute{Cmd: "calc.add", Dst: []int{1001}, Exp: 10, Try: 2}) {
		t.Errorf("x-zbus of add: %+v", rt)
	}
	wantOps := []Operation{{"POST", "/add", "add"}, {"POST", "/zbus-cmd", "zbus-cmd"}, {"POST", "/zbus-remote", "zbus-remote"},
		{"POST", "/zbus-reply", "zbus-reply"}, {"POST", "/zbus-result", "zbus-result"}}
	if !reflect.DeepEqual(b.Operations, wantOps) {
		t.Errorf("Operations = %v\nwant %v", b.Operations, wantOps)
	}
	if op, ok := operationFor(b, "POST", "/zbus/zbus-remote"); !ok || op != "zbus-remote" {
		t.Errorf("POST /zbus/zbus-remote routes to %q", op)
	}
	client := startSample(t, b, nil, "bin/calc").client
	defer client.CloseIdleConnections()
	for body, want := range map[string]string{`{"a":2,"b":3}`: "200 {\"sum\":5}", `{"a":2}`: "400 want {\"a\": <number>, \"b\": <number>}\n"} {
		resp, err := client.Post("http://node/add", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if s := strconv.Itoa(resp.StatusCode) + " " + string(got); s != want {
			t.Errorf("POST /add %s: %q, want %q", body, s, want)
		}
	}
}

// TestSamplesReproducible builds the samples a second time: same bytes.
func TestSamplesReproducible(t *testing.T) {
	first, err := buildSamples()
	if err != nil {
		t.Fatal(err)
	}
	second := t.TempDir()
	if out, err := exec.Command("bash", "../scripts/build-samples.sh", second).CombinedOutput(); err != nil {
		t.Fatalf("build-samples.sh: %v\n%s", err, out)
	}
	for _, name := range []string{"hello-go", "hello-py", "hello-sh", "hello-gilmour", "hello-zbus"} {
		a, _ := os.ReadFile(filepath.Join(first, name+".zip"))
		b, _ := os.ReadFile(filepath.Join(second, name+".zip"))
		if len(a) == 0 || string(a) != string(b) {
			t.Errorf("%s.zip differs between two builds (%d and %d bytes)", name, len(a), len(b))
		}
	}
}

// response is what a sample answered.
type response struct {
	status int
	header http.Header
	body   string
}

// caller sends one request to a running sample.
type caller func(t *testing.T, method, uri, ctype, body string) response

// checkSample runs the requests every sample answers the same way.
func checkSample(t *testing.T, base string, call caller, argsBody string) {
	tests := []struct {
		name, method, uri, ctype, body string
		status                         int
		wantType, wantBody             string
	}{
		{"greet", "GET", base + "/greet/bob", "", "", 200, "application/json", `{"greeting":"Howdy, bob!","operation":"greet"}` + "\n"},
		{"greet trailing slash", "GET", base + "/greet/bob/", "", "", 200, "application/json", `{"greeting":"Howdy, bob!","operation":"greet"}` + "\n"},
		{"args", "GET", base + "/args?a=1&a=2&b=x%20y", "", "", 200, "application/json", argsBody},
		{"echo", "POST", base + "/echo", "text/x-test", "hello\x00body", 200, "text/x-test", "hello\x00body"},
		{"health without base", "GET", "/health", "", "", 200, "text/plain", "ok\n"},
		{"health with base", "GET", base + "/health", "", "", 200, "text/plain", "ok\n"},
		{"sleep", "GET", base + "/sleep?ms=20", "", "", 200, "application/json", `{"slept_ms":20}` + "\n"},
		{"sleep with leading zero", "GET", base + "/sleep?ms=010", "", "", 200, "application/json", `{"slept_ms":10}` + "\n"},
		{"unknown", "GET", base + "/nope", "", "", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, tt.method, tt.uri, tt.ctype, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d (body %q)", r.status, tt.status, r.body)
			}
			if tt.status != 200 {
				return
			}
			if got := r.header.Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type %q, want %q", got, tt.wantType)
			}
			if r.body != tt.wantBody {
				t.Errorf("body %q, want %q", r.body, tt.wantBody)
			}
			if tt.name == "greet" {
				if got := r.header.Values("Set-Cookie"); !reflect.DeepEqual(got, []string{"a=1; Path=/", "b=2; Path=/"}) {
					t.Errorf("Set-Cookie %q, want two cookies", got)
				}
			}
			if tt.name == "echo" && r.header.Get("X-Echo-Length") != "10" {
				t.Errorf("X-Echo-Length %q, want 10", r.header.Get("X-Echo-Length"))
			}
		})
	}
	t.Run("env", func(t *testing.T) {
		r := call(t, "GET", base+"/env", "", "")
		for _, want := range []string{"FUNCATRON_BUNDLE=", "HELLO_SAMPLE=", `FUNCATRON_PROPS={"greeting":"Howdy"}`} {
			if !strings.Contains(r.body, "\n"+want) && !strings.HasPrefix(r.body, want) {
				t.Errorf("env lacks %s:\n%s", want, r.body)
			}
		}
	})
}

// argsJSON is the /args answer of the http samples.
const argsJSON = `{"args":{"a":["1","2"],"b":["x y"]},"query":"a=1&a=2&b=x%20y"}` + "\n"

func TestSampleHelloGo(t *testing.T) { testHTTPSample(t, "hello-go", "/hello") }
func TestSampleHelloPy(t *testing.T) { testHTTPSample(t, "hello-py", "/py") }

// testHTTPSample unpacks an http-mode sample, starts it as a runner would
// and checks its answers, then that /crash ends the process.
func testHTTPSample(t *testing.T, name, base string) {
	b, _ := openSample(t, name)
	b, err := b.WithProps(map[string]any{"greeting": "Howdy"})
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), `FUNCATRON_PROPS={"greeting":"Howdy"}`,
		"FUNCATRON_BUNDLE=" + b.SHA, "HELLO_SAMPLE=" + b.Exec.Env["HELLO_SAMPLE"]}
	p := startSample(t, b, env, b.Exec.Command...)
	client, exited := p.client, p.exited
	call := func(t *testing.T, method, uri, ctype, body string) response {
		req, err := http.NewRequest(method, "http://sample"+uri, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if op, ok := operationFor(b, method, uri); ok {
			req.Header.Set("X-Funcatron-Operation", op)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, uri, err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return response{resp.StatusCode, resp.Header, string(data)}
	}
	checkSample(t, base, call, argsJSON)
	t.Run("crash", func(t *testing.T) {
		if _, err := client.Get("http://sample" + base + "/crash"); err == nil {
			t.Error("GET /crash got an answer")
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 3 {
				t.Errorf("process ended with %v, want exit status 3", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("process still running after GET /crash")
		}
	})
}

// operationFor is the operationId the runner would send for a request.
func operationFor(b *Bundle, method, uri string) (string, bool) {
	m, err := b.Router().Match(method, strings.SplitN(uri, "?", 2)[0])
	if err != nil {
		return "", false
	}
	return m.Operation.OperationID, true
}

// sampleProcess is a sample bundle's program started as a runner starts it: unpacked, and
// listening on a unix socket of its own.
type sampleProcess struct {
	client *http.Client // its requests go to the socket
	exited chan error   // what cmd.Wait returned; the test's cleanup reads it
}

// startSample unpacks b and starts command (a path in the unpacked bundle, then its
// arguments) in it with env and FUNCATRON_LISTEN set to a fresh socket; it returns once the
// socket accepts. The process is killed at the test's end.
func startSample(t *testing.T, b *Bundle, env []string, command ...string) *sampleProcess {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "b")
	if err := b.Unpack(dir); err != nil {
		t.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "fs") // short: unix socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "s")
	cmd := exec.Command(filepath.Join(dir, command[0]), command[1:]...)
	cmd.Dir, cmd.Stderr, cmd.Env = dir, os.Stderr, append(env, "FUNCATRON_LISTEN="+sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &sampleProcess{exited: make(chan error, 1), client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		p.client.CloseIdleConnections()
		cmd.Process.Kill()
		<-p.exited
	})
	waitForSocket(t, sock, 10*time.Second)
	return p
}

// waitForSocket polls until the unix socket accepts, or fails the test.
func waitForSocket(t *testing.T, sock string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not accepting after %v: %v", sock, limit, err)
		}
		<-tick.C
	}
}

// TestSampleHelloSh runs the CGI sample through net/http/cgi, an
// independent implementation of RFC 3875.
func TestSampleHelloSh(t *testing.T) {
	b, _ := openSample(t, "hello-sh")
	dir := filepath.Join(t.TempDir(), "b")
	if err := b.Unpack(dir); err != nil {
		t.Fatal(err)
	}
	h := &cgi.Handler{
		Path: filepath.Join(dir, b.Exec.Command[0]), Dir: dir, Root: "/sh",
		Env: []string{`FUNCATRON_PROPS={"greeting":"Howdy"}`, "FUNCATRON_BUNDLE=" + b.SHA, "HELLO_SAMPLE=hello-sh"},
	}
	call := func(t *testing.T, method, uri, ctype, body string) response {
		req := httptest.NewRequest(method, uri, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if op, ok := operationFor(b, method, uri); ok {
			req.Header.Set("X-Funcatron-Operation", op)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return response{rec.Code, rec.Header(), rec.Body.String()}
	}
	checkSample(t, "/sh", call, `{"query":"a=1&a=2&b=x%20y"}`+"\n")
	t.Run("crash", func(t *testing.T) {
		if r := call(t, "GET", "/sh/crash", "", ""); r.status != http.StatusInternalServerError {
			t.Errorf("GET /sh/crash: status %d, want net/http/cgi's 500 for no output", r.status)
		}
	})
}
