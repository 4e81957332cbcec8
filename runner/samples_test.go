package runner

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
)

// TestSampleZbus runs the hello-zbus sample through a runner with a real Redis: POST
// /zbus/add is the command calc.add, served by the sample's own node; a body the node
// refuses comes back as the command's err (502); the endpoints are routed.
func TestSampleZbus(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	cmd := exec.Command("bash", "../scripts/build-samples.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the samples: %v\n%s", err, b)
	}
	redis := testenv.StartRedis(t)
	tr := newTron(t)
	r := startRunner(t, tr)
	b, err := os.ReadFile(filepath.Join(out, "hello-zbus.zip"))
	if err != nil {
		t.Fatal(err)
	}
	sha := tr.upload(b)
	tr.enableOK(r.Inbox(), sha, "", "/zbus", protocol.Props{"redis": redis.URL()})
	queue := protocol.RouteQueue("", "/zbus")
	fe := newFrontend(t)
	a := fe.do(queue, service("samples.example", "POST", "/zbus/add", []byte(`{"a":2,"b":3}`)))
	if a.Answer.Status != 200 || string(a.Answer.Body) != `{"sum":5}` {
		t.Errorf("add: %d %s", a.Answer.Status, a.Answer.Body)
	}
	a = fe.do(queue, service("samples.example", "POST", "/zbus/add", []byte(`{"a":2}`)))
	if a.Answer.Status != 502 || !strings.Contains(string(a.Answer.Body), `"src":1001`) {
		t.Errorf("add without b: %d %s", a.Answer.Status, a.Answer.Body)
	}
	a = fe.do(queue, service("samples.example", "POST", "/zbus/zbus-remote", []byte(`{"ver":`)))
	if a.Answer.Status != 400 {
		t.Errorf("zbus-remote with bad JSON: %d %s", a.Answer.Status, a.Answer.Body)
	}
}

// TestSamples runs the real sample bundles (bundles/samples, built by
// scripts/build-samples.sh) through a runner: the Go and Python ones in http mode, the
// shell one as CGI, each checked against the answers of bundles/samples/README.md.
func TestSamples(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	cmd := exec.Command("bash", "../scripts/build-samples.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the samples: %v\n%s", err, b)
	}
	tr := newTron(t)
	r := startRunner(t, tr)
	samples := []struct {
		name, base string
		http       bool
	}{
		{"hello-go", "/hello", true},
		{"hello-py", "/py", true},
		{"hello-sh", "/sh", false},
	}
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(out, s.name+".zip"))
			if err != nil {
				t.Fatal(err)
			}
			sha := tr.upload(b)
			tr.enableOK(r.Inbox(), sha, "", s.base, protocol.Props{"greeting": "Howdy"})
			queue := protocol.RouteQueue("", s.base)
			host := "samples.example"
			fe := newFrontend(t)

			a := fe.do(queue, service(host, "GET", s.base+"/greet/bob", nil))
			if a.Answer.Status != 200 || string(a.Answer.Body) != `{"greeting":"Howdy, bob!","operation":"greet"}`+"\n" {
				t.Errorf("greet: %d %q", a.Answer.Status, a.Answer.Body)
			}
			if got := header(a, "Set-Cookie"); !slices.Equal(got, []string{"a=1; Path=/", "b=2; Path=/"}) {
				t.Errorf("greet Set-Cookie = %q", got)
			}

			a = fe.do(queue, service(host, "GET", s.base+"/args?a=1&a=2&b=x%20y", nil))
			want := `{"args":{"a":["1","2"],"b":["x y"]},"query":"a=1&a=2&b=x%20y"}` + "\n"
			if !s.http {
				want = `{"query":"a=1&a=2&b=x%20y"}` + "\n"
			}
			if string(a.Answer.Body) != want {
				t.Errorf("args: %d %q, want %q", a.Answer.Status, a.Answer.Body, want)
			}

			body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
			svc := service(host, "POST", s.base+"/echo", body)
			svc.ContentType = "application/x-test"
			svc.Headers["content-type"] = protocol.Values{"application/x-test"}
			a = fe.do(queue, svc)
			if a.Answer.Status != 200 || !bytes.Equal(a.Answer.Body, body) || !slices.Equal(header(a, "X-Echo-Length"), []string{"1048576"}) {
				t.Errorf("echo of 1 MiB: %d, %d bytes back, X-Echo-Length %q", a.Answer.Status, len(a.Answer.Body), header(a, "X-Echo-Length"))
			}

			a = fe.do(queue, service(host, "GET", s.base+"/env", nil))
			env := strings.Split(strings.TrimSpace(string(a.Answer.Body)), "\n")
			checkSampleEnv(t, env, sha, s.name, s.http)

			a = fe.do(queue, service(host, "GET", s.base+"/crash", nil))
			if a.Answer.Status != 502 {
				t.Errorf("crash: %d %s", a.Answer.Status, a.Answer.Body)
			}
			testenv.WaitFor(t, 10*time.Second, "greet after the crash", func() bool {
				return fe.do(queue, service(host, "GET", s.base+"/greet/x", nil)).Answer.Status == 200
			})
		})
	}
}

// checkSampleEnv: the runner's environment does not leak; an http sample sees exactly
// PATH, HOME, the FUNCATRON_ variables and the manifest's env (a CGI one also its
// meta-variables).
func checkSampleEnv(t *testing.T, env []string, sha, name string, http bool) {
	t.Helper()
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	if _, ok := vars[leakVar]; ok {
		t.Errorf("%s sees the runner's %s", name, leakVar)
	}
	if vars["HELLO_SAMPLE"] != name || vars["FUNCATRON_BUNDLE"] != sha || vars["HOME"] == "" || vars["PATH"] == "" ||
		!strings.Contains(vars["FUNCATRON_PROPS"], "Howdy") {
		t.Errorf("%s env: %q", name, env)
	}
	if http {
		want := []string{"FUNCATRON_BUNDLE", "FUNCATRON_LISTEN", "FUNCATRON_PROPS", "HELLO_SAMPLE", "HOME", "PATH"}
		var got []string
		for k := range vars {
			// Python sets LC_CTYPE in its own environment (PEP 538 locale coercion).
			if k != "PWD" && k != "LC_CTYPE" {
				got = append(got, k)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s env names %q, want %q", name, got, want)
		}
	} else if vars["GATEWAY_INTERFACE"] != "CGI/1.1" || vars["REQUEST_METHOD"] != "GET" {
		t.Errorf("%s CGI env: %q", name, env)
	}
}

// TestSampleGilmour runs the gilmour sample (bundles/samples/hello-gilmour) through a
// runner with a real Redis: a request to its node's service, a signal its slot counts,
// and a composition, all from the route queue; and its health in the heartbeat.
func TestSampleGilmour(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	if b, err := exec.Command("bash", "../scripts/build-samples.sh", out).CombinedOutput(); err != nil {
		t.Fatalf("building the samples: %v\n%s", err, b)
	}
	redis := testenv.StartRedis(t)
	tr := newTron(t)
	r := startRunner(t, tr)
	b, err := os.ReadFile(filepath.Join(out, "hello-gilmour.zip"))
	if err != nil {
		t.Fatal(err)
	}
	sha := tr.upload(b)
	// A Redis that does not answer fails the enable, saying so.
	ports, _ := servers.FreePorts(1)
	dead := fmt.Sprintf("127.0.0.1:%d", ports[0])
	ack := tr.ack(tr.enable(r.Inbox(), sha, "", "/gilmour", protocol.Props{"redis": "redis://" + dead + "/0"}), 15*time.Second)
	if ack == nil || ack.Status != protocol.AckError || !strings.Contains(ack.Error, "the Gilmour Redis at "+dead+" is unreachable") {
		t.Errorf("enable with a dead Redis: %+v", ack)
	}
	tr.enableOK(r.Inbox(), sha, "", "/gilmour", protocol.Props{"redis": redis.URL(), "greeting": "Howdy"})
	queue := protocol.RouteQueue("", "/gilmour")
	fe := newFrontend(t)
	a := fe.do(queue, service("x", "POST", "/gilmour/greet", []byte(`{"name":"bob"}`)))
	if a.Answer.Status != 200 || string(a.Answer.Body) != `{"messages":[{"data":{"events":0,"greeting":"Howdy, bob!","name":"bob"},"code":200}],"code":200,"length":1}` {
		t.Errorf("greet: %d %s", a.Answer.Status, a.Answer.Body)
	}
	a = fe.do(queue, service("x", "POST", "/gilmour/event", []byte(`{"id":1}`)))
	if a.Answer.Status != 202 || string(a.Answer.Body) != `{"receivers":1}` {
		t.Errorf("event: %d %s", a.Answer.Status, a.Answer.Body)
	}
	testenv.WaitFor(t, 5*time.Second, "the slot counted the event", func() bool {
		a = fe.do(queue, service("x", "POST", "/gilmour/twice", []byte(`"ann"`)))
		return strings.Contains(string(a.Answer.Body), `"events":1`)
	})
	if a.Answer.Status != 200 || !strings.Contains(string(a.Answer.Body), `{"data":{"events":1,"greeting":"HOWDY, ANN!","name":"ann"},"code":200}],"code":200,"length":2}`) {
		t.Errorf("twice: %d %s", a.Answer.Status, a.Answer.Body)
	}
	tr.wait(5*time.Second, "a heartbeat with the bundle's health", func(m protocol.Message) bool {
		hb, ok := m.(*protocol.Heartbeat)
		return ok && len(hb.Routes) == 1 && hb.Routes[0].SHA == sha && hb.Routes[0].Status == "ok"
	})
	want := `funcatron_runner_bundle_health{queue="` + queue + `",sha="` + sha + `",status="ok"} 1`
	if m := metricsText(t, r); !strings.Contains(m, want) {
		t.Errorf("metrics lack %s", want)
	}
}
