// Reading /proc: the process tree under this program, CPU time per process, memory.

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/funcatron/funcatron/internal/wait"
)

// clockTick is USER_HZ, the unit of /proc's CPU times: 100 on every Linux architecture Go
// supports in practice.
const clockTick = 100

// proc is one process as /proc showed it.
type proc struct {
	pid, ppid int
	comm      string // the executable's name, at most 15 bytes
	cmdline   string
	ticks     uint64 // utime + stime, in clock ticks
}

// processes reads every process /proc lets us see.
func processes() map[int]*proc {
	all := map[int]*proc{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if p, err := readProc(pid); err == nil {
			all[pid] = p
		}
	}
	return all
}

// readProc reads /proc/<pid>/stat and cmdline.
func readProc(pid int) (*proc, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	// The comm is in parentheses and may hold spaces or parentheses itself.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return nil, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 13 {
		return nil, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	ppid, _ := strconv.Atoi(f[1])
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return &proc{pid: pid, ppid: ppid, comm: string(b[open+1 : end]),
		cmdline: strings.TrimSpace(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}))), ticks: utime + stime}, nil
}

// descendants lists root and every process below it.
func descendants(all map[int]*proc, root int) []*proc {
	children := map[int][]*proc{}
	for _, p := range all {
		children[p.ppid] = append(children[p.ppid], p)
	}
	var out []*proc
	var walk func(pid int)
	walk = func(pid int) {
		if p, ok := all[pid]; ok {
			out = append(out, p)
		}
		for _, c := range children[pid] {
			walk(c.pid)
		}
	}
	walk(root)
	return out
}

// findDescendant is the pid of the first process below root whose comm is name (0: none).
func findDescendant(root int, name string) int {
	for _, p := range descendants(processes(), root) {
		if p.comm == name && p.pid != root {
			return p.pid
		}
	}
	return 0
}

// machineTicks reads the first line of /proc/stat: CPU ticks spent busy and in total,
// over all CPUs since boot.
func machineTicks() (busy, total uint64) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0
	}
	fields := strings.Fields(sc.Text())
	for i, s := range fields[1:] {
		n, _ := strconv.ParseUint(s, 10, 64)
		if i >= 8 { // guest times are already counted in user and nice
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// memKB reads one "Name:   123 kB" line of a /proc file (status: VmRSS; smaps_rollup: Pss).
func memKB(path, name string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// memory is a process's memory and that of the processes below it.
type memory struct {
	RSSKB         int64  `json:"rss_kb"`         // VmRSS of the process alone
	TreeRSSKB     int64  `json:"tree_rss_kb"`    // VmRSS summed over it and its descendants (shared pages counted once per process)
	TreePSSKB     int64  `json:"tree_pss_kb"`    // Pss summed over the same processes (shared pages split between them)
	TreeProcesses int    `json:"tree_processes"` // how many processes that sum covers
	Note          string `json:"note,omitempty"` // what was running
}

// memoryOf measures pid and its descendants.
func memoryOf(pid int, note string) memory {
	m := memory{RSSKB: memKB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS"), Note: note}
	for _, p := range descendants(processes(), pid) {
		m.TreeRSSKB += memKB(fmt.Sprintf("/proc/%d/status", p.pid), "VmRSS")
		m.TreePSSKB += memKB(fmt.Sprintf("/proc/%d/smaps_rollup", p.pid), "Pss")
		m.TreeProcesses++
	}
	return m
}

// tcpActiveOpens is the network namespace's count of TCP connections opened so far
// (/proc/net/snmp Tcp ActiveOpens): every process's, ours and other people's.
func tcpActiveOpens() uint64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "Tcp:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "ActiveOpens" && i < len(f) {
				v, _ := strconv.ParseUint(f[i], 10, 64)
				return v
			}
		}
	}
	return 0
}

// steadyRSS waits until the RSS of pid and its descendants changed by less than 1 % over
// five readings 100 ms apart; false when that did not happen within.
func steadyRSS(pid int, within time.Duration) bool {
	var last []int64
	var at time.Time
	return wait.Until(within, func() bool {
		if time.Since(at) < 100*time.Millisecond {
			return false
		}
		at = time.Now()
		if last = append(last, memoryOf(pid, "").TreeRSSKB); len(last) > 5 {
			last = last[1:]
		}
		lo, hi := slices.Min(last), slices.Max(last)
		return len(last) == 5 && hi-lo <= hi/100
	})
}
