// This file resolves the bundle a user names: a full sha, or a unique prefix of at least
// minSHAPrefix hex digits (spec/tron-api.md "Bundles by name").

package tron

import (
	"net/http"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"
)

// minSHAPrefix is the shortest sha prefix a route accepts: 8 hex digits (32 bits) make an
// accidental match between a handful of bundles very unlikely, as git's short hashes do.
const minSHAPrefix = 8

// resolveSHA returns the full sha of the bundle s names: 64 hex digits (any case), or a
// prefix of at least 8 that exactly one stored bundle has. A full sha is returned as is
// (the caller answers 404 when it is unknown); a prefix no bundle has is 404, one several
// have is 409 naming them, anything else 400.
func (t *Tron) resolveSHA(s string) (string, error) {
	if sha, err := cleanSHA(s); err == nil || s == "" {
		return sha, err
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) < minSHAPrefix || len(s) > 64 || !isHex(s) {
		return "", newAPIError(http.StatusBadRequest,
			"sha %q: want the 64 hex digits of the bundle's SHA-256, or a unique prefix of at least %d", s, minSHAPrefix)
	}
	matches := t.shasWithPrefix(s)
	switch len(matches) {
	case 0:
		return "", newAPIError(http.StatusNotFound, "could not find Func bundle with sha %s", s)
	case 1:
		return matches[0], nil
	}
	return "", newAPIError(http.StatusConflict, "sha prefix %s matches %d bundles: %s; give more digits",
		s, len(matches), strings.Join(matches, ", "))
}

// shasWithPrefix lists the stored bundles whose sha starts with prefix, sorted.
func (t *Tron) shasWithPrefix(prefix string) []string {
	t.mu.Lock()
	var out []string
	for sha := range t.bundles {
		if strings.HasPrefix(sha, prefix) {
			out = append(out, sha)
		}
	}
	t.mu.Unlock()
	slices.Sort(out)
	return out
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// pathSHA resolves the sha (or prefix) at the end of a bundle route's path; when it names
// no bundle it has answered the error and returns false.
func (t *Tron) pathSHA(ctx *fasthttp.RequestCtx) (string, bool) {
	name := strings.TrimPrefix(string(ctx.Path()), bundlePrefix)
	if name == "" {
		writeError(ctx, http.StatusNotFound, "no bundle sha in the path: want "+bundlePrefix+"{sha}")
		return "", false
	}
	sha, err := t.resolveSHA(name)
	if err != nil {
		t.writeErr(ctx, err)
		return "", false
	}
	return sha, true
}
