// The order of one run: the stack and its cold start, the reference nginx, the load rows
// (the three paths one after the other for each body, so a ratio compares neighbours in
// time), the profiles, then memory with 1 and with 50 bundles.

package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/funcatron/funcatron/internal/stack"
	"github.com/funcatron/funcatron/internal/wait"
)

// The paths and bodies of the table.
const (
	pathCeiling   = "nginx return 200 (ceiling)"
	pathDirect    = "nginx proxy_pass to the function (direct)"
	pathFuncatron = "nginx → RabbitMQ → runner → function (Funcatron)"
)

var bodies = []struct {
	name string
	size int // -1: GET /hello/greet/x; else POST /hello/echo with that many bytes
}{{"empty (GET)", -1}, {"1 KiB (POST)", 1 << 10}, {"64 KiB (POST)", 64 << 10}}

type bench struct {
	cfg    *config
	res    *results
	stack  *stack.Stack
	direct *direct
	roles  roles
}

func (b *bench) run() error {
	defer b.close()
	if err := b.startStack(); err != nil {
		return err
	}
	if err := b.coldStart(); err != nil {
		return err
	}
	b.res.Memory = append(b.res.Memory, memoryOf(b.roles.runner, "runner, 1 bundle enabled, idle, before any load"))
	if err := b.startDirect(); err != nil {
		return err
	}
	for _, body := range bodies {
		for _, path := range []string{pathCeiling, pathDirect, pathFuncatron} {
			if err := b.row(path, body.name, body.size); err != nil {
				return err
			}
		}
	}
	b.res.fillRatios()
	if b.cfg.Profile {
		b.profiles()
	}
	b.res.Memory = append(b.res.Memory, memoryOf(b.roles.runner, "runner, 1 bundle enabled, after the load rows"))
	if err := b.manyBundles(); err != nil {
		return err
	}
	return b.clusterRows()
}

func (b *bench) close() {
	b.direct.stop()
	if b.stack != nil {
		logf("stopping the stack")
		b.stack.Close()
	}
}

func (b *bench) startStack() (err error) {
	logf("starting RabbitMQ, the Tron, a runner and the nginx frontend (%d workers) under %s", b.cfg.Workers, b.cfg.Dir)
	t0 := time.Now()
	b.stack, err = stack.Start(stack.Options{Dir: sub(b.cfg.Dir, "stack"), BinDir: b.cfg.Bin, Runners: 1,
		NginxWorkers: b.cfg.Workers})
	if err != nil {
		return err
	}
	b.res.StackStartS = time.Since(t0).Seconds()
	b.roles = roles{self: selfPID, runner: findDescendant(selfPID, "runner"), tron: findDescendant(selfPID, "tron")}
	for _, p := range descendants(processes(), selfPID) {
		if p.comm == "nginx" && strings.Contains(p.cmdline, "master") && strings.Contains(p.cmdline, b.stack.Nginx.Prefix) {
			b.roles.frontMaster = p.pid
		}
	}
	if b.roles.runner == 0 || b.roles.frontMaster == 0 {
		return fmt.Errorf("cannot find the runner (%d) or the frontend's nginx master (%d)", b.roles.runner, b.roles.frontMaster)
	}
	return nil
}

func (b *bench) coldStart() (err error) {
	logf("cold start: add_func, enable, first 200 of GET %s", greetPath)
	b.res.ColdStart, err = measureColdStart(b.stack, filepath.Join(b.cfg.Samples, "hello-go.zip"))
	if err != nil {
		return fmt.Errorf("cold start: %w", err)
	}
	return waitAllWorkers(b.stack.FrontURL())
}

func (b *bench) startDirect() (err error) {
	dir := sub(b.cfg.Dir, "direct")
	bundle := sub(dir, "bundle")
	if err := unzip(filepath.Join(b.cfg.Samples, "hello-go.zip"), bundle); err != nil {
		return err
	}
	if b.direct, err = startDirect(dir, filepath.Join(bundle, "bin", "hello"), b.cfg.Workers); err != nil {
		return err
	}
	b.roles.directMaster, b.roles.directFn = b.direct.nginx.pid(), b.direct.fn.pid()
	return nil
}

// url is where a path's requests go for a body.
func (b *bench) url(path string, bodySize int) string {
	p := greetPath
	if bodySize >= 0 {
		p = echoPath
	}
	switch path {
	case pathCeiling:
		return b.direct.url(ceilingPath)
	case pathDirect:
		return b.direct.url(p)
	}
	return b.stack.FrontURL() + p
}

// row checks one answer, warms up, then measures one row with CPU time per process.
func (b *bench) row(path, body string, size int) error {
	url := b.url(path, size)
	if err := checkAnswer(url, size, path == pathCeiling); err != nil {
		return fmt.Errorf("%s, %s: %w", path, body, err)
	}
	l := load{URL: url, BodySize: size, Duration: b.cfg.Warmup, Conns: b.cfg.Conns, Threads: b.cfg.Threads}
	if b.cfg.Warmup > 0 {
		if _, err := runWrk(b.cfg.Dir, l); err != nil {
			return err
		}
	}
	logf("%s, %s: %s of load", path, body, b.cfg.Duration)
	l.Duration = b.cfg.Duration
	before := takeCPU(b.roles)
	w, err := runWrk(b.cfg.Dir, l)
	if err != nil {
		return err
	}
	cpu := cpuBetween(before, takeCPU(b.roles), b.res.Machine.CPUs)
	b.res.Rows = append(b.res.Rows, newRow(path, body, size, url, w, cpu))
	return nil
}

// profiles runs the Funcatron path again, unmeasured, for an empty and a 64 KiB body while
// perf samples the runner and the frontend's nginx workers.
func (b *bench) profiles() {
	if _, err := exec.LookPath("perf"); err != nil {
		b.res.Notes = append(b.res.Notes, "no profile: perf is not installed (Debian package linux-perf)")
		return
	}
	var workers []string
	for _, p := range descendants(processes(), b.roles.frontMaster) {
		if p.pid != b.roles.frontMaster && p.comm == "nginx" {
			workers = append(workers, strconv.Itoa(p.pid))
		}
	}
	targets := []target{{"runner", strconv.Itoa(b.roles.runner)}, {"nginx frontend workers", strings.Join(workers, ",")}}
	for _, body := range bodies {
		if body.size > 0 && body.size < 64<<10 {
			continue
		}
		logf("profiling the runner and the frontend workers: Funcatron, %s, %s of load", body.name, b.cfg.ProfileFor)
		b.res.Profiles = append(b.res.Profiles, b.profile("Funcatron, "+body.name, body.size, targets)...)
	}
}

// target is what perf samples: a name and a comma-separated list of pids.
type target struct{ name, pids string }

func (b *bench) profile(run string, size int, targets []target) []profile {
	l := load{URL: b.url(pathFuncatron, size), BodySize: size, Duration: b.cfg.ProfileFor, Conns: b.cfg.Conns, Threads: b.cfg.Threads}
	done := make(chan error, 1)
	opened := tcpActiveOpens()
	go func() { _, err := runWrk(b.cfg.Dir, l); done <- err }()
	// Sample once wrk's connections are open (the load is on), not after a guessed pause.
	if !wait.Until(10*time.Second, func() bool { return tcpActiveOpens()-opened >= uint64(l.Conns) }) {
		b.res.Notes = append(b.res.Notes, "profiling: wrk's connections were not seen open within 10 s")
	}
	errs := make([]chan error, len(targets))
	data := make([]string, len(targets))
	for i, t := range targets {
		errs[i] = make(chan error, 1)
		data[i] = filepath.Join(b.cfg.Dir, fmt.Sprintf("perf-%d-%d.data", size, i))
		go func() { errs[i] <- perfRecord(t.pids, b.cfg.ProfileFor-2*time.Second, data[i]) }()
	}
	var out []profile
	for i, t := range targets {
		p := profile{Process: t.name}
		if err := <-errs[i]; err != nil {
			p.Error = err.Error()
		} else {
			p = perfReport(data[i], t.name)
		}
		p.Run = run
		out = append(out, p)
	}
	if err := <-done; err != nil {
		b.res.Notes = append(b.res.Notes, "profiling load: "+err.Error())
	}
	return out
}

// manyBundles enables bundles 2..N (each with its own base path) and measures the runner.
func (b *bench) manyBundles() error {
	n := b.cfg.Bundles
	if n < 2 {
		return nil
	}
	logf("memory: enabling %d more bundles", n-1)
	zips, err := makeBundles(filepath.Join(b.cfg.Samples, "hello-go.zip"), n, sub(b.cfg.Dir, "bundles"))
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := deployAll(b.stack, zips, 4); err != nil {
		return err
	}
	b.res.DeployMoreS = time.Since(t0).Seconds()
	// Measure once the runner's memory stopped moving (the starts are over), not after a
	// guessed pause.
	if !steadyRSS(b.roles.runner, 30*time.Second) {
		b.res.Notes = append(b.res.Notes, "memory: the runner's RSS was still changing after 30 s")
	}
	b.res.Memory = append(b.res.Memory, memoryOf(b.roles.runner,
		fmt.Sprintf("runner, %d bundles enabled (after the load rows), idle", n)))
	return nil
}
