// The bundle cache: downloads from the Tron, verified by sha, kept on disk, each sha
// fetched and unpacked once however many enables and prefetches ask for it.

package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// shaPattern is a bundle id: lowercase hex SHA-256 (spec/bundles.md §1).
var shaPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// store keeps bundle files under dir/bundles and unpacked bundles under dir/unpacked.
type store struct {
	dir      string
	maxBytes int64
	client   *http.Client

	mu       sync.Mutex
	fetching map[string]*flight // sha → download in progress
	unpacked map[string]*flight // sha → unpack in progress or done
}

// flight is one download or unpack that later askers wait for.
type flight struct {
	done chan struct{}
	err  error
}

func newStore(dir string, maxBytes int64) (*store, error) {
	// The runner's alone (0700): a bundle gets its own files through its sandbox, never
	// another bundle's here.
	for _, sub := range []string{"bundles", "unpacked", "tmp"} {
		p := filepath.Join(dir, sub)
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, fmt.Errorf("creating the data dir: %w", err)
		}
		if err := os.Chmod(p, 0o700); err != nil {
			return nil, fmt.Errorf("creating the data dir: %w", err)
		}
	}
	// Leftovers of a runner killed mid-download or mid-unpack.
	tmp := filepath.Join(dir, "tmp")
	if entries, err := os.ReadDir(tmp); err == nil {
		for _, e := range entries {
			os.RemoveAll(filepath.Join(tmp, e.Name()))
		}
	}
	return &store{
		dir: dir, maxBytes: maxBytes,
		client:   &http.Client{Timeout: 2 * time.Minute},
		fetching: make(map[string]*flight), unpacked: make(map[string]*flight),
	}, nil
}

// file is where bundle sha is cached.
func (s *store) file(sha string) string { return filepath.Join(s.dir, "bundles", sha+".funcbundle") }

// unpackDir is where bundle sha is unpacked.
func (s *store) unpackDir(sha string) string { return filepath.Join(s.dir, "unpacked", sha) }

// has reports whether bundle sha is in the cache.
func (s *store) has(sha string) bool {
	_, err := os.Stat(s.file(sha))
	return err == nil
}

// get returns the bytes of bundle sha, downloading it from src first when it is not
// cached. A cached file is verified again: a damaged one is fetched anew.
func (s *store) get(ctx context.Context, sha, src string) ([]byte, error) {
	if !shaPattern.MatchString(sha) {
		return nil, fmt.Errorf("bundle id %q is not a lowercase hex SHA-256", sha)
	}
	if data, err := os.ReadFile(s.file(sha)); err == nil {
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) == sha {
			return data, nil
		}
		os.Remove(s.file(sha))
	}
	if err := s.fetch(ctx, sha, src); err != nil {
		return nil, err
	}
	return os.ReadFile(s.file(sha))
}

// join is sha's flight in flights (s.fetching, s.unpacked), made when there is none: the
// first caller does the work and closes f.done, the others wait for it.
func (s *store) join(flights map[string]*flight, sha string) (f *flight, first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, busy := flights[sha]
	if !busy {
		f = &flight{done: make(chan struct{})}
		flights[sha] = f
	}
	return f, !busy
}

// fetch downloads bundle sha into the cache, once: concurrent callers share a download.
func (s *store) fetch(ctx context.Context, sha, src string) error {
	f, first := s.join(s.fetching, sha)
	if first {
		f.err = s.download(ctx, sha, src)
		s.mu.Lock()
		delete(s.fetching, sha)
		s.mu.Unlock()
		close(f.done)
	}
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// download GETs src, checks size and sha, and writes the cache file atomically (temp
// file, fsync, rename).
func (s *store) download(ctx context.Context, sha, src string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return fmt.Errorf("bad download URL: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("downloading bundle from %s: %w", redactQuery(src), unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("downloading bundle from %s: HTTP %d", redactQuery(src), resp.StatusCode)
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), sha+"-*")
	if err != nil {
		return fmt.Errorf("caching bundle: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(resp.Body, s.maxBytes+1))
	switch {
	case err != nil:
		return fmt.Errorf("downloading bundle: %w", err)
	case n > s.maxBytes:
		return fmt.Errorf("bundle is larger than %d bytes", s.maxBytes)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return fmt.Errorf("downloaded bundle has sha %s, want %s", got, sha)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("caching bundle: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("caching bundle: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.file(sha)); err != nil {
		return fmt.Errorf("caching bundle: %w", err)
	}
	return nil
}

// unpack runs fn(dir) to unpack bundle sha once (fn must be atomic, as bundles.Unpack
// is); it returns the unpacked directory. An unpacked bundle from an earlier run is reused.
func (s *store) unpack(sha string, fn func(dir string) error) (string, error) {
	dir := s.unpackDir(sha)
	f, first := s.join(s.unpacked, sha)
	if !first {
		<-f.done
		if f.err == nil {
			return dir, nil
		}
		return "", f.err
	}
	f.err = s.doUnpack(dir, sha, fn)
	if f.err != nil {
		s.mu.Lock()
		delete(s.unpacked, sha) // a later enable may try again
		s.mu.Unlock()
	}
	close(f.done)
	if f.err != nil {
		return "", f.err
	}
	return dir, nil
}

func (s *store) doUnpack(dir, sha string, fn func(dir string) error) error {
	if _, err := os.Stat(dir); err == nil {
		return nil // unpacked by an earlier run (Unpack is atomic: dir is complete)
	}
	if err := fn(dir); err != nil {
		return fmt.Errorf("unpacking bundle: %w", err)
	}
	return nil
}

// redactQuery drops the query of a URL (the signature) for messages and logs.
func redactQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the bundle URL"
	}
	u.RawQuery = ""
	return u.String()
}

// unwrapURLError drops url.Error's "Get <url>:" prefix, which would repeat the signed URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
