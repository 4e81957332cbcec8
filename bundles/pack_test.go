package bundles

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestPack(t *testing.T) {
	src := t.TempDir()
	write := func(name, body string, mode os.FileMode) {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("funcatron.yaml", "swagger: '2.0'\nx-funcatron: {exec: {command: bin/hello}}\n"+opsYAML, 0o600)
	write("bin/hello", "#!/bin/sh\n", 0o700)
	write("lib/data.txt", "data", 0o644)
	if err := os.Symlink("../bin/hello", filepath.Join(src, "lib/hello")); err != nil {
		t.Fatal(err)
	}
	var first, second bytes.Buffer
	if err := Pack(&first, src); err != nil {
		t.Fatalf("Pack: %v", err)
	}
	// Touching files must not change the bytes.
	if err := os.Chtimes(filepath.Join(src, "bin/hello"), fixedTime, fixedTime); err != nil {
		t.Fatal(err)
	}
	if err := Pack(&second, src); err != nil {
		t.Fatalf("Pack: %v", err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Error("Pack gave different bytes for the same tree")
	}
	b := mustOpen(t, first.Bytes())
	dest := filepath.Join(t.TempDir(), "b")
	if err := b.Unpack(dest); err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	for name, want := range map[string]os.FileMode{"bin/hello": 0o755, "funcatron.yaml": 0o644, "lib/data.txt": 0o644} {
		if info, err := os.Stat(filepath.Join(dest, name)); err != nil || info.Mode() != want {
			t.Errorf("%s: mode %v, %v; want %v", name, info.Mode(), err, want)
		}
	}
	if target, err := os.Readlink(filepath.Join(dest, "lib/hello")); err != nil || target != "../bin/hello" {
		t.Errorf("lib/hello -> %q, %v; want ../bin/hello", target, err)
	}
}

func TestPackRefusesSpecialFiles(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A unix socket is a special file we can make without privileges.
	l, err := listenUnix(filepath.Join(src, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := Pack(&bytes.Buffer{}, src); err == nil {
		t.Error("Pack accepted a socket")
	}
}
