// A CPU profile of one process with Linux perf (sampling, user space; Go binaries keep
// their symbols and frame pointers, so both self and cumulative shares come out).
// Optional: without perf, or without the right to use it, the bench goes on without.

package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// fnShare is a function's share of the samples.
type fnShare struct {
	Percent float64 `json:"percent"`
	Func    string  `json:"func"`
}

// profile is what perf found in one process.
type profile struct {
	Process    string    `json:"process"`
	Run        string    `json:"run"` // the load while sampling
	Samples    string    `json:"samples"`
	Self       []fnShare `json:"self"`       // time in the function itself
	Cumulative []fnShare `json:"cumulative"` // time in the function and what it calls
	// Objects is the time per executable or shared library ([kernel.kallsyms], nginx,
	// libluajit-5.1.so.2, ...): where the symbols of Self are unresolved addresses (LuaJIT,
	// stripped libraries), it still says whose they are.
	Objects []fnShare `json:"objects"`
	Error   string    `json:"error,omitempty"`
}

var (
	// "  8.14%  [.] encoding/json.checkValid   -  -": perf may add IPC columns ("-") after the symbol.
	selfLine     = regexp.MustCompile(`^\s*([\d.]+)%\s+\[([.k])\]\s+(.+?)(?:\s+-\s+-)?\s*$`)
	childrenLine = regexp.MustCompile(`^\s*([\d.]+)%\s+[\d.]+%\s+\[([.k])\]\s+(.+?)(?:\s+-\s+-)?\s*$`)
	samplesLine  = regexp.MustCompile(`(?m)^# Samples: (\S+)`)
	// "    33.52%  libc.so.6": a line of --sort dso.
	objectLine = regexp.MustCompile(`^\s*([\d.]+)%\s+(\S.*?)\s*$`)
)

// perfRecord samples the processes pids (comma-separated) for d into out (a perf.data file).
func perfRecord(pids string, d time.Duration, out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "perf", "record", "-F", "499", "-g", "-p", pids, "-o", out,
		"--", "sleep", strconv.Itoa(max(int(d/time.Second), 1)))
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("perf record: %v: %.300s", err, b)
	}
	return nil
}

// perfReport reads the top functions of a perf.data file.
func perfReport(data, process string) profile {
	p := profile{Process: process}
	self, err := perfText(data, "symbol", "--no-children", "--percent-limit", "0.7")
	if err != nil {
		p.Error = err.Error()
		return p
	}
	m := samplesLine.FindSubmatch(self)
	if m == nil {
		p.Error = "perf recorded no samples"
		return p
	}
	p.Samples = string(m[1])
	p.Self = shares(self, selfLine, 25)
	if cum, err := perfText(data, "symbol", "--children", "--percent-limit", "3"); err == nil {
		p.Cumulative = shares(cum, childrenLine, 40)
	}
	if obj, err := perfText(data, "dso", "--no-children", "--percent-limit", "0.5"); err == nil {
		p.Objects = objectShares(obj, 12)
	}
	return p
}

// perfText is perf report's text for data, its samples sorted by sortKey.
func perfText(data, sortKey string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append([]string{"report", "-i", data, "--stdio", "--sort", sortKey, "-g", "none"}, args...)
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, "perf", args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("perf report: %v: %.300s", err, errOut.Bytes())
	}
	return out.Bytes(), nil
}

func shares(text []byte, line *regexp.Regexp, limit int) []fnShare {
	var out []fnShare
	for _, l := range bytes.Split(text, []byte("\n")) {
		m := line.FindSubmatch(l)
		if m == nil {
			continue
		}
		pct, _ := strconv.ParseFloat(string(m[1]), 64)
		fn := string(m[3])
		if string(m[2]) == "k" {
			fn = "[kernel] " + fn
		}
		out = append(out, fnShare{Percent: pct, Func: fn})
		if len(out) == limit {
			break
		}
	}
	return out
}

// objectShares reads the lines of a --sort dso report.
func objectShares(text []byte, limit int) []fnShare {
	var out []fnShare
	for _, l := range bytes.Split(text, []byte("\n")) {
		m := objectLine.FindSubmatch(l)
		if m == nil || bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			continue
		}
		pct, _ := strconv.ParseFloat(string(m[1]), 64)
		out = append(out, fnShare{Percent: pct, Func: string(m[2])})
		if len(out) == limit {
			break
		}
	}
	return out
}
