package servers

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestRepoRootInTrimmedBinary: a binary built with -trimpath (as `make build` builds
// bin/devstack for `make run`) still finds the repository from its working directory.
func TestRepoRootInTrimmedBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "reporoot")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./testdata/reporoot")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building: %v\n%s", err, out)
	}
	want := RepoRoot()
	for _, dir := range []string{want, filepath.Join(want, "internal", "servers")} {
		run := exec.Command(bin)
		run.Dir = dir
		out, err := run.Output()
		if err != nil || string(out) != want {
			t.Errorf("RepoRoot() run in %s = %q, %v; want %q", dir, out, err, want)
		}
	}
}
