// Command bench is `make bench` (spec/testing.md "Benchmarks", "Benchmarks, more rows"): it
// brings a whole Funcatron up on loopback (RabbitMQ, the Tron, one runner, two nginx
// frontends: the default records framing and the catalogue framing) with the hello-go
// sample, measures its cold start, then drives the same load with wrk through four paths
// (nginx `return 200`, nginx proxying straight to the function process, and Funcatron with
// each framing) for three bodies, then one request at a time; it takes CPU time per process
// and per request, the broker's messages per request, a perf profile of the runner and the
// frontend, the runner's memory with 1 and with 50 bundles, and checks the targets of issue
// 13. It prints the tables and writes every figure to bench/results/latest.json and
// bench/results/<date>-<commit>.json.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// config is the command line.
type config struct {
	Bin         string        `json:"-"`
	Samples     string        `json:"-"`
	Out         string        `json:"-"`
	Dir         string        `json:"-"`
	Keep        bool          `json:"-"`
	Duration    time.Duration `json:"-"`
	Warmup      time.Duration `json:"-"`
	Conns       int           `json:"connections"`
	Threads     int           `json:"wrk_threads"`
	Workers     int           `json:"nginx_workers"`
	Bundles     int           `json:"bundles_for_memory"`
	Quick       bool          `json:"quick"` // -quick / BENCH_QUICK=1: short rows, for checking the bench works
	Profile     bool          `json:"-"`
	ProfileFor  time.Duration `json:"-"`
	DurationS   float64       `json:"duration_s"`
	WarmupS     float64       `json:"warmup_s"`
	ProfileForS float64       `json:"profile_run_s"`
}

func main() {
	var c config
	flag.StringVar(&c.Bin, "bin", "bin", "directory holding the tron and runner binaries (make build)")
	flag.StringVar(&c.Samples, "samples", "build/bundles", "directory holding hello-go.zip (make samples)")
	flag.StringVar(&c.Out, "out", "bench/results/latest.json", "where the figures go as JSON")
	flag.StringVar(&c.Dir, "dir", "", "working directory for every server's files (default: a new temp dir)")
	flag.BoolVar(&c.Keep, "keep", false, "keep the working directory (always kept after a failure)")
	flag.DurationVar(&c.Duration, "duration", 10*time.Second, "measured load per row")
	flag.DurationVar(&c.Warmup, "warmup", 2*time.Second, "unmeasured load before each row")
	flag.IntVar(&c.Conns, "connections", 32, "wrk connections (the bundle's concurrency is 32 per runner)")
	flag.IntVar(&c.Threads, "threads", 2, "wrk threads")
	flag.IntVar(&c.Workers, "workers", 2, "nginx worker processes, the same in every row")
	flag.IntVar(&c.Bundles, "bundles", 50, "bundles enabled for the second memory figure")
	flag.BoolVar(&c.Profile, "profile", true, "profile the runner and a frontend worker with perf (extra runs)")
	flag.DurationVar(&c.ProfileFor, "profile-for", 8*time.Second, "load per profiling run")
	flag.BoolVar(&c.Quick, "quick", os.Getenv("BENCH_QUICK") == "1",
		"short rows to check that the bench works (also BENCH_QUICK=1): "+quickText)
	printFile := flag.String("print", "", "print the tables of a results file (e.g. bench/results/latest.json) and exit; runs nothing")
	flag.Parse()
	if *printFile != "" {
		if err := printResults(*printFile); err != nil {
			fmt.Fprintln(os.Stderr, "make bench:", err)
			os.Exit(1)
		}
		return
	}
	if c.Quick {
		c.quick()
	}
	c.DurationS, c.WarmupS, c.ProfileForS = c.Duration.Seconds(), c.Warmup.Seconds(), c.ProfileFor.Seconds()
	if err := run(&c); err != nil {
		fmt.Fprintln(os.Stderr, "make bench:", err)
		os.Exit(1)
	}
}

// quickText says what -quick changes; flags given explicitly keep their values.
const quickText = "2 s rows after 1 s warm-up, 4 s profiles, 5 bundles, figures to bench/results/quick.json only"

func (c *config) quick() {
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, v := range map[string]string{"duration": "2s", "warmup": "1s", "profile-for": "4s", "bundles": "5",
		"out": "bench/results/quick.json"} {
		if !set[name] {
			flag.Set(name, v)
		}
	}
}

func run(c *config) (err error) {
	t0 := time.Now()
	if _, err := exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("wrk not found: run scripts/deps.sh (Debian package wrk)")
	}
	for _, p := range []*string{&c.Bin, &c.Samples, &c.Out} {
		if *p, err = filepath.Abs(*p); err != nil {
			return err
		}
	}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "funcatron-bench-"); err != nil {
			return err
		}
	}
	defer func() {
		if err != nil || c.Keep {
			logf("files kept in %s", c.Dir)
		} else {
			os.RemoveAll(c.Dir)
		}
	}()
	b := &bench{cfg: c, res: &results{Machine: machineFacts(), Settings: *c}}
	if err := b.run(); err != nil {
		return err
	}
	b.res.Machine.LoadAfter = loadavg()
	b.res.RunS = time.Since(t0).Seconds()
	outs := []string{c.Out}
	if !c.Quick {
		outs = append(outs, filepath.Join(filepath.Dir(c.Out), b.res.Machine.datedName()))
	}
	for _, out := range outs {
		if err := b.res.write(out); err != nil {
			return err
		}
	}
	b.res.print(os.Stdout)
	logf("figures written to %s", strings.Join(outs, " and "))
	return nil
}

// printResults prints the tables of a results file written by an earlier run, with its
// targets checked again.
func printResults(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var r results
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	r.Targets = r.checkTargets()
	r.print(os.Stdout)
	return nil
}

// logf reports progress on stderr; the table alone goes to stdout.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func sub(dir, name string) string {
	d := filepath.Join(dir, name)
	os.MkdirAll(d, 0o755)
	return d
}
