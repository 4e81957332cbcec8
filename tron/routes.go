// This file computes the route table frontends get, and which enabled bundle owns a route.

package tron

import (
	"net"
	"slices"
	"strings"

	"github.com/funcatron/funcatron/internal/protocol"
)

// routeTable is the table sent to frontends in `route`: one entry per enabled bundle,
// longest path first, and on equal length the most recently enabled first. It carries no
// props (they may hold secrets). runners is each queue's consumer count as last seen
// (served.go); a queue it lacks gets no count.
func routeTable(enabled []enabledBundle, runners map[string]int) []protocol.RouteEntry {
	sorted := slices.Clone(enabled)
	slices.SortStableFunc(sorted, func(a, b enabledBundle) int {
		if la, lb := len(a.Path), len(b.Path); la != lb {
			return lb - la
		}
		return compareSeq(b.Seq, a.Seq)
	})
	table := make([]protocol.RouteEntry, 0, len(sorted))
	for _, e := range sorted {
		r := protocol.RouteEntry{Host: e.Host, Path: e.Path, Queue: e.Queue(), SHA: e.SHA}
		if n, ok := runners[r.Queue]; ok {
			r.Runners = &n
		}
		table = append(table, r)
	}
	return table
}

// routeKey names the route a bundle serves as a frontend sees it: the host lower-cased,
// without port, "" for any host ("*" too); the path with one leading slash and no trailing
// one. Two enabled bundles with one key would fight over the same requests.
func routeKey(host, path string) string {
	h := strings.ToLower(strings.TrimSpace(host))
	if hp, _, err := net.SplitHostPort(h); err == nil {
		h = hp
	}
	if h == "*" {
		h = ""
	}
	p := "/" + strings.Trim(path, "/")
	return h + ";" + p
}

// owner returns the enabled bundle, other than sha, that owns the route (host, path), if any.
func owner(enabled []enabledBundle, sha, host, path string) (enabledBundle, bool) {
	key := routeKey(host, path)
	for _, e := range enabled {
		if e.SHA != sha && routeKey(e.Host, e.Path) == key {
			return e, true
		}
	}
	return enabledBundle{}, false
}
