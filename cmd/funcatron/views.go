// This file holds the commands that show the catalogue: ls and routes, as aligned tables
// or, with --json, as the Tron answered.

package main

import (
	"encoding/json"
	"strconv"
)

func (c *client) ls(asJSON bool) error {
	list, err := c.knownBundles()
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.out, list)
	}
	t := newTable(c.out, "TITLE", "VERSION", "SHA", "KIND", "ROUTE", "STATE", "UPLOADED", "SIZE")
	for _, b := range list {
		t.row(b.Title, b.Version, shortSHA(b.SHA), b.Type, routeName(b.Host, b.Path), state(b.Enabled),
			formatTime(b.UploadedAt), formatBytes(b.Size))
	}
	return t.flush()
}

func state(enabled bool) string {
	if enabled {
		return "enabled"
	}
	return "disabled"
}

// routeEntry is one entry of the route table (GET /api/v1/routes, stats' route-map).
type routeEntry struct {
	Host  string `json:"host"`
	Path  string `json:"path"`
	Queue string `json:"queue"`
	SHA   string `json:"sha"`
}

func (c *client) routes(asJSON bool) error {
	var raw json.RawMessage
	if err := c.getJSON("/api/v1/routes", &raw); err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.out, raw)
	}
	var routes []routeEntry
	if err := decodeAnswer(raw, &routes); err != nil {
		return err
	}
	names := c.bundleNames()
	t := newTable(c.out, "ROUTE", "BUNDLE", "QUEUE")
	for _, r := range routes {
		t.row(routeName(r.Host, r.Path), names.of(r.SHA), r.Queue)
	}
	return t.flush()
}

// bundleNames maps shas to "title version (sha12)", best effort: a sha not found shows as
// its 12 digits.
type bundleNames map[string]string

func (c *client) bundleNames() bundleNames {
	names := bundleNames{}
	list, _ := c.knownBundles()
	for _, b := range list {
		names[b.SHA] = b.name()
	}
	return names
}

func (n bundleNames) of(sha string) string {
	if s, ok := n[sha]; ok {
		return s
	}
	return shortSHA(sha)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
