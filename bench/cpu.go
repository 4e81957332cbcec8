// Where the CPU goes during a load run: CPU time of every process this program started,
// grouped by role, and the machine's busy time (the rest is other people's work).

package main

import (
	"os"
	"sort"
	"time"
)

// rabbitComms are the executables of a RabbitMQ node (rabbitmq-server execs the Erlang VM).
var rabbitComms = map[string]bool{
	"rabbitmq-server": true, "beam.smp": true, "erl_child_setup": true, "inet_gethost": true, "epmd": true,
}

// Groups of processes, the components of the CPU table.
const (
	groupFrontend = "nginx frontend"          // every frontend's master and workers
	groupRunner   = "runner"                  // the runner processes themselves
	groupFunction = "function (under runner)" // the bundle processes the runners start
	groupBroker   = "rabbitmq"                // every broker node's processes
)

// roles knows the processes that root each group. Runners and frontends are sets: the
// main stack has one runner and two frontends, another stack (moreStacks) adds its own.
type roles struct {
	self         int // this program
	tron         int
	runners      map[int]bool
	frontends    map[int]bool // nginx masters of the frontends
	directMaster int          // the ceiling / direct nginx master
	directFn     int          // the function process the direct nginx proxies to
}

// group names p's group by p itself, then by its nearest ancestor with a role.
func (r roles) group(all map[int]*proc, p *proc) string {
	switch {
	case p.pid == r.self:
		return "bench"
	case r.runners[p.pid]:
		return groupRunner
	case p.pid == r.directFn:
		return "function (direct)"
	case p.comm == "wrk":
		return "wrk"
	}
	for q := p; q != nil && q.pid != r.self; q = all[q.ppid] {
		switch {
		case r.runners[q.pid]:
			return groupFunction
		case r.frontends[q.pid]:
			return groupFrontend
		case q.pid == r.directMaster:
			return "nginx direct"
		case q.pid == r.tron:
			return "tron"
		case rabbitComms[q.comm]:
			return groupBroker
		}
	}
	return "other"
}

// cpuSnapshot is the CPU time of our processes and of the machine at one moment.
type cpuSnapshot struct {
	at          time.Time
	ticks       map[int]uint64
	group       map[int]string
	busy, total uint64
	tcpOpens    uint64
}

func takeCPU(r roles) cpuSnapshot {
	all := processes()
	s := cpuSnapshot{at: time.Now(), ticks: map[int]uint64{}, group: map[int]string{}}
	for _, p := range descendants(all, r.self) {
		s.ticks[p.pid] = p.ticks
		s.group[p.pid] = r.group(all, p)
	}
	s.busy, s.total = machineTicks()
	s.tcpOpens = tcpActiveOpens()
	return s
}

// cpuUse is what a run cost, in cores (CPU seconds per wall second).
type cpuUse struct {
	WallS float64            `json:"wall_s"`
	Cores map[string]float64 `json:"cores"` // per group
	// Ours is the sum over our processes; MachineBusy is the whole machine's busy time
	// (/proc/stat); Others is the difference: other people's processes, and kernel work
	// (softirq) not charged to any of ours.
	Ours        float64 `json:"ours_cores"`
	MachineBusy float64 `json:"machine_busy_cores"`
	Others      float64 `json:"others_cores"`
	CPUs        int     `json:"cpus"`
	// TCPOpens is how many TCP connections were opened on the machine during the run
	// (wrk's own, a new broker connection per request, and other people's).
	TCPOpens uint64 `json:"tcp_connections_opened"`
}

func cpuBetween(a, b cpuSnapshot, cpus int) cpuUse {
	wall := b.at.Sub(a.at).Seconds()
	u := cpuUse{WallS: wall, Cores: map[string]float64{}, CPUs: cpus}
	for pid, t := range b.ticks {
		before, ok := a.ticks[pid]
		if !ok || t < before {
			before = 0 // started during the run
		}
		c := float64(t-before) / clockTick / wall
		u.Cores[b.group[pid]] += c
		u.Ours += c
	}
	if b.total > a.total {
		u.MachineBusy = float64(b.busy-a.busy) / float64(b.total-a.total) * float64(cpus)
	}
	u.Others = max(u.MachineBusy-u.Ours, 0)
	u.TCPOpens = b.tcpOpens - a.tcpOpens
	for g, c := range u.Cores {
		if c < 0.005 {
			delete(u.Cores, g)
		}
	}
	return u
}

// addExited counts the CPU time (s) of a process that ended before the second snapshot,
// as group (wrk: its CPU time from wait4).
func (u *cpuUse) addExited(group string, cpuS float64) {
	if u.WallS <= 0 || cpuS <= 0 {
		return
	}
	c := cpuS / u.WallS
	u.Cores[group] += c
	u.Ours += c
	u.Others = max(u.MachineBusy-u.Ours, 0)
}

// perRequestUS is group's CPU time per request, in µs.
func (u cpuUse) perRequestUS(group string, requests int64) float64 {
	if requests <= 0 {
		return 0
	}
	return u.Cores[group] * u.WallS / float64(requests) * 1e6
}

// oursPerRequestUS is the CPU time of all our processes but wrk and this program per
// request, in µs.
func (u cpuUse) oursPerRequestUS(requests int64) float64 {
	if requests <= 0 {
		return 0
	}
	return (u.Ours - u.Cores["wrk"] - u.Cores["bench"]) * u.WallS / float64(requests) * 1e6
}

// groupsByCost lists the groups of u, costliest first.
func (u cpuUse) groupsByCost() []string {
	var gs []string
	for g := range u.Cores {
		gs = append(gs, g)
	}
	sort.Slice(gs, func(i, j int) bool { return u.Cores[gs[i]] > u.Cores[gs[j]] })
	return gs
}

var selfPID = os.Getpid()
