package gilmour

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/runner/kind"
)

// nodeBin is the test node (testdata/node), built once by TestMain.
var nodeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gilmour-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	nodeBin = filepath.Join(dir, "node")
	cmd := exec.Command("go", "build", "-o", nodeBin, "./testdata/node")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building testdata/node: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testInterval is the health period of the tests' instances.
const testInterval = 100 * time.Millisecond

// openBundle packs a bundle of manifest (with bin/node, the test node) and opens it with
// props.
func openBundle(t testing.TB, manifest string, props map[string]any) (*bundles.Bundle, string) {
	t.Helper()
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "bin"), 0o755)
	os.WriteFile(filepath.Join(src, "bin", "node"), []byte("#!/bin/sh\nexec "+nodeBin+"\n"), 0o755)
	os.WriteFile(filepath.Join(src, "funcatron.yaml"), []byte(manifest), 0o644)
	var zip bytes.Buffer
	if err := bundles.Pack(&zip, src); err != nil {
		t.Fatal(err)
	}
	b, err := bundles.Open(zip.Bytes(), bundles.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if b, err = b.WithProps(props); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "unpacked")
	if err := b.Unpack(dir); err != nil {
		t.Fatal(err)
	}
	return b, dir
}

// startBundle starts an instance of manifest (props: redis = r's URL) and stops it in
// t.Cleanup.
func startBundle(t testing.TB, r *servers.Redis, manifest string) *instance {
	t.Helper()
	return startWith(t, manifest, map[string]any{"redis": r.URL()})
}

// startWith starts an instance of manifest with props.
func startWith(t testing.TB, manifest string, props map[string]any) *instance {
	t.Helper()
	in, err := tryStart(t, manifest, props)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func tryStart(t testing.TB, manifest string, props map[string]any) (*instance, error) {
	b, dir := openBundle(t, manifest, props)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.Default()
	}
	spec := &kind.Spec{SHA: b.SHA, Host: "", BasePath: b.BasePath, Bundle: b, Dir: dir, PropsJSON: []byte("{}"),
		Log: log, Grace: time.Second}
	inst, err := Kind{HealthInterval: testInterval}.Start(context.Background(), spec)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { inst.Stop(context.Background()) })
	return inst.(*instance), nil
}

// client is a plain Redis client for the tests' peers.
func client(t testing.TB, r *servers.Redis) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}
