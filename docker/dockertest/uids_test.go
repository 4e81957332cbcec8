package dockertest

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/stack"
	"github.com/funcatron/funcatron/runner/kind"
)

// TestBundleUIDRangesApart: the default FUNCATRON_BUNDLE_UIDS of the runner image and of the
// compose file is one range, apart from the host's (internal/stack.BundleUIDs: `make run`,
// the tests, the bench) and from the test project's. A runner kills what runs under an
// unleased uid of its range and sees every container's processes, so a compose stack on the
// host's range and a root `make run` would kill each other's bundles.
func TestBundleUIDRangesApart(t *testing.T) {
	compose := defaultUIDs(t, "docker-compose.yml", `FUNCATRON_BUNDLE_UIDS:-\s*([0-9]+-[0-9]+)`)
	image := defaultUIDs(t, "runner.Dockerfile", `FUNCATRON_BUNDLE_UIDS=([0-9]+-[0-9]+)`)
	if compose != image {
		t.Errorf("compose default %s, runner image default %s: want one range", compose, image)
	}
	for name, other := range map[string]string{"internal/stack.BundleUIDs": stack.BundleUIDs, "the test project's": bundleUIDs} {
		if overlap(t, compose, other) {
			t.Errorf("the default bundle uids %s overlap %s %s", compose, name, other)
		}
	}
}

// defaultUIDs is the range re's first group finds in docker/<file>.
func defaultUIDs(t *testing.T, file, re string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(servers.RepoRoot(), "docker", file))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(re).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no default FUNCATRON_BUNDLE_UIDS in docker/%s", file)
	}
	return string(m[1])
}

func overlap(t *testing.T, a, b string) bool {
	t.Helper()
	ra, err1 := kind.ParseUIDRange(a)
	rb, err2 := kind.ParseUIDRange(b)
	if err1 != nil || err2 != nil {
		t.Fatalf("parsing %q, %q: %v %v", a, b, err1, err2)
	}
	return ra.First <= rb.Last && rb.First <= ra.Last
}
