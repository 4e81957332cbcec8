package main

import (
	"os"
	"strings"
	"testing"
)

func TestShares(t *testing.T) {
	self := []byte(`# Samples: 381  of event 'cpu-clock:ppp'
    10.76%  [k] finish_task_switch.isra.0                          -      -
     8.14%  [.] encoding/json.checkValid                           -      -
     3.94%  [.] encoding/base64.(*Encoding).Decode
`)
	got := shares(self, selfLine, 10)
	want := []fnShare{{10.76, "[kernel] finish_task_switch.isra.0"}, {8.14, "encoding/json.checkValid"},
		{3.94, "encoding/base64.(*Encoding).Decode"}}
	if len(got) != len(want) {
		t.Fatalf("shares = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("shares[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	cum := shares([]byte("    45.10%     0.20%  [.] runtime.goexit   -   -\n"), childrenLine, 10)
	if len(cum) != 1 || cum[0] != (fnShare{45.10, "runtime.goexit"}) {
		t.Errorf("cumulative shares = %v", cum)
	}
}

func TestWrkScript(t *testing.T) {
	tests := []struct {
		name string
		size int
		want []string
	}{
		{"get", -1, []string{"function done"}},
		{"post", 1024, []string{`wrk.method = "POST"`, `string.rep("x", 1024)`, "function done"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := wrkScript(tt.size)
			for _, w := range tt.want {
				if !strings.Contains(s, w) {
					t.Errorf("script lacks %q:\n%s", w, s)
				}
			}
			if tt.size < 0 && strings.Contains(s, "wrk.method") {
				t.Errorf("GET script sets a method:\n%s", s)
			}
		})
	}
}

func TestReadProcSelf(t *testing.T) {
	p, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.ppid != os.Getppid() {
		t.Errorf("ppid = %d, want %d", p.ppid, os.Getppid())
	}
	if m := memoryOf(os.Getpid(), ""); m.RSSKB <= 0 || m.TreeProcesses < 1 {
		t.Errorf("memoryOf(self) = %+v", m)
	}
}

func TestErrorsText(t *testing.T) {
	if got := errorsText(&wrkResult{Requests: 10}); got != "none" {
		t.Errorf("no errors: %q", got)
	}
	got := errorsText(&wrkResult{Requests: 10, Status: 3, Timeout: 1})
	if !strings.Contains(got, "3 answers ≥ 400") || !strings.Contains(got, "1 timeouts") {
		t.Errorf("errors: %q", got)
	}
}

func TestRolesGroup(t *testing.T) {
	r := roles{self: 1, tron: 2, runners: map[int]bool{3: true, 4: true}, frontends: map[int]bool{5: true, 6: true},
		directMaster: 7, directFn: 8}
	all := map[int]*proc{1: {pid: 1}, 2: {pid: 2, ppid: 1}, 3: {pid: 3, ppid: 1}, 4: {pid: 4, ppid: 1},
		5: {pid: 5, ppid: 1}, 6: {pid: 6, ppid: 1}, 7: {pid: 7, ppid: 1}, 8: {pid: 8, ppid: 1},
		30: {pid: 30, ppid: 3}, 40: {pid: 40, ppid: 4}, 41: {pid: 41, ppid: 40}, 60: {pid: 60, ppid: 6},
		70: {pid: 70, ppid: 7}, 90: {pid: 90, ppid: 1, comm: "beam.smp"}, 91: {pid: 91, ppid: 90}, 99: {pid: 99, ppid: 1}}
	want := map[int]string{1: "bench", 2: "tron", 3: groupRunner, 4: groupRunner, 30: groupFunction, 41: groupFunction,
		5: groupFrontend, 60: groupFrontend, 70: "nginx direct", 8: "function (direct)", 91: groupBroker, 99: "other"}
	for pid, g := range want {
		if got := r.group(all, all[pid]); got != g {
			t.Errorf("group of %d = %q, want %q", pid, got, g)
		}
	}
}

func TestObjectShares(t *testing.T) {
	text := []byte(`# Samples: 176  of event 'cpu-clock:ppp'
#
# Overhead  Shared Object
# ........  .................
#
    60.23%  bash
    33.52%  libc.so.6
     6.25%  [kernel.kallsyms]
`)
	got := objectShares(text, 10)
	want := []fnShare{{60.23, "bash"}, {33.52, "libc.so.6"}, {6.25, "[kernel.kallsyms]"}}
	if len(got) != len(want) {
		t.Fatalf("objectShares = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("objectShares[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestAddExitedCountsWrk: wrk's CPU time (it has exited by the second snapshot) counts as
// ours, not as the rest of the machine's, and not in the per-request cost of the system.
func TestAddExitedCountsWrk(t *testing.T) {
	u := cpuUse{WallS: 10, Cores: map[string]float64{groupBroker: 0.5}, Ours: 0.5, MachineBusy: 1.5, Others: 1}
	u.addExited("wrk", 4) // 0.4 cores
	if u.Cores["wrk"] != 0.4 || u.Ours != 0.9 || u.Others != 0.6 {
		t.Errorf("after wrk: %+v", u)
	}
	if got := u.oursPerRequestUS(1000); got != 5000 { // 0.5 cores × 10 s / 1000
		t.Errorf("ours per request = %v µs, want 5000", got)
	}
}
