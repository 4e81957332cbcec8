package tron

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

const testToken = "test-token-0123456789"

func testLogger(t testing.TB) *slog.Logger { return testenv.Logger(t) }

// memTron is a Tron on the in-memory bus, running until the test ends.
type memTron struct {
	*Tron
	net  *bus.Memory
	opts *Options
}

// startMemTron starts a Tron on a fresh memory network; edit adjusts the options.
func startMemTron(t *testing.T, edit func(*Options)) *memTron {
	t.Helper()
	mem := bus.NewMemory()
	o := NewOptions()
	o.DataDir = t.TempDir()
	o.Listen = "127.0.0.1:0"
	o.Token = testToken
	o.EnableWait = 2 * time.Second
	o.Logger = testLogger(t)
	o.Bus = mem.Connect(o.TronQueue, "test")
	if edit != nil {
		edit(o)
	}
	return runTron(t, o, mem)
}

// runTron runs a Tron with options o until the test ends.
func runTron(t *testing.T, o *Options, mem *bus.Memory) *memTron {
	t.Helper()
	tr, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	testenv.WaitFor(t, 10*time.Second, "the Tron's bus", func() bool { return tr.getBus() != nil })
	return &memTron{Tron: tr, net: mem, opts: o}
}

// apiClient calls a Tron's admin API at addr.
type apiClient struct{ addr string }

func (tr *Tron) api(t testing.TB, method, path string, body any, tok ...string) (int, map[string]any) {
	t.Helper()
	return apiClient{tr.Addr().String()}.api(t, method, path, body, tok...)
}

func (tr *Tron) apiRaw(t testing.TB, method, path string, body any, tok ...string) (int, []byte) {
	t.Helper()
	return apiClient{tr.Addr().String()}.apiRaw(t, method, path, body, tok...)
}

func (tr *Tron) upload(t testing.TB, data []byte) string {
	t.Helper()
	return apiClient{tr.Addr().String()}.upload(t, data)
}

// api calls the admin API with the test token (or tok when given) and decodes a JSON answer.
func (c apiClient) api(t testing.TB, method, path string, body any, tok ...string) (int, map[string]any) {
	t.Helper()
	status, raw := c.apiRaw(t, method, path, body, tok...)
	var out map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %v\n%s", method, path, err, raw)
		}
	}
	return status, out
}

func (c apiClient) apiRaw(t testing.TB, method, path string, body any, tok ...string) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, "http://"+c.addr+path, r)
	if err != nil {
		t.Fatal(err)
	}
	token := testToken
	if len(tok) > 0 {
		token = tok[0]
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading answer: %v", method, path, err)
	}
	return resp.StatusCode, raw
}

// upload posts a bundle and returns its sha.
func (c apiClient) upload(t testing.TB, data []byte) string {
	t.Helper()
	status, res := c.api(t, "POST", "/api/v1/add_func", data)
	if status != 200 {
		t.Fatalf("add_func = %d %v, want 200", status, res)
	}
	return res["sha"].(string)
}

// makeBundle builds a valid exec bundle serving host and basePath; salt changes its sha.
func makeBundle(t testing.TB, host, basePath, salt string) []byte {
	t.Helper()
	manifest := "swagger: \"2.0\"\ninfo: {title: t, version: \"1.0\"}\n"
	if host != "" {
		manifest += "host: " + host + "\n"
	}
	manifest += "basePath: " + basePath + "\npaths:\n  /hello:\n    get: {operationId: hello}\n"
	return makeZip(t, map[string]string{
		"funcatron.yaml": manifest,
		"bin/run":        "#!/bin/sh\necho " + salt + "\n",
	})
}

func makeZip(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, files[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fakeNode is a runner or frontend on the memory bus: it records what the Tron sends it.
type fakeNode struct {
	bus.Bus
	typ, instance string
	codec         protocol.Codec
	tronQueue     string
	got           map[string]chan bus.Message
}

var nodeActions = []string{
	protocol.ActionTronInfo, protocol.ActionAllBundles, protocol.ActionEnable, protocol.ActionDisable,
	protocol.ActionResendAwake, protocol.ActionRoute, protocol.ActionDie, protocol.ActionSetStatsd,
}

func newFakeNode(t testing.TB, b bus.Bus, typ, instance string, codec protocol.Codec, tronQueue string) *fakeNode {
	n := &fakeNode{Bus: b, typ: typ, instance: instance, codec: codec, tronQueue: tronQueue, got: map[string]chan bus.Message{}}
	for _, a := range nodeActions {
		ch := make(chan bus.Message, 100)
		n.got[a] = ch
		b.OnType(a, func(_ context.Context, m bus.Message) { ch <- m })
	}
	t.Cleanup(func() { b.Close() })
	return n
}

// memNode connects a fake node to a memory network.
func (m *memTron) node(t testing.TB, typ, inbox, instance string, codec protocol.Codec) *fakeNode {
	return newFakeNode(t, m.net.ConnectAs(inbox, "fake-1.0", typ), typ, instance, codec, m.opts.TronQueue)
}

// tell sends m to the Tron queue. It may run in a goroutine other than the test's: a
// failure is reported with Errorf.
func (n *fakeNode) tell(t testing.TB, m protocol.Message) {
	t.Helper()
	r, err := n.Send(context.Background(), m, bus.Destination{Queue: n.tronQueue, Codec: n.codec, Persistent: true})
	if err != nil {
		t.Errorf("%s sending %T: %v", n.Inbox(), m, err)
		return
	}
	r.Close()
}

func (n *fakeNode) awake(t testing.TB) {
	t.Helper()
	n.tell(t, &protocol.Awake{Type: n.typ, InstanceID: n.instance})
}

func (n *fakeNode) heartbeat(t testing.TB) {
	t.Helper()
	n.tell(t, &protocol.Heartbeat{Type: n.typ})
}

func (n *fakeNode) ack(t testing.TB, m bus.Message, status, errText string) {
	t.Helper()
	n.tell(t, &protocol.Ack{AckID: m.UUID, Status: status, Error: errText})
}

// expect returns the next message of action the node got, failing after a deadline.
func (n *fakeNode) expect(t testing.TB, action string) bus.Message {
	t.Helper()
	m, err := n.await(action)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// await is expect for goroutines other than the test's.
func (n *fakeNode) await(action string) (bus.Message, error) {
	select {
	case m := <-n.got[action]:
		return m, nil
	case <-time.After(10 * time.Second):
		return bus.Message{}, fmt.Errorf("%s: no %s message within 10s", n.Inbox(), action)
	}
}

// ackNext acks the next message of action with status (in a goroutine: it never calls
// FailNow) and closes done after. The test's cleanup waits for it, so a goroutine whose
// message never came reports that in its own test instead of panicking in a later one.
func (n *fakeNode) ackNext(t testing.TB, action, status, errText string) (done <-chan struct{}) {
	ch := make(chan struct{})
	t.Cleanup(func() { <-ch })
	go func() {
		defer close(ch)
		m, err := n.await(action)
		if err != nil {
			t.Error(err)
			return
		}
		if status != "-" {
			n.ack(t, m, status, errText)
		}
	}()
	return ch
}

// pending is how many messages of action the node got and nobody took yet.
func (n *fakeNode) pending(action string) int { return len(n.got[action]) }

func fmtRoutes(rs []protocol.RouteEntry) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "[%s %s %s %.8s] ", r.Host, r.Path, r.Queue, r.SHA)
	}
	return b.String()
}
