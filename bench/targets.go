// The targets of issue 13 item 5, computed from one run's rows: informational, met or not
// met; the bench never fails on them.

package main

import "fmt"

// goal is one target check.
type goal struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"` // what this run measured
	Limit float64 `json:"limit"`
	Want  string  `json:"want"`            // "≥" or "≤": Value against Limit
	Unit  string  `json:"unit"`            // "× direct" or "ms"
	Was   string  `json:"was"`             // the figure before issue 13
	Met   bool    `json:"met"`             // false too when a row is missing
	Error string  `json:"error,omitempty"` // the rows it needs are missing
}

// checkTargets compares the records path (batching on) with the direct path: req/s for an
// empty GET and for a 64 KiB POST at the load rows' connections, and p50 of an empty GET
// one request at a time.
func (r *results) checkTargets() []goal {
	conns := r.Settings.Conns
	return []goal{
		r.ratioGoal("Funcatron GET req/s / direct GET req/s", bodies[0].name, conns, 0.30, "0.10–0.13"),
		r.ratioGoal("Funcatron 64 KiB req/s / direct 64 KiB req/s", bodies[2].name, conns, 0.40, "0.16–0.18"),
		r.latencyGoal("Funcatron GET p50 − direct GET p50, one request at a time", bodies[0].name, 0.5, "+0.7"),
	}
}

func (r *results) ratioGoal(name, body string, conns int, limit float64, was string) goal {
	g := goal{Name: name, Limit: limit, Want: "≥", Unit: "× direct", Was: was}
	f, d := r.find(shortRecords, body, conns), r.find(shortDirect, body, conns)
	if f == nil || d == nil || d.RPS == 0 {
		g.Error = fmt.Sprintf("no records and direct rows for %s at %d connections", body, conns)
		return g
	}
	g.Value = f.RPS / d.RPS
	g.Met = g.Value >= limit
	return g
}

func (r *results) latencyGoal(name, body string, limit float64, was string) goal {
	g := goal{Name: name, Limit: limit, Want: "≤", Unit: "ms", Was: was}
	f, d := r.find(shortRecords, body, 1), r.find(shortDirect, body, 1)
	if f == nil || d == nil {
		g.Error = fmt.Sprintf("no records and direct rows for %s at 1 connection", body)
		return g
	}
	g.Value = f.P50MS - d.P50MS
	g.Met = g.Value <= limit
	return g
}

// find is the row of path short for body at conns connections (nil: none).
func (r *results) find(short, body string, conns int) *row {
	for i := range r.Rows {
		if x := &r.Rows[i]; x.PathShort == short && x.Body == body && x.Conns == conns {
			return x
		}
	}
	return nil
}

func (g goal) text() string {
	status := "met"
	switch {
	case g.Error != "":
		return fmt.Sprintf("%s: not measured (%s)", g.Name, g.Error)
	case !g.Met:
		status = "NOT MET"
	}
	v := fmt.Sprintf("%.2f", g.Value)
	if g.Unit == "ms" {
		v = fmt.Sprintf("%+.2f ms", g.Value)
	}
	return fmt.Sprintf("%s: %s (target %s %.2f %s, before issue 13: %s): %s", g.Name, v, g.Want, g.Limit, g.Unit, g.Was, status)
}
