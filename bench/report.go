// The figures of one run: the table on stdout, everything in JSON.

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

type results struct {
	Machine     machine   `json:"machine"`
	Settings    config    `json:"settings"`
	Rows        []row     `json:"rows"`
	Targets     []goal    `json:"targets"`       // issue 13 item 5, from the rows
	StackStartS float64   `json:"stack_start_s"` // RabbitMQ, Tron, runner, nginx up and met
	ColdStart   coldStart `json:"cold_start"`
	Memory      []memory  `json:"memory"`
	DeployMoreS float64   `json:"deploy_more_bundles_s"` // upload + enable of bundles 2..N, 4 at a time
	Profiles    []profile `json:"profiles,omitempty"`
	Notes       []string  `json:"notes,omitempty"`
	RunS        float64   `json:"run_s"` // the whole run, start to figures
}

// row is one line of the tables.
type row struct {
	Path      string  `json:"path"`
	PathShort string  `json:"path_short"` // ceiling, direct, records, catalogue, ...
	Kind      string  `json:"kind"`       // ceiling, direct, funcatron
	Body      string  `json:"body"`
	BodySize  int     `json:"body_bytes"`  // -1: GET without a body
	Conns     int     `json:"connections"` // wrk -c (1: one request at a time, wrk -t1)
	URL       string  `json:"url"`
	RPS       float64 `json:"rps"`
	P50MS     float64 `json:"p50_ms"`
	P99MS     float64 `json:"p99_ms"`
	VsDirect  float64 `json:"vs_direct"` // req/s over the direct row's for the same body and connections
	// P50OverDirectMS is p50 minus the direct row's for the same body and connections.
	P50OverDirectMS float64    `json:"p50_over_direct_ms"`
	Errors          int64      `json:"errors"`
	Wrk             *wrkResult `json:"wrk"`
	CPU             cpuUse     `json:"cpu"`
	// CPUPerRequestUS is each process group's CPU time per request (µs), "ours" the sum
	// without wrk and this program.
	CPUPerRequestUS map[string]float64 `json:"cpu_per_request_us"`
	Broker          *brokerUse         `json:"broker,omitempty"` // Funcatron rows
}

func newRow(p *path, b body, conns int, url string, w *wrkResult, cpu cpuUse) row {
	per := map[string]float64{"ours": cpu.oursPerRequestUS(w.Requests)}
	for g := range cpu.Cores {
		per[g] = cpu.perRequestUS(g, w.Requests)
	}
	return row{Path: p.Name, PathShort: p.Short, Kind: p.Kind, Body: b.name, BodySize: b.size, Conns: conns,
		URL: url, RPS: w.RPS(), P50MS: w.P50US / 1000, P99MS: w.P99US / 1000, Errors: w.Errors(), Wrk: w,
		CPU: cpu, CPUPerRequestUS: per}
}

// fillRatios compares every row with the direct row of the same body and connections.
func (r *results) fillRatios() {
	for i := range r.Rows {
		x := &r.Rows[i]
		if d := r.find(shortDirect, x.Body, x.Conns); d != nil && d.RPS > 0 {
			x.VsDirect = x.RPS / d.RPS
			x.P50OverDirectMS = x.P50MS - d.P50MS
		}
	}
}

func (r *results) write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// print writes the tables and, below them, the other figures.
func (r *results) print(w io.Writer) {
	s := r.Settings
	m := r.Machine
	fmt.Fprintf(w, "\n%.0f s per row (after %.0f s warm-up), %d nginx workers in every row; %d CPUs (%s), %s, commit %.10s%s; the run took %.0f s\n",
		s.DurationS, s.WarmupS, s.Workers, m.CPUs, m.CPUModel, m.Date, m.GitCommit, dirty(m.GitDirty), r.RunS)
	fmt.Fprintf(w, "\nLoad: %d connections, %d wrk threads\n\n", s.Conns, s.Threads)
	r.printLoad(w, func(x row) bool { return x.Conns != 1 })
	fmt.Fprint(w, "\nOne request at a time: 1 connection, 1 wrk thread\n\n")
	r.printLoad(w, func(x row) bool { return x.Conns == 1 })
	fmt.Fprint(w, "\nBroker and CPU per request (µs of CPU time per request; nginx and function are the frontend and the bundle process on the Funcatron paths, nginx direct and the function process on the direct path)\n\n")
	r.printPerRequest(w)
	fmt.Fprintln(w, "\nTargets (issue 13; informational):")
	for _, g := range r.Targets {
		fmt.Fprintln(w, "  "+g.text())
	}
	fmt.Fprintln(w)
	c := r.ColdStart
	fmt.Fprintf(w, "cold start (add_func → first 200 through nginx): %.0f ms = upload %.0f + enable %.0f + first 200 %.0f (%d polls)\n",
		c.TotalMS, c.UploadMS, c.EnableMS, c.FirstOKMS, c.Polls)
	for _, x := range r.Memory {
		fmt.Fprintf(w, "memory, %s: runner VmRSS %.1f MiB; runner + its %d bundle processes: RSS sum %.1f MiB, PSS sum %.1f MiB\n",
			x.Note, mib(x.RSSKB), x.TreeProcesses-1, mib(x.TreeRSSKB), mib(x.TreePSSKB))
	}
	fmt.Fprintln(w, "CPU in cores (CPU-seconds per second) during each row; 'others' is the rest of the machine:")
	for _, x := range r.Rows {
		if x.Kind != kindCeiling {
			fmt.Fprintf(w, "  %s, %s, %d conn.: %s; %.2f TCP connections opened per request\n", x.PathShort, x.Body, x.Conns,
				cpuText(x.CPU), float64(x.CPU.TCPOpens)/float64(max(x.Wrk.Requests, 1)))
		}
	}
	for _, p := range r.Profiles {
		fmt.Fprintf(w, "profile of the %s (%s, %s samples), self: %s\n", p.Process, p.Run, p.Samples, topText(p.Self, 8, p.Error))
		if len(p.Objects) > 0 {
			fmt.Fprintf(w, "  by object: %s\n", topText(p.Objects, 6, ""))
		}
	}
	if opens := r.brokerConnectionsPerRequest(); opens > 0.5 {
		fmt.Fprintf(w, "note: %.2f TCP connections were opened per request during the Funcatron rows (direct rows: none): "+
			"the frontend is not reusing its pooled broker connections\n", opens)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// printLoad writes the rows that keep holds as a table.
func (r *results) printLoad(w io.Writer, keep func(row) bool) {
	fmt.Fprintln(w, "| path | body | req/s | p50 | p99 | vs direct | p50 − direct | broker msgs/req | errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, x := range r.Rows {
		if keep(x) {
			fmt.Fprintf(w, "| %s | %s | %.0f | %s | %s | %.2f | %+.2f ms | %s | %s |\n", x.Path, x.Body, x.RPS,
				msText(x.P50MS), msText(x.P99MS), x.VsDirect, x.P50OverDirectMS, messagesText(x.Broker), errorsText(x.Wrk))
		}
	}
}

// printPerRequest writes the broker's messages and every component's CPU per request of
// the direct and Funcatron rows.
func (r *results) printPerRequest(w io.Writer) {
	fmt.Fprintln(w, "| path | body | conn. | broker msgs/req (published + delivered) | acks/req | nginx | runner | broker | function | all ours |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, x := range r.Rows {
		if x.Kind == kindCeiling {
			continue
		}
		c := x.CPUPerRequestUS
		nginx, fn := c[groupFrontend], c[groupFunction]
		if x.Kind == kindDirect {
			nginx, fn = c["nginx direct"], c["function (direct)"]
		}
		acks := "–"
		if x.Broker != nil && x.Broker.Error == "" {
			acks = fmt.Sprintf("%.2f", x.Broker.AckedPerReq)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", x.PathShort, x.Body, x.Conns,
			messagesDetail(x.Broker), acks, usText(nginx), usText(c[groupRunner]), usText(c[groupBroker]), usText(fn), usText(c["ours"]))
	}
}

func messagesText(u *brokerUse) string {
	switch {
	case u == nil:
		return "–"
	case u.Error != "":
		return "?"
	}
	return fmt.Sprintf("%.2f", u.MessagesPerRequest)
}

func messagesDetail(u *brokerUse) string {
	if u == nil || u.Error != "" {
		return messagesText(u)
	}
	return fmt.Sprintf("%.2f = %.2f + %.2f", u.MessagesPerRequest, u.PublishedPerReq, u.DeliveredPerReq)
}

func usText(v float64) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f µs", v)
}

func dirty(d bool) string {
	if d {
		return " (+ uncommitted changes)"
	}
	return ""
}

func msText(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.1f ms", v)
}

func errorsText(w *wrkResult) string {
	if w.Errors() == 0 {
		return "none"
	}
	var parts []string
	for _, e := range []struct {
		n    int64
		what string
	}{{w.Status, "answers ≥ 400"}, {w.Timeout, "timeouts"}, {w.Connect, "connect errors"}, {w.Read, "read errors"}, {w.Write, "write errors"}} {
		if e.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", e.n, e.what))
		}
	}
	return fmt.Sprintf("**%s** of %d", strings.Join(parts, ", "), w.Requests)
}

func cpuText(u cpuUse) string {
	var parts []string
	for _, g := range u.groupsByCost() {
		parts = append(parts, fmt.Sprintf("%s %.2f (%.0f%%)", g, u.Cores[g], 100*u.Cores[g]/u.Ours))
	}
	return fmt.Sprintf("ours %.2f of %d = %s; others %.2f", u.Ours, u.CPUs, strings.Join(parts, ", "), u.Others)
}

func topText(fs []fnShare, n int, errText string) string {
	if errText != "" {
		return "failed: " + errText
	}
	var parts []string
	for i, f := range fs {
		if i == n {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %.1f%%", f.Func, f.Percent))
	}
	return strings.Join(parts, ", ")
}

func mib(kb int64) float64 { return float64(kb) / 1024 }

// brokerConnectionsPerRequest is the fewest TCP connections opened per request in any
// Funcatron row (wrk's own are counted too, but they are 32 per row).
func (r *results) brokerConnectionsPerRequest() float64 {
	least := -1.0
	for _, x := range r.Rows {
		if x.Kind != kindFuncatron || x.Wrk.Requests == 0 {
			continue
		}
		if v := float64(x.CPU.TCPOpens) / float64(x.Wrk.Requests); least < 0 || v < least {
			least = v
		}
	}
	return least
}
