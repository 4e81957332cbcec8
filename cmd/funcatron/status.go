// This file is `funcatron status`: bundles, routes with their request rates, and nodes, in
// aligned tables, from two samples of GET /api/v1/stats taken --interval apart.

package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// statsAnswer is the part of GET /api/v1/stats status shows.
type statsAnswer struct {
	Network map[string]struct {
		Type       string `json:"type"`
		InstanceID string `json:"instance-id"`
		LastSeen   int64  `json:"last-seen"`
		Version    string `json:"version"`
	} `json:"network"`
	RouteMap []routeEntry           `json:"route-map"`
	Routes   map[string]routeCounts `json:"routes"`
}

// routeCounts are one route queue's counters, summed over the runners.
type routeCounts struct {
	Count    int64 `json:"count"`
	Errors   int64 `json:"errors"`
	Inflight int64 `json:"inflight"`
	TotalMS  int64 `json:"total-ms"`
}

func (c *client) status(interval time.Duration, asJSON bool) error {
	var before, after statsAnswer
	if err := c.getJSON("/api/v1/stats", &before); err != nil {
		return err
	}
	after = before
	if interval > 0 {
		time.Sleep(interval) // the sampling window of the rates
		if err := c.getJSON("/api/v1/stats", &after); err != nil {
			return err
		}
	}
	list, err := c.knownBundles()
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(c.out, map[string]any{"bundles": list, "stats": after})
	}
	return c.printStatus(list, before, after, interval)
}

func (c *client) printStatus(list []bundleInfo, before, after statsAnswer, interval time.Duration) error {
	names := bundleNames{}
	fmt.Fprintln(c.out, "BUNDLES")
	t := newTable(c.out, "TITLE", "VERSION", "SHA", "KIND", "ROUTE", "STATE")
	for _, b := range list {
		names[b.SHA] = b.name()
		t.row(b.Title, b.Version, shortSHA(b.SHA), b.Type, routeName(b.Host, b.Path), state(b.Enabled))
	}
	t.flush()
	fmt.Fprintf(c.out, "\nROUTES (rates over %s)\n", interval)
	t = newTable(c.out, "ROUTE", "BUNDLE", "REQ/S", "ERR/S", "AVG MS", "INFLIGHT", "TOTAL", "ERRORS")
	for _, r := range after.RouteMap {
		now, was := after.Routes[r.Queue], before.Routes[r.Queue]
		t.row(routeName(r.Host, r.Path), names.of(r.SHA), rate(now.Count-was.Count, interval),
			rate(now.Errors-was.Errors, interval), avgMS(now, was), itoa(now.Inflight), itoa(now.Count), itoa(now.Errors))
	}
	t.flush()
	fmt.Fprintln(c.out, "\nNODES")
	t = newTable(c.out, "TYPE", "INBOX", "INSTANCE", "VERSION", "LAST SEEN")
	for _, inbox := range sortedNodes(after) {
		n := after.Network[inbox]
		t.row(n.Type, inbox, n.InstanceID, n.Version, formatTime(n.LastSeen))
	}
	return t.flush()
}

// rate is n per second over interval ("-" without an interval).
func rate(n int64, interval time.Duration) string {
	if interval <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(n)/interval.Seconds())
}

// avgMS is the mean latency of the requests in the window, else over every request seen.
func avgMS(now, was routeCounts) string {
	n, ms := now.Count-was.Count, now.TotalMS-was.TotalMS
	if n <= 0 {
		n, ms = now.Count, now.TotalMS
	}
	if n <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(ms)/float64(n))
}

// sortedNodes lists the inboxes by type, then inbox.
func sortedNodes(s statsAnswer) []string {
	var out []string
	for inbox := range s.Network {
		out = append(out, inbox)
	}
	slices.SortFunc(out, func(a, b string) int {
		if c := strings.Compare(s.Network[a].Type, s.Network[b].Type); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return out
}
