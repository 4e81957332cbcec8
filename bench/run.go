// The order of one run: the stack and its cold start, the second frontend, the reference
// nginx, any further stacks (moreStacks), the load rows (every path one after the other for
// each body, so a ratio compares neighbours in time; then the same one request at a time),
// the profiles, then memory with 1 and with 50 bundles.

package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/stack"
	"github.com/funcatron/funcatron/internal/wait"
)

// body is what a row sends.
type body struct {
	name string
	size int // -1: GET /hello/greet/x; else POST /hello/echo with that many bytes
}

// bodies are the bodies of the load rows; latencyBodies those of the one-at-a-time rows.
var (
	bodies        = []body{{"empty (GET)", -1}, {"1 KiB (POST)", 1 << 10}, {"64 KiB (POST)", 64 << 10}}
	latencyBodies = []body{bodies[0], bodies[2]}
)

type bench struct {
	cfg    *config
	res    *results
	stack  *stack.Stack
	direct *direct
	roles  roles
	paths  []*path  // what the row loop runs over, in order
	stops  []func() // moreStacks' stop functions
}

func (b *bench) run() error {
	defer b.close()
	if err := b.startStack(); err != nil {
		return err
	}
	if err := b.coldStart(); err != nil {
		return err
	}
	b.res.Memory = append(b.res.Memory, memoryOf(b.runner(), "runner, 1 bundle enabled, idle, before any load"))
	if err := b.startCatalogueFrontend(); err != nil {
		return err
	}
	if err := b.startDirect(); err != nil {
		return err
	}
	if err := b.startMoreStacks(); err != nil {
		return err
	}
	if err := b.loadRows(); err != nil {
		return err
	}
	b.res.fillRatios()
	b.res.Targets = b.res.checkTargets()
	if b.cfg.Profile {
		b.profiles()
	}
	b.res.Memory = append(b.res.Memory, memoryOf(b.runner(), "runner, 1 bundle enabled, after the load rows"))
	// The rows are measured: a failed deploy costs the last memory figure, not the run.
	if err := b.manyBundles(); err != nil {
		b.res.Notes = append(b.res.Notes, "no memory figure with many bundles: "+err.Error())
	}
	return nil
}

// loadRows measures every path for every body at the configured connections, then every
// path one request at a time (wrk -c1 -t1).
func (b *bench) loadRows() error {
	for _, body := range bodies {
		for _, p := range b.paths {
			if err := b.row(p, body, b.cfg.Conns, b.cfg.Threads); err != nil {
				return err
			}
		}
	}
	for _, body := range latencyBodies {
		for _, p := range b.paths {
			if err := b.row(p, body, 1, 1); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *bench) close() {
	for i := len(b.stops) - 1; i >= 0; i-- {
		b.stops[i]()
	}
	b.direct.stop()
	if b.stack != nil {
		logf("stopping the stack")
		b.stack.Close()
	}
}

// runner is the main stack's runner.
func (b *bench) runner() int { return b.stack.Runners[0].PID() }

func (b *bench) startStack() (err error) {
	logf("starting RabbitMQ, the Tron, a runner and the nginx frontend (%d workers) under %s", b.cfg.Workers, b.cfg.Dir)
	t0 := time.Now()
	b.stack, err = stack.Start(stack.Options{Dir: sub(b.cfg.Dir, "stack"), BinDir: b.cfg.Bin, Runners: 1,
		NginxWorkers: b.cfg.Workers})
	if err != nil {
		return err
	}
	b.res.StackStartS = time.Since(t0).Seconds()
	b.roles = roles{self: selfPID, tron: b.stack.Tron.PID(), runners: map[int]bool{}, frontends: map[int]bool{}}
	b.roles.runners[b.runner()] = true
	return b.addFrontend(b.stack.Nginx, &path{Name: "Funcatron, records: batching + raw bodies (the default)",
		Short: shortRecords, Kind: kindFuncatron, brokers: []*servers.RabbitMQ{b.stack.Rabbit}})
}

// addFrontend finds n's nginx master for the CPU table and adds the path through it.
func (b *bench) addFrontend(n *servers.Nginx, p *path) error {
	master := nginxMaster(n.Conf)
	if master == 0 {
		return fmt.Errorf("cannot find the nginx master of %s", n.Conf)
	}
	b.roles.frontends[master] = true
	p.base = n.URL()
	b.addPath(p)
	return nil
}

// nginxMaster is the pid of the nginx master below this program that runs conf (0: none).
func nginxMaster(conf string) int {
	for _, p := range descendants(processes(), selfPID) {
		if p.comm == "nginx" && strings.Contains(p.cmdline, "master") && strings.Contains(p.cmdline, " "+conf+" ") {
			return p.pid
		}
	}
	return 0
}

func (b *bench) coldStart() (err error) {
	logf("cold start: add_func, enable, first 200 of GET %s", greetPath)
	b.res.ColdStart, err = measureColdStart(b.stack, filepath.Join(b.cfg.Samples, "hello-go.zip"))
	if err != nil {
		return fmt.Errorf("cold start: %w", err)
	}
	return waitAllWorkers(b.stack.FrontURL())
}

// startCatalogueFrontend starts the second frontend of the stack, which sends the
// catalogue's framing (JSON + base64, one message per request): the rows with batching
// and raw bodies off, on the same broker and runner as the default's.
func (b *bench) startCatalogueFrontend() error {
	logf("starting a second nginx frontend with FUNCATRON_FRAMING=catalogue")
	n, err := b.stack.StartFrontend("nginx-catalogue", map[string]string{"FUNCATRON_FRAMING": "catalogue"})
	if err != nil {
		return fmt.Errorf("the catalogue frontend: %w", err)
	}
	if err := waitAllWorkers(n.URL()); err != nil {
		return err
	}
	return b.addFrontend(n, &path{Name: "Funcatron, catalogue: JSON + base64, one message per request",
		Short: shortCatalogue, Kind: kindFuncatron, brokers: []*servers.RabbitMQ{b.stack.Rabbit}})
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
	base := b.direct.url("")
	// The reference paths lead the row loop: each body's rows start with its ceiling and 1.00.
	b.paths = append([]*path{
		{Name: "nginx return 200 (ceiling)", Short: shortCeiling, Kind: kindCeiling, base: base},
		{Name: "nginx proxy_pass to the function (direct)", Short: shortDirect, Kind: kindDirect, base: base},
	}, b.paths...)
	return nil
}

func (b *bench) startMoreStacks() error {
	for _, start := range moreStacks {
		stop, err := start(b)
		if stop != nil {
			b.stops = append(b.stops, stop)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// row checks one answer, warms up, then measures one row with CPU time per process and,
// through Funcatron, the broker's message counters.
func (b *bench) row(p *path, body body, conns, threads int) error {
	url := p.url(body.size)
	if err := checkAnswer(url, body.size, p.Kind == kindCeiling); err != nil {
		return fmt.Errorf("%s, %s: %w", p.Name, body.name, err)
	}
	l := load{URL: url, BodySize: body.size, Duration: b.cfg.Warmup, Conns: conns, Threads: threads}
	if b.cfg.Warmup > 0 {
		if _, err := runWrk(b.cfg.Dir, l); err != nil {
			return err
		}
	}
	logf("%s, %s, %d connections: %s of load", p.Name, body.name, conns, b.cfg.Duration)
	l.Duration = b.cfg.Duration
	counted, countErr := b.counters(p)
	before := takeCPU(b.roles)
	w, err := runWrk(b.cfg.Dir, l)
	if err != nil {
		return err
	}
	cpu := cpuBetween(before, takeCPU(b.roles), b.res.Machine.CPUs)
	cpu.addExited("wrk", w.CPUS)
	r := newRow(p, body, conns, url, w, cpu)
	if len(p.brokers) > 0 {
		r.Broker = b.brokerUse(p, counted, countErr, w.Requests, cpu)
		if r.Broker.Error != "" {
			b.res.Notes = append(b.res.Notes, fmt.Sprintf("%s, %s: no broker counters: %s", p.Short, body.name, r.Broker.Error))
		}
	}
	b.res.Rows = append(b.res.Rows, r)
	return nil
}

// counters reads the counters of p's brokers (none: zero).
func (b *bench) counters(p *path) (brokerCounts, error) {
	if len(p.brokers) == 0 {
		return brokerCounts{}, nil
	}
	return readCounters(p.brokers)
}

// brokerUse reads the counters again after a row and makes the row's broker figures; a
// failed reading is kept in them, and the bench goes on.
func (b *bench) brokerUse(p *path, before brokerCounts, err error, requests int64, cpu cpuUse) *brokerUse {
	var after brokerCounts
	if err == nil {
		after, err = b.counters(p)
	}
	u := newBrokerUse(after.minus(before), requests, cpu)
	if err != nil {
		u = &brokerUse{CPUPerRequestUS: u.CPUPerRequestUS, Error: err.Error()}
	}
	return u
}

// profiles runs the records path (the default) again, unmeasured, for an empty and a 64 KiB body while
// perf samples the runner and the frontend's nginx workers.
func (b *bench) profiles() {
	if _, err := exec.LookPath("perf"); err != nil {
		b.res.Notes = append(b.res.Notes, "no profile: perf is not installed (Debian package linux-perf)")
		return
	}
	records := b.pathByShort(shortRecords)
	master := nginxMaster(b.stack.Nginx.Conf)
	var workers []string
	for _, p := range descendants(processes(), master) {
		if p.pid != master && p.comm == "nginx" {
			workers = append(workers, strconv.Itoa(p.pid))
		}
	}
	targets := []target{{"runner", strconv.Itoa(b.runner())}, {"nginx frontend workers", strings.Join(workers, ",")}}
	if beam := b.brokerVM(); beam != 0 {
		targets = append(targets, target{"rabbitmq (beam.smp)", strconv.Itoa(beam)})
	}
	for _, body := range []body{bodies[0], bodies[2]} {
		logf("profiling the runner, the frontend workers and the broker: %s, %s, %s of load", records.Name, body.name, b.cfg.ProfileFor)
		b.res.Profiles = append(b.res.Profiles, b.profile(records, body, targets)...)
	}
}

// brokerVM is the pid of the main stack's Erlang VM (0: not found). Erlang's JIT code has
// no symbols for perf (that needs the VM started with +JPperf), so its profile says mainly
// how the broker's time splits between the VM, its JIT code and the kernel.
func (b *bench) brokerVM() int {
	for _, p := range descendants(processes(), selfPID) {
		if p.comm == "beam.smp" && strings.Contains(p.cmdline, " -home "+b.stack.Rabbit.Dir+" ") {
			return p.pid
		}
	}
	return 0
}

// target is what perf samples: a name and a comma-separated list of pids.
type target struct{ name, pids string }

func (b *bench) profile(p *path, body body, targets []target) []profile {
	run, size := "Funcatron "+p.Short+", "+body.name, body.size
	l := load{URL: p.url(size), BodySize: size, Duration: b.cfg.ProfileFor, Conns: b.cfg.Conns, Threads: b.cfg.Threads}
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
	if !steadyRSS(b.runner(), 30*time.Second) {
		b.res.Notes = append(b.res.Notes, "memory: the runner's RSS was still changing after 30 s")
	}
	b.res.Memory = append(b.res.Memory, memoryOf(b.runner(),
		fmt.Sprintf("runner, %d bundles enabled (after the load rows), idle", n)))
	return nil
}
