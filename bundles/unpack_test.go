package bundles

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnpack(t *testing.T) {
	b := mustOpen(t, makeZip(t,
		file("funcatron.yaml", "swagger: '2.0'\nx-funcatron: {exec: {command: bin/run}}\n"+opsYAML),
		file("bin/run", "#!/bin/sh\n"), // no executable bit: the command gets one anyway
		exe("bin/tool", "tool"),
		zentry{name: "odd-mode", body: "x", mode: 0o4777}, // setuid, world-writable
		file("deep/er/data.txt", "data"),
		dir("empty/"),
		link("lib/tool", "../bin/tool"),
	))
	dest := filepath.Join(t.TempDir(), b.SHA)
	if err := b.Unpack(dest); err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	tests := []struct {
		name string
		mode fs.FileMode
		body string
	}{
		{"funcatron.yaml", 0o644, "swagger: '2.0'\n"},
		{"bin/run", 0o755, "#!/bin/sh\n"},
		{"bin/tool", 0o755, "tool"},
		{"odd-mode", 0o755, "x"},
		{"deep/er/data.txt", 0o644, "data"},
		{"empty", fs.ModeDir | 0o755, ""},
		{"deep/er", fs.ModeDir | 0o755, ""},
		{".", fs.ModeDir | 0o755, ""},
		{"lib/tool", fs.ModeSymlink, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dest, tt.name)
			info, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			got := info.Mode()
			if tt.mode == fs.ModeSymlink {
				got &= fs.ModeType
			}
			if got != tt.mode {
				t.Errorf("mode = %v, want %v", got, tt.mode)
			}
			if info.Mode().IsRegular() {
				data, _ := os.ReadFile(p)
				if !strings.HasPrefix(string(data), tt.body) {
					t.Errorf("content = %q, want %q", data, tt.body)
				}
			}
		})
	}
	if data, err := os.ReadFile(filepath.Join(dest, "lib/tool")); err != nil || string(data) != "tool" {
		t.Errorf("reading through lib/tool = %q, %v; want tool", data, err)
	}
	assertOnly(t, filepath.Dir(dest), b.SHA)
}

func TestUnpackExisting(t *testing.T) {
	b := mustOpen(t, withManifest(t, "funcatron.yaml", helloYAML))
	dest := filepath.Join(t.TempDir(), "b")
	if err := os.Mkdir(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	err := b.Unpack(dest)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Unpack into an existing dir: %v, want fs.ErrExist", err)
	}
	assertOnly(t, filepath.Dir(dest), "b")
}

// TestUnpackCountsBytes lowers the limit after Open, as if the headers had
// lied: Unpack must stop on the bytes it writes and leave nothing behind.
func TestUnpackCountsBytes(t *testing.T) {
	b := mustOpen(t, withManifest(t, "funcatron.yaml", helloYAML, file("big", randomText(10000))))
	b.arch.lim.MaxUnpackedBytes = 5000
	dest := filepath.Join(t.TempDir(), "b")
	err := b.Unpack(dest)
	if err == nil {
		t.Fatal("Unpack wrote more than the limit")
	}
	if got, want := invalidText(t, err), "the archive unpacks to more than the limit of 5000 bytes"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	assertOnly(t, filepath.Dir(dest))
}

// TestUnpackStaysInside bypasses Open's checks to show that os.Root alone
// keeps a zip-slip name from writing outside.
func TestUnpackStaysInside(t *testing.T) {
	data := makeZip(t, file("../evil", "x"))
	a, err := readArchive(data, Limits{}.withDefaults())
	if err == nil {
		t.Fatal("readArchive accepted ../evil")
	}
	a = &archive{lim: Limits{}.withDefaults(), entries: map[string]*entry{}}
	zr := mustZipReader(t, data)
	a.files = []*entry{{name: "../evil", kind: kindFile, file: zr.File[0]}}
	b := &Bundle{arch: a, SHA: "test"}
	parent := t.TempDir()
	if err := os.Mkdir(filepath.Join(parent, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	err = b.Unpack(filepath.Join(parent, "in", "b"))
	if err == nil || !strings.Contains(err.Error(), "path escapes from parent") {
		t.Fatalf("Unpack of ../evil: %v, want os.Root's refusal", err)
	}
	assertOnly(t, parent, "in")
	assertOnly(t, filepath.Join(parent, "in"))
}

// assertOnly fails unless dir holds exactly the names given (no leftover
// temporary directories, nothing written beside).
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}
