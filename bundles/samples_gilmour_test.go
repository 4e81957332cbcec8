package bundles

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/testenv"
)

// TestSampleHelloGilmour opens the gilmour sample and runs its node as the runner would,
// checking the node contract of docs/bundle-gilmour.md (the whole path through Redis is
// runner/samples_test.go's).
func TestSampleHelloGilmour(t *testing.T) {
	b, _ := openSample(t, "hello-gilmour")
	b, err := b.WithProps(map[string]any{"redis": "redis://127.0.0.1:6379/0", "greeting": "Howdy"})
	if err != nil {
		t.Fatal(err)
	}
	g := b.Gilmour
	if b.Kind != KindGilmour || b.BasePath != "/gilmour" || g.Node == nil || g.Node.Command[0] != "bin/node" ||
		len(g.Node.Services) != 1 || len(g.Node.Slots) != 1 || g.ErrorPolicy != ErrorsQueue {
		t.Fatalf("sample config %+v node %+v", g, g.Node)
	}
	if g.Routes["greet"].Request != "hello.greet" || g.Routes["event"].Signal != "hello.events.created" ||
		g.Routes["twice"].Composition.Combinator != Pipe {
		t.Errorf("routes %+v", g.Routes)
	}
	dir := filepath.Join(t.TempDir(), "b")
	if err := b.Unpack(dir); err != nil {
		t.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "fs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "s")
	cmd := exec.Command(filepath.Join(dir, "bin", "node"))
	cmd.Dir, cmd.Stderr = dir, os.Stderr
	cmd.Env = []string{"FUNCATRON_LISTEN=" + sock, `FUNCATRON_PROPS={"greeting":"Howdy"}`}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	testenv.WaitFor(t, 10*time.Second, "the node listening", func() bool {
		conn, err := net.Dial("unix", sock)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	post := func(path, body string) string {
		res, err := c.Post("http://node"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	if got := post("/greet", `{"topic":"hello.greet","sender":"s","data":{"name":"bob"},"timeout":10}`); got != `{"events":0,"greeting":"Howdy, bob!","name":"bob"}`+"\n" {
		t.Errorf("greet: %q", got)
	}
	post("/event", `{"topic":"hello.events.created","sender":"s","data":{"id":1},"timeout":5}`)
	if got := post("/greet", `{"topic":"hello.greet","sender":"s","data":{"name":"bob","shout":true},"timeout":10}`); got != `{"events":1,"greeting":"HOWDY, BOB!","name":"bob"}`+"\n" {
		t.Errorf("greet shouting after an event: %q", got)
	}
}
