package bundles

import (
	"io"
	"strings"
	"testing"
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
	c := startSample(t, b, []string{`FUNCATRON_PROPS={"greeting":"Howdy"}`}, "bin/node").client
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
