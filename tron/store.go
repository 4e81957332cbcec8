// This file is the bundle store: content-addressed by sha, zstd-compressed at rest, verified
// on read, written atomically.

package tron

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Files of the store: <sha>.zst is the bundle, <sha>.json its metadata. The metadata is
// written after the bundle and removed before it, so metadata always has its bundle; a bundle
// without metadata is an upload or a delete that a crash interrupted, removed at start.
const (
	blobExt = ".zst"
	metaExt = ".json"
)

// ErrCorrupt is returned when a stored bundle does not decompress to the bytes of its sha.
var ErrCorrupt = errors.New("stored bundle is corrupt")

// bundleMeta is what the Tron remembers about a stored bundle.
type bundleMeta struct {
	SHA        string         `json:"sha"`
	Kind       string         `json:"type"`
	Host       string         `json:"host"`
	BasePath   string         `json:"path"`
	Operations []Operation    `json:"operations"`
	Manifest   map[string]any `json:"swagger"`
	Size       int64          `json:"size"`        // bytes of the bundle file
	UploadedAt int64          `json:"uploaded-at"` // epoch milliseconds
}

type store struct {
	dir     string
	log     *slog.Logger
	maxMeta int64 // the largest metadata file read (metaLimit)
}

// metaLimit is the largest metadata file of a bundle whose manifest decodes to at most
// maxManifest bytes: its JSON can escape every byte as \u00XX (6 bytes), plus the
// operations and fields. A larger file is not read at start: the store of a Tron that
// accepted an alias bomb before manifests were bounded holds a metadata file of hundreds
// of megabytes, which took gigabytes to decode at every start. Its bundle is skipped (and
// so disabled), loudly; uploading it again gives the 400 it deserves.
func metaLimit(maxManifest int64) int64 { return 8*maxManifest + 1<<20 }

// openStore opens (creating it when missing) the store in dir and returns the metadata of
// every bundle in it; metadata files over maxMeta bytes are skipped.
func openStore(dir string, maxMeta int64, log *slog.Logger) (*store, []bundleMeta, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating bundle store %s: %w", dir, err)
	}
	if err := removeTemps(dir); err != nil {
		return nil, nil, err
	}
	s := &store{dir: dir, log: log, maxMeta: maxMeta}
	metas, err := s.load()
	if err != nil {
		return nil, nil, err
	}
	return s, metas, nil
}

func (s *store) load() ([]bundleMeta, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("reading bundle store: %w", err)
	}
	var metas []bundleMeta
	for _, e := range entries {
		name := e.Name()
		sha, ok := strings.CutSuffix(name, metaExt)
		if !ok || !isSHA(sha) {
			continue
		}
		m, err := s.readMeta(sha)
		if err == nil {
			_, err = os.Stat(s.blobPath(sha))
		}
		if err != nil {
			// Disk damage: keep serving the other bundles, and say loudly what is lost.
			s.log.Error("skipping a damaged bundle of the store", "sha", sha, "err", err)
			continue
		}
		metas = append(metas, m)
	}
	for _, e := range entries {
		sha, ok := strings.CutSuffix(e.Name(), blobExt)
		if !ok || !isSHA(sha) {
			continue
		}
		if _, err := os.Stat(s.metaPath(sha)); errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("removing a bundle file without metadata (an interrupted upload or delete)", "sha", sha)
			if err := os.Remove(s.blobPath(sha)); err != nil {
				return nil, fmt.Errorf("removing orphan bundle %s: %w", sha, err)
			}
		}
	}
	return metas, nil
}

func (s *store) readMeta(sha string) (bundleMeta, error) {
	var m bundleMeta
	if fi, err := os.Stat(s.metaPath(sha)); err == nil && fi.Size() > s.maxMeta {
		return m, fmt.Errorf("metadata of %s is %d bytes, over the %d a manifest of --max-manifest-bytes makes; not read", sha, fi.Size(), s.maxMeta)
	}
	b, err := os.ReadFile(s.metaPath(sha))
	if err != nil {
		return m, fmt.Errorf("reading metadata of %s: %w", sha, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decoding metadata of %s: %w", sha, err)
	}
	if m.SHA != sha {
		return m, fmt.Errorf("metadata file of %s names sha %q", sha, m.SHA)
	}
	return m, nil
}

func (s *store) blobPath(sha string) string { return filepath.Join(s.dir, sha+blobExt) }
func (s *store) metaPath(sha string) string { return filepath.Join(s.dir, sha+metaExt) }

// put stores data (whose sha is m.SHA) and its metadata, durably.
func (s *store) put(data []byte, m bundleMeta) error {
	err := writeAtomic(s.blobPath(m.SHA), 0o600, func(w io.Writer) error {
		// One frame that records its content size: its window is then no larger than the
		// bundle, which get's memory bound (size + 1 MiB) relies on. A streaming encoder
		// would declare its default 8 MiB window and fail that bound for bundles over 1 MiB.
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return err
		}
		defer enc.Close()
		_, err = w.Write(enc.EncodeAll(data, make([]byte, 0, len(data)/2)))
		return err
	})
	if err != nil {
		return fmt.Errorf("storing bundle %s: %w", m.SHA, err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding metadata of %s: %w", m.SHA, err)
	}
	if err := writeFileAtomic(s.metaPath(m.SHA), b, 0o600); err != nil {
		return fmt.Errorf("storing metadata of %s: %w", m.SHA, err)
	}
	return nil
}

// get returns the bundle sha of size bytes, after checking that its sha matches.
func (s *store) get(sha string, size int64) ([]byte, error) {
	f, err := os.Open(s.blobPath(sha))
	if err != nil {
		return nil, fmt.Errorf("opening bundle %s: %w", sha, err)
	}
	defer f.Close()
	dec, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(size)+1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading bundle %s: %w", sha, err)
	}
	defer dec.Close()
	var buf bytes.Buffer
	buf.Grow(int(size))
	if _, err := io.Copy(&buf, io.LimitReader(dec, size+1)); err != nil {
		return nil, fmt.Errorf("bundle %s: %w: %v", sha, ErrCorrupt, err)
	}
	if shaOf(buf.Bytes()) != sha {
		return nil, fmt.Errorf("bundle %s: %w: content does not match its sha", sha, ErrCorrupt)
	}
	return buf.Bytes(), nil
}

// remove deletes a bundle: metadata first, so a crash in between leaves an orphan file that
// the next start removes, never metadata without its bundle.
func (s *store) remove(sha string) error {
	if err := os.Remove(s.metaPath(sha)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing metadata of %s: %w", sha, err)
	}
	if err := os.Remove(s.blobPath(sha)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing bundle %s: %w", sha, err)
	}
	return syncDir(s.dir)
}

// shaOf is the bundle id of data: the lowercase hex SHA-256 of the whole file.
func shaOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// isSHA tells whether s is a bundle id: 64 lowercase hex digits (and so a safe file name).
func isSHA(s string) bool { return len(s) == 64 && isHex(s) }
