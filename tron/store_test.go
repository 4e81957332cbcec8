package tron

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/bundles"
)

func TestStoreRoundTripAndCorruption(t *testing.T) {
	dir := t.TempDir()
	s, metas, err := openStore(dir, metaLimit(bundles.DefaultMaxManifestBytes), testLogger(t))
	if err != nil || len(metas) != 0 {
		t.Fatalf("openStore = %v, %v", metas, err)
	}
	data := bytes.Repeat([]byte("funcatron "), 10000)
	m := bundleMeta{SHA: shaOf(data), Kind: "exec", BasePath: "/x", Size: int64(len(data))}
	if err := s.put(data, m); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.blobPath(m.SHA))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() >= int64(len(data))/10 {
		t.Errorf("stored %d bytes for %d repetitive bytes: not compressed", fi.Size(), len(data))
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("bundle file mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := s.get(m.SHA, m.Size)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get = %d bytes, %v", len(got), err)
	}

	// Reopening finds it; a leftover temp file and an orphan bundle file are removed.
	os.WriteFile(dir+"/"+tempPrefix+"junk", []byte("x"), 0o600)
	orphan := strings.Repeat("c", 64)
	os.WriteFile(s.blobPath(orphan), []byte("x"), 0o600)
	s2, metas, err := openStore(dir, metaLimit(bundles.DefaultMaxManifestBytes), testLogger(t))
	if err != nil || len(metas) != 1 || metas[0].SHA != m.SHA {
		t.Fatalf("reopen = %v, %v", metas, err)
	}
	if _, err := os.Stat(s2.blobPath(orphan)); !os.IsNotExist(err) {
		t.Errorf("orphan bundle file still there: %v", err)
	}
	if _, err := os.Stat(dir + "/" + tempPrefix + "junk"); !os.IsNotExist(err) {
		t.Errorf("temp file still there: %v", err)
	}

	// A stored file whose content changed is refused on read.
	other := bytes.Repeat([]byte("different "), 10000)
	if err := s.put(other, bundleMeta{SHA: shaOf(other), Size: int64(len(other))}); err != nil {
		t.Fatal(err)
	}
	swapped, _ := os.ReadFile(s.blobPath(shaOf(other)))
	os.WriteFile(s.blobPath(m.SHA), swapped, 0o600)
	if _, err := s.get(m.SHA, m.Size); !errors.Is(err, ErrCorrupt) {
		t.Errorf("get of a swapped file = %v, want ErrCorrupt", err)
	}
	os.WriteFile(s.blobPath(m.SHA), []byte("garbage"), 0o600)
	if _, err := s.get(m.SHA, m.Size); err == nil {
		t.Error("get of a garbage file succeeded")
	}
}

func TestSigner(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := &signer{key: []byte("0123456789abcdef0123456789abcdef"), ttl: time.Hour, now: func() time.Time { return now }}
	sha := strings.Repeat("a", 64)
	q := s.query(sha) // exp=...&sig=...
	exp, sig := parseQuery(q)
	tests := []struct {
		name     string
		sha      string
		exp, sig string
		at       time.Time
		ok       bool
	}{
		{"valid", sha, exp, sig, now, true},
		{"valid until the end", sha, exp, sig, now.Add(time.Hour), true},
		{"expired", sha, exp, sig, now.Add(time.Hour + time.Second), false},
		{"other sha", strings.Repeat("b", 64), exp, sig, now, false},
		{"tampered exp", sha, "1800000000", sig, now, false},
		{"bad hex", sha, exp, "zz", now, false},
		{"empty", sha, "", "", now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.now = func() time.Time { return tt.at }
			if err := s.verify(tt.sha, tt.exp, tt.sig); (err == nil) != tt.ok {
				t.Errorf("verify = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	// A correctly signed URL expiring further ahead than this Tron hands out is refused.
	s.now = func() time.Time { return now.Add(48 * time.Hour) }
	far := s.query(sha)
	s.now = func() time.Time { return now }
	fexp, fsig := parseQuery(far)
	if err := s.verify(sha, fexp, fsig); err == nil {
		t.Error("a URL expiring in 49h was accepted with a 1h ttl")
	}
}

func parseQuery(q string) (exp, sig string) {
	for _, kv := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "exp":
			exp = v
		case "sig":
			sig = v
		}
	}
	return exp, sig
}

// TestStoreBigIncompressibleBundle: a bundle larger than the zstd encoder's default window
// reads back (the Tron once refused to serve any bundle over 1 MiB).
func TestStoreBigIncompressibleBundle(t *testing.T) {
	s, _, err := openStore(t.TempDir(), metaLimit(bundles.DefaultMaxManifestBytes), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	// A bundle larger than the encoder's default window, and incompressible, reads back.
	big := make([]byte, 9<<20)
	rand.Read(big)
	bm := bundleMeta{SHA: shaOf(big), Kind: "exec", BasePath: "/big", Size: int64(len(big))}
	if err := s.put(big, bm); err != nil {
		t.Fatal(err)
	}
	if got, err := s.get(bm.SHA, bm.Size); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("get of a 9 MiB bundle = %d bytes, %v", len(got), err)
	}

}
