// Command bench is `make bench` (spec/testing.md "Benchmarks"): it brings a whole
// Funcatron up on loopback (RabbitMQ, the Tron, one runner, the nginx frontend) with the
// hello-go sample, measures its cold start, then drives the same load with wrk through three
// paths (nginx `return 200`, nginx proxying straight to the function process, and
// Funcatron) for three bodies, takes CPU time per process and a perf profile of the runner,
// and the runner's memory with 1 and with 50 bundles. It prints one table and writes every
// figure to bench/results/latest.json.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	flag.Parse()
	c.DurationS, c.WarmupS, c.ProfileForS = c.Duration.Seconds(), c.Warmup.Seconds(), c.ProfileFor.Seconds()
	if err := run(&c); err != nil {
		fmt.Fprintln(os.Stderr, "make bench:", err)
		os.Exit(1)
	}
}

func run(c *config) (err error) {
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
	if err := b.res.write(c.Out); err != nil {
		return err
	}
	b.res.print(os.Stdout)
	logf("figures written to %s", c.Out)
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
