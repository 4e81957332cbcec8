package main

import (
	"strings"
	"testing"
)

// rowsFor makes the rows the targets read: direct and records, GET and 64 KiB at 32
// connections, GET at 1.
func rowsFor(getRatio, bigRatio, p50Over float64) *results {
	r := &results{Settings: config{Conns: 32}}
	add := func(short, body string, conns int, rps, p50 float64) {
		r.Rows = append(r.Rows, row{PathShort: short, Body: body, Conns: conns, RPS: rps, P50MS: p50})
	}
	add(shortDirect, bodies[0].name, 32, 1000, 1)
	add(shortRecords, bodies[0].name, 32, 1000*getRatio, 5)
	add(shortDirect, bodies[2].name, 32, 100, 1)
	add(shortRecords, bodies[2].name, 32, 100*bigRatio, 5)
	add(shortDirect, bodies[0].name, 1, 5000, 0.2)
	add(shortRecords, bodies[0].name, 1, 1000, 0.2+p50Over)
	return r
}

func TestCheckTargets(t *testing.T) {
	tests := []struct {
		name                      string
		get, big, over            float64
		wantGet, wantBig, wantLat bool
	}{
		{"all met", 0.31, 0.41, 0.4, true, true, true},
		{"at the limits", 0.30, 0.40, 0.5, true, true, true},
		{"none met", 0.12, 0.17, 0.7, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := rowsFor(tt.get, tt.big, tt.over).checkTargets()
			if len(g) != 3 {
				t.Fatalf("%d targets, want 3", len(g))
			}
			for i, want := range []bool{tt.wantGet, tt.wantBig, tt.wantLat} {
				if g[i].Met != want || g[i].Error != "" {
					t.Errorf("%s: met %v (value %v, error %q), want %v", g[i].Name, g[i].Met, g[i].Value, g[i].Error, want)
				}
			}
		})
	}
}

func TestCheckTargetsWithoutRows(t *testing.T) {
	for _, g := range (&results{Settings: config{Conns: 32}}).checkTargets() {
		if g.Met || g.Error == "" || !strings.Contains(g.text(), "not measured") {
			t.Errorf("%s without rows: met %v, error %q, text %q", g.Name, g.Met, g.Error, g.text())
		}
	}
}

func TestFillRatiosComparesSameBodyAndConnections(t *testing.T) {
	r := rowsFor(0.25, 0.5, 1.5)
	r.fillRatios()
	if x := r.find(shortRecords, bodies[0].name, 32); x.VsDirect != 0.25 || x.P50OverDirectMS != 4 {
		t.Errorf("GET at 32: vs direct %v, p50 over %v", x.VsDirect, x.P50OverDirectMS)
	}
	if x := r.find(shortRecords, bodies[0].name, 1); x.VsDirect != 0.2 || x.P50OverDirectMS != 1.5 {
		t.Errorf("GET at 1: vs direct %v, p50 over %v", x.VsDirect, x.P50OverDirectMS)
	}
}

func TestDatedName(t *testing.T) {
	m := machine{Date: "2026-12-01T11:52:19Z", GitCommit: "cd251ed8a1f0"}
	if got := m.datedName(); got != "2026-12-01-cd251ed.json" {
		t.Errorf("datedName = %q", got)
	}
	m.GitDirty = true
	if got := m.datedName(); got != "2026-12-01-cd251ed-dirty.json" {
		t.Errorf("dirty datedName = %q", got)
	}
}
