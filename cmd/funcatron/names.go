// This file resolves the bundle a user names on the command line: a sha, a unique sha
// prefix of at least 8 hex digits (the Tron resolves those), or the bundle's title
// (info.title), optionally with @version.

package main

import (
	"fmt"
	"strings"
)

// bundleInfo is one entry of GET /api/v1/known_funcs.
type bundleInfo struct {
	SHA        string `json:"sha"`
	Host       string `json:"host"`
	Path       string `json:"path"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Version    string `json:"version"`
	Enabled    bool   `json:"enabled"`
	UploadedAt int64  `json:"uploaded-at"`
	Size       int64  `json:"size"`
}

// name is how the CLI shows a bundle: "title version (sha12)".
func (b bundleInfo) name() string {
	s := strings.TrimSpace(b.Title + " " + b.Version)
	if s == "" {
		return shortSHA(b.SHA)
	}
	return s + " (" + shortSHA(b.SHA) + ")"
}

func (c *client) knownBundles() ([]bundleInfo, error) {
	var res struct {
		Bundles []bundleInfo `json:"func-bundles"`
	}
	err := c.getJSON("/api/v1/known_funcs", &res)
	return res.Bundles, err
}

// resolve turns what the user typed into what the Tron takes: hex of 8 digits or more goes
// as is (the Tron resolves prefixes and answers 404 / 409); anything else is a title. When
// several bundles have the title, @version picks one, and preferEnabled (disable) picks
// the enabled one; otherwise the error lists them.
func (c *client) resolve(arg string, preferEnabled bool) (string, error) {
	if looksLikeSHA(arg) {
		return arg, nil
	}
	list, err := c.knownBundles()
	if err != nil {
		return "", err
	}
	title, version, _ := strings.Cut(arg, "@")
	var found []bundleInfo
	for _, b := range list {
		if b.Title == title && (version == "" || b.Version == version) {
			found = append(found, b)
		}
	}
	if len(found) > 1 && preferEnabled {
		found = enabledOnly(found)
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no bundle has the sha or title %q (funcatron ls lists them; a sha prefix needs at least 8 hex digits)", arg)
	case 1:
		return found[0].SHA, nil
	}
	return "", ambiguousTitle(arg, found)
}

func ambiguousTitle(arg string, found []bundleInfo) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d bundles are titled %q; name one by title@version or by sha prefix:", len(found), arg)
	for _, f := range found {
		fmt.Fprintf(&b, "\n  %s@%s  %s  uploaded %s", f.Title, f.Version, shortSHA(f.SHA), formatTime(f.UploadedAt))
	}
	return fmt.Errorf("%s", b.String())
}

func enabledOnly(list []bundleInfo) []bundleInfo {
	var out []bundleInfo
	for _, b := range list {
		if b.Enabled {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return list
	}
	return out
}

// looksLikeSHA: at least 8 hex digits, nothing else (a title that is all hex digits has to
// be named by its sha).
func looksLikeSHA(s string) bool {
	if len(s) < 8 {
		return false
	}
	for _, r := range strings.ToLower(s) {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// shortSHA is the 12 first digits: what ls shows and what every command takes back.
func shortSHA(sha string) string { return sha[:min(12, len(sha))] }
