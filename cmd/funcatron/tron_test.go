package main

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/funcatron/funcatron/tron"
)

const testToken = "cli-test-token-0123"

// testTron is a real Tron on an in-memory bus, for the CLI to talk to.
type testTron struct {
	*tron.Tron
	url string
	mem *bus.Memory
}

func startTron(t *testing.T) *testTron {
	t.Helper()
	mem := bus.NewMemory()
	return startTronWith(t, mem, func(o *tron.Options) { o.Bus = mem.Connect(o.TronQueue, "test") })
}

// startTronWith runs a Tron with the options edit sets (its bus: mem, or RabbitMQ).
func startTronWith(t *testing.T, mem *bus.Memory, edit func(*tron.Options)) *testTron {
	t.Helper()
	o := tron.NewOptions()
	o.DataDir, o.Listen, o.Token = t.TempDir(), "127.0.0.1:0", testToken
	o.EnableWait = 300 * time.Millisecond
	o.Logger = testenv.Logger(t)
	edit(o)
	tr, err := tron.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	tt := &testTron{Tron: tr, url: "http://" + tr.Addr().String(), mem: mem}
	testenv.WaitFor(t, 10*time.Second, "the Tron", func() bool {
		_, code := tt.cli(t, "stats")
		return code == 0
	})
	return tt
}

// cli runs the CLI against the Tron with its token; it returns stdout+stderr and the code.
func (tt *testTron) cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := run(append([]string{"--tron", tt.url, "--token", testToken}, args...), &out, &out)
	return out.String(), code
}

// runner is a runner on the memory bus that acks every enable ok, so enables answer 200;
// it sends the props of each enable it gets to the returned channel.
func (tt *testTron) runner(t *testing.T) <-chan protocol.Props {
	t.Helper()
	return tt.runnerAcking(t, "RU-cli", protocol.AckOK, "")
}

// runnerAcking is a runner named id that acks every enable with status and errText.
func (tt *testTron) runnerAcking(t *testing.T, id, status, errText string) <-chan protocol.Props {
	t.Helper()
	props := make(chan protocol.Props, 100)
	b := tt.mem.ConnectAs(id, "test-runner", protocol.TypeRunner)
	t.Cleanup(func() { b.Close() })
	tronQ := bus.Destination{Queue: protocol.DefaultTronQueue, Codec: protocol.JSON, Persistent: true}
	b.OnType(protocol.ActionEnable, func(ctx context.Context, m bus.Message) {
		props <- m.Data.(*protocol.Enable).Props
		if r, err := b.Send(ctx, &protocol.Ack{AckID: m.UUID, Status: status, Error: errText}, tronQ); err == nil {
			r.Close()
		}
	})
	r, err := b.Send(context.Background(), &protocol.Awake{Type: protocol.TypeRunner}, tronQ)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	testenv.WaitFor(t, 10*time.Second, "the runner known", func() bool {
		out, _ := tt.cli(t, "status", "--interval", "0")
		return bytes.Contains([]byte(out), []byte(id))
	})
	return props
}

// bundleFile writes a valid exec bundle serving basePath of any host, titled title, to a
// temp file.
func bundleFile(t *testing.T, title, version, basePath, salt string) string {
	t.Helper()
	return bundleFileOn(t, "", title, version, basePath, salt)
}

// bundleFileOn is bundleFile for the route host/basePath ("" host: any host).
func bundleFileOn(t *testing.T, host, title, version, basePath, salt string) string {
	t.Helper()
	manifest := "swagger: \"2.0\"\ninfo: {title: " + title + ", version: \"" + version + "\"}\nbasePath: " + basePath +
		"\npaths:\n  /hello:\n    get: {operationId: hello}\n"
	if host != "" {
		manifest = "host: " + host + "\n" + manifest
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range map[string]string{"funcatron.yaml": manifest, "bin/run": "#!/bin/sh\necho " + salt + "\n"} {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		w, _ := zw.CreateHeader(h)
		w.Write([]byte(body))
	}
	zw.Close()
	file := filepath.Join(t.TempDir(), title+"-"+version+".zip")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}
