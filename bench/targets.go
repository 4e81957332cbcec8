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
	// Where says where the records row's time goes: its CPU per request by component and,
	// for a req/s target, the CPU budget per request that reaching it leaves.
	Where string `json:"where,omitempty"`
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
	g.Where = budgetText(f, limit*d.RPS, r.Machine.CPUs) + "; " + costText(f)
	return g
}

// budgetText says how much CPU per request the machine's cores leave at rps, against what
// the row spent (its processes and wrk's: the load shares the cores with them).
func budgetText(x *row, rps float64, cpus int) string {
	spent := x.CPUPerRequestUS["ours"] + x.CPUPerRequestUS["wrk"]
	return fmt.Sprintf("%.0f req/s on %d cores leaves %.0f µs of CPU per request, wrk's included; the row spent %.0f",
		rps, cpus, 1e6*float64(cpus)/rps, spent)
}

// costText is the row's CPU per request by component, the broker's also per message.
func costText(x *row) string {
	c := x.CPUPerRequestUS
	s := fmt.Sprintf("broker %.0f µs", c[groupBroker])
	if x.Broker != nil && x.Broker.MessagesPerRequest > 0 {
		s += fmt.Sprintf(" (%.2f messages, %.0f µs each)", x.Broker.MessagesPerRequest, c[groupBroker]/x.Broker.MessagesPerRequest)
	}
	return s + fmt.Sprintf(", nginx %.0f, runner %.0f, function %.0f, wrk %.0f", c[groupFrontend], c[groupRunner], c[groupFunction], c["wrk"])
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
	g.Where = fmt.Sprintf("p50 %.2f ms against %.2f; CPU per request: ", f.P50MS, d.P50MS) + costText(f)
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
	t := fmt.Sprintf("%s: %s (target %s %.2f %s, before issue 13: %s): %s", g.Name, v, g.Want, g.Limit, g.Unit, g.Was, status)
	if g.Where != "" {
		t += "\n    " + g.Where
	}
	return t
}
