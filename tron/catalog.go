// This file is the catalogue of stored bundles: upload, download, delete and listing.

package tron

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/funcatron/funcatron/bundles"
)

// Operation is one operation of a bundle: a method on a path template, with its operationId.
type Operation = bundles.Operation

// BundleInfo is what validation tells about a bundle.
type BundleInfo struct {
	Kind       string         // exec, gilmour, zbus
	Host       string         // "" = any host
	BasePath   string         // starts with "/"
	Operations []Operation    // sorted by path, then method
	Manifest   map[string]any // the Swagger/OpenAPI document
}

// Inspector validates a bundle file, returning what the Tron needs of it, or an error whose
// text names the problem for a person ("funcatron.yaml: line 4: ...").
type Inspector func(data []byte) (*BundleInfo, error)

// addBundle validates and stores an uploaded bundle. Uploading the same bytes again returns
// the stored bundle (created false) without validating it again; its file is rewritten,
// which repairs a stored copy that was damaged on disk.
func (t *Tron) addBundle(ctx context.Context, data []byte) (meta bundleMeta, created bool, err error) {
	if len(data) == 0 {
		return meta, false, newAPIError(http.StatusBadRequest, "must post a Func bundle file (the zip as the raw request body)")
	}
	sha := shaOf(data)
	if m, ok := t.lookup(sha); ok {
		if err := t.store.put(data, m); err != nil {
			t.log.Error("rewriting a stored bundle", "sha", sha, "err", err)
		}
		return m, false, nil
	}
	info, err := t.opts.Inspect(data)
	if err != nil {
		return meta, false, newAPIError(http.StatusBadRequest, "%s", strings.TrimSpace(err.Error()))
	}
	meta = bundleMeta{
		SHA: sha, Kind: info.Kind, Host: info.Host, BasePath: info.BasePath, Operations: info.Operations,
		Manifest: info.Manifest, Size: int64(len(data)), UploadedAt: time.Now().UnixMilli(),
	}
	if meta.Operations == nil {
		meta.Operations = []Operation{}
	}
	// Writing happens outside ctl (a big bundle takes a while); the store's files are named
	// by content, so two uploads of the same bytes write the same files.
	if err := t.store.put(data, meta); err != nil {
		t.log.Error("storing a bundle", "sha", sha, "err", err)
		return meta, false, newAPIError(http.StatusInternalServerError, "could not store the bundle")
	}
	t.ctl.Lock()
	t.mu.Lock()
	if m, ok := t.bundles[sha]; ok { // a concurrent upload of the same bytes won
		meta = m
	} else {
		t.bundles[sha] = meta
		created = true
	}
	t.mu.Unlock()
	t.ctl.Unlock()
	if created {
		t.log.Info("bundle uploaded", "sha", sha, "type", meta.Kind, "host", meta.Host, "path", meta.BasePath, "bytes", meta.Size)
		t.publish(ctx, Event{Key: "bundle.uploaded." + sha, SHA: sha, Host: meta.Host, Path: meta.BasePath})
	}
	return meta, created, nil
}

func (t *Tron) lookup(sha string) (bundleMeta, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.bundles[sha]
	return m, ok
}

// bundleBytes returns the exact uploaded bytes of bundle sha, verified against its sha.
func (t *Tron) bundleBytes(sha string) ([]byte, error) {
	m, ok := t.lookup(sha)
	if !ok {
		return nil, newAPIError(http.StatusNotFound, "no Func bundle with sha %s", sha)
	}
	data, err := t.store.get(sha, m.Size)
	if err != nil {
		t.log.Error("reading a stored bundle", "sha", sha, "err", err)
		if errors.Is(err, ErrCorrupt) {
			return nil, newAPIError(http.StatusInternalServerError, "the stored copy of bundle %s is corrupt; upload it again", sha)
		}
		return nil, newAPIError(http.StatusInternalServerError, "could not read bundle %s", sha)
	}
	return data, nil
}

// deleteBundle removes a bundle that is not enabled.
func (t *Tron) deleteBundle(ctx context.Context, sha string) error {
	t.ctl.Lock()
	defer t.ctl.Unlock()
	t.mu.Lock()
	_, ok := t.bundles[sha]
	enabled := t.state.find(sha) >= 0
	t.mu.Unlock()
	switch {
	case !ok:
		return newAPIError(http.StatusNotFound, "no Func bundle with sha %s", sha)
	case enabled:
		return newAPIError(http.StatusConflict, "Func bundle %s is enabled; disable it first", sha)
	}
	if err := t.store.remove(sha); err != nil {
		t.log.Error("deleting a bundle", "sha", sha, "err", err)
		return newAPIError(http.StatusInternalServerError, "could not delete bundle %s", sha)
	}
	t.mu.Lock()
	delete(t.bundles, sha)
	t.mu.Unlock()
	t.log.Info("bundle deleted", "sha", sha)
	t.publish(ctx, Event{Key: "bundle.deleted." + sha, SHA: sha})
	return nil
}

// knownBundle is one entry of GET /api/v1/known_funcs.
type knownBundle struct {
	SHA        string `json:"sha"`
	Host       string `json:"host"`
	Path       string `json:"path"`
	Type       string `json:"type"`
	Title      string `json:"title"`   // the manifest's info.title
	Version    string `json:"version"` // the manifest's info.version
	Enabled    bool   `json:"enabled"`
	UploadedAt int64  `json:"uploaded-at"` // epoch milliseconds
	Size       int64  `json:"size"`
}

// knownBundles lists the stored bundles, oldest upload first.
func (t *Tron) knownBundles() []knownBundle {
	t.mu.Lock()
	out := make([]knownBundle, 0, len(t.bundles))
	for _, m := range t.bundles {
		title, version := m.info()
		out = append(out, knownBundle{
			SHA: m.SHA, Host: m.Host, Path: m.BasePath, Type: m.Kind, Title: title, Version: version,
			Enabled:    t.state.find(m.SHA) >= 0,
			UploadedAt: m.UploadedAt, Size: m.Size,
		})
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b knownBundle) int {
		if a.UploadedAt != b.UploadedAt {
			return compareSeq(uint64(a.UploadedAt), uint64(b.UploadedAt))
		}
		return strings.Compare(a.SHA, b.SHA)
	})
	return out
}

// info returns the manifest's info.title and info.version ("" when absent), so people can
// name bundles by title rather than by sha.
func (m bundleMeta) info() (title, version string) {
	info, _ := m.Manifest["info"].(map[string]any)
	title, _ = info["title"].(string)
	switch v := info["version"].(type) {
	case string:
		version = v
	case nil:
	default: // a YAML `version: 1.0` decodes as a number
		version = fmt.Sprint(v)
	}
	return title, version
}
