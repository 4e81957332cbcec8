// Command devstack is `make run`: it brings a whole Funcatron up on this machine (private
// RabbitMQ with STOMP, Redis, the Tron, runners, the nginx frontend, all on loopback under
// one directory), deploys the sample bundles, prints where to point curl, and stops
// everything on Ctrl-C.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/funcatron/funcatron/internal/stack"
)

func main() {
	dir := flag.String("dir", ".run", "where the servers keep their data and logs")
	bin := flag.String("bin", "bin", "directory holding the tron and runner binaries")
	samples := flag.String("samples", "build/bundles", "directory of bundle zips to deploy")
	tronPort := flag.Int("tron-port", 3000, "the Tron's admin API port (0: a free one)")
	httpPort := flag.Int("http-port", 8080, "the frontend's HTTP port (0: a free one)")
	runnerPort := flag.Int("runner-port", 4000, "the first runner's /metrics port, the next ones +1 (0: free ones)")
	runners := flag.Int("runners", 1, "how many runners to start")
	workers := flag.Int("workers", 2, "nginx worker processes")
	flag.Parse()
	if err := run(*dir, *bin, *samples, ports{*tronPort, *httpPort, *runnerPort}, *runners, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

// ports are the fixed ports of `make run` (0: a free one).
type ports struct{ tron, http, runner int }

func run(dir, bin, samples string, p ports, runners, workers int) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	// Each run starts clean but for the Tron's data (bundles, enabled routes, the token),
	// which a second `make run` keeps, as a restarted Tron would.
	for _, sub := range []string{"rabbitmq", "redis", "nginx"} {
		os.RemoveAll(filepath.Join(abs, sub))
	}
	binAbs, _ := filepath.Abs(bin)
	fmt.Println("starting RabbitMQ, Redis, the Tron, runners and nginx under", abs, "...")
	s, err := stack.Start(stack.Options{Dir: abs, BinDir: binAbs, Runners: runners, NginxWorkers: workers,
		TronPort: p.tron, HTTPPort: p.http, RunnerPort: p.runner, Redis: true})
	if err != nil {
		return err
	}
	defer s.Close()
	deployed, err := deploySamples(s, samples)
	if err != nil {
		return err
	}
	printWelcome(os.Stdout, s, abs, deployed)
	stop := make(chan struct{})
	wait := s.SuperviseRunners(stop, func(msg string) { fmt.Println("make run:", msg) })
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Println("\nstopping everything ...")
	close(stop)
	wait()
	return nil
}

// deploySamples deploys the samples a first run deploys, and leaves alone what the user
// did with them since (stack.DeploySamples); it prints what it did with each.
func deploySamples(s *stack.Stack, dir string) (int, error) {
	// Every sample gets every prop: the gilmour one fills redis: ${props.redis}.
	results, err := s.DeploySamples(dir, map[string]any{"greeting": "Hello", "redis": s.Redis.URL()})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range results {
		if r.Deployed {
			n++
			fmt.Printf("  deployed %s (%.12s)\n", r.Name, r.SHA)
			continue
		}
		fmt.Printf("  %s: %s\n", r.Name, r.Note)
	}
	return n, nil
}

// printWelcome tells the user every URL and file of the stack s (its servers under dir):
// frontend and its metrics, dashboard, admin API, each runner's /metrics, the broker, the token, the logs;
// main_test.go checks it names each of them.
func printWelcome(w io.Writer, s *stack.Stack, dir string, deployed int) {
	front, token := s.FrontURL(), argAfter(s.Tron.Args, "--token-file")
	fmt.Fprintf(w, `
Funcatron is up.
  frontend (nginx):  %s   (its error log: %s; metrics: %s/__funcatron/metrics)
  dashboard:         %s/   (asks for the token in %s)
  Tron admin API:    %s/api/v1/   (metrics: %s/metrics)
`, front, s.Nginx.ErrorLogPath(), front, s.TronURL, token, s.TronURL, s.TronURL)
	for _, r := range s.Runners {
		fmt.Fprintf(w, "  %-18s %s/metrics   (log: %s)\n", r.Name+":", stack.RunnerURL(r), r.LogPath)
	}
	fmt.Fprintf(w, `  RabbitMQ:          amqp://127.0.0.1:%d/  (STOMP on port %d; a user per role, passwords in %s)
  Redis:             %s  (the gilmour and zbus samples; the zbus sample is twin 1001)
  logs:              %s/*/   (the Tron's: %s)
  bus keys:          %s (runners get bus-key, nginx frontend-key)
Deployed %d sample bundles now (a second make run leaves yours as they are). Try:
  curl -i %s/hello/greet/world
  curl -i '%s/py/args?x=1&x=2'
  curl -i -X POST -d 'hi there' %s/sh/echo
  curl -i -X POST -d '{"name":"bob"}' %s/gilmour/greet      (Gilmour request to the node's service)
  curl -i -X POST -d '{"id":1}' %s/gilmour/event            (Gilmour signal to its slot)
  curl -i -X POST -d '"ann"' %s/gilmour/twice               (a pipe composition)
  curl -i -X POST -d '{"a":2,"b":3}' %s/zbus/add            (a zbus command served by the bundle's node)
  FUNCATRON_TRON=%s FUNCATRON_TOKEN_FILE=%s bin/funcatron status
Something wrong? docs/troubleshooting.md. Ctrl-C stops everything.
`, s.Rabbit.AMQPPort, s.Rabbit.STOMPPort, filepath.Join(dir, "secrets"), s.Redis.URL(), dir, s.Tron.LogPath,
		filepath.Dir(s.BusKeyFile), deployed, front, front, front, front, front, front, front, s.TronURL, token)
}

// argAfter is the value given to the flag name in args ("" if none): where the stack told
// a process to keep a file is where the user finds it.
func argAfter(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
