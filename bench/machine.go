// Facts about the machine and the source a run measured.

package main

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

type machine struct {
	CPUs       int      `json:"nproc"`
	CPUModel   string   `json:"cpu_model"`
	Kernel     string   `json:"kernel"`
	MemTotal   string   `json:"mem_total"`
	Date       string   `json:"date"`
	GoVersion  string   `json:"go_version"`
	GitCommit  string   `json:"git_commit"`
	GitDirty   bool     `json:"git_dirty"`                 // uncommitted changes in the tree the binaries were built from
	DirtyPaths []string `json:"git_dirty_paths,omitempty"` // which files
	Nginx      string   `json:"nginx"`
	Wrk        string   `json:"wrk"`
	LoadBefore string   `json:"loadavg_before"`
	LoadAfter  string   `json:"loadavg_after,omitempty"`
}

func machineFacts() machine {
	m := machine{
		CPUs:       runtime.NumCPU(),
		Date:       time.Now().UTC().Format(time.RFC3339),
		GoVersion:  firstLine(output("go", "version")),
		GitCommit:  firstLine(output("git", "rev-parse", "HEAD")),
		Nginx:      firstLine(output(nginxPath(), "-v")),
		Wrk:        wrkVersion(),
		LoadBefore: loadavg(),
	}
	for _, line := range strings.Split(output("git", "status", "--porcelain", "--untracked-files=no"), "\n") {
		if len(line) > 3 {
			m.DirtyPaths = append(m.DirtyPaths, strings.TrimSpace(line[3:]))
		}
	}
	m.GitDirty = len(m.DirtyPaths) > 0
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.CPUModel = procLine("/proc/cpuinfo", "model name")
	m.MemTotal = procLine("/proc/meminfo", "MemTotal")
	return m
}

// datedName is the name of a run's results file: <date>-<short commit>[-dirty].json.
func (m machine) datedName() string {
	date, commit := m.Date, m.GitCommit
	if len(date) > 10 {
		date = date[:10]
	}
	if len(commit) > 7 {
		commit = commit[:7]
	}
	if commit == "" {
		commit = "nogit"
	}
	if m.GitDirty {
		commit += "-dirty"
	}
	return date + "-" + commit + ".json"
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// procLine is the value of the first "name : value" line of a /proc file.
func procLine(path, name string) string {
	b, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// output runs a command and returns stdout and stderr ("" when it fails).
func output(name string, args ...string) string {
	b, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return ""
	}
	return string(b)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func nginxPath() string {
	p, _ := nginxBinary()
	return p
}

// wrkVersion is wrk's first line of -v, which exits non-zero after printing its usage.
func wrkVersion() string {
	b, _ := exec.Command("wrk", "-v").CombinedOutput()
	return firstLine(string(b))
}
