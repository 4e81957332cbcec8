package integration

import (
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/stack"
	"github.com/funcatron/funcatron/internal/testenv"
)

// e2eTestClusterNodeKill (spec/testing.md "A RabbitMQ cluster"): the whole system on three
// clustered RabbitMQ nodes with quorum queues (--queue-type quorum), and a request load that
// keeps the route queue non-empty (a bundle variant of concurrency 2 and slow requests).
// The node most of the runners' and frontends' connections are on is killed (kill -9):
// every request still gets an answer (a 2xx, or an explicit 5xx within the frontend's
// timeout plus a second, none hanging), the requests queued on the route queue are served
// from the surviving nodes, service is back within 10 s without restarting any of our
// processes, and after everyone reconnected every request is a 2xx. Then the node starts
// again and rejoins the cluster, and the route queue is whole again.
func e2eTestClusterNodeKill(t *testing.T, env *e2eEnv) {
	begin := time.Now()
	s := e2eStart(t, env, e2eStackOptions{runners: 2, workers: 2, brokerNodes: 3,
		tronArgs: []string{"--queue-type", "quorum"}})
	nodes := s.Cluster.Nodes
	slow := e2eVariant(t, env.sample("hello-go"), e2eReplace("concurrency: 32", "concurrency: 2"), nil)
	sha := s.deploy(t, slow, e2eProps)
	q := s.queueOf(t, sha)
	s.waitRunnersServing(t, q, 2)
	if typ := e2eQueueField(t, nodes[0], q, "type"); typ != "quorum" {
		t.Fatalf("route queue %s is %q, want quorum", q, typ)
	}
	pids := e2eWorkerPIDs(t, s)
	procs := e2eDaemonPIDs(s)

	load := e2eStartLoad(t, "cluster-node-kill", e2eLoadSpec{clients: 12, url: s.FrontURL() + "/hello/sleep?ms=100"})
	load.waitOK(t, 60, 30*time.Second)
	victim, on := e2eBusiestNode(t, s)
	other := nodes[(victim+1)%len(nodes)]
	queued := e2eQueueField(t, other, q, "messages")
	killed := time.Now()
	nodes[victim].Kill()
	t.Logf("killed node %d (%s) with %s of our connections; %s requests were queued on %s",
		victim, nodes[victim].NodeName(), on, queued, q)

	resumed := load.waitResumed(t, 20*time.Second, "a 2xx answer to a request sent after the kill",
		func(smp e2eSample) bool { return smp.start.After(killed) })
	t.Logf("service back %s after the kill", resumed.Sub(killed).Round(time.Millisecond))
	if d := resumed.Sub(killed); d > 10*time.Second {
		t.Errorf("service back %s after the kill, want within 10 s", d)
	}
	e2eWaitReconnected(t, s)
	reconnected := time.Now()
	load.waitOK(t, 100, 30*time.Second)
	// requests sent after everything reconnected: one sent during the failover may still be
	// waiting for an answer its runner sent to the frontend's inbox on the dead node
	var sinceReconnected []e2eSample
	for _, smp := range load.snapshot() {
		if smp.start.After(reconnected) {
			sinceReconnected = append(sinceReconnected, smp)
		}
	}
	after := e2eCount(sinceReconnected)
	t.Logf("after everything reconnected: %s", after)
	after.requireAllOK(t)

	if err := nodes[victim].Start(); err != nil {
		t.Fatalf("starting node %d again: %v", victim, err)
	}
	testenv.WaitFor(t, 30*time.Second, "the node back in the cluster", func() bool {
		running, err := s.Cluster.Running(victim)
		return err == nil && len(running) == len(nodes)
	})
	testenv.WaitFor(t, 30*time.Second, "the route queue's three members online", func() bool {
		return len(strings.Fields(e2eQueueField(t, other, q, "online"))) == len(nodes)
	})
	load.waitOK(t, 50, 30*time.Second)
	c := load.stopAndCount(t)
	c.requireAnswered(t)
	for code := range c.byStatus {
		if code/100 != 2 && code != http.StatusBadGateway && code != http.StatusServiceUnavailable && code != http.StatusGatewayTimeout {
			t.Errorf("%d answers %d; during a failover only 502, 503 and 504 are expected", c.byStatus[code], code)
		}
	}
	if now := e2eWorkerPIDs(t, s); !maps.Equal(now, pids) {
		t.Errorf("nginx workers %v after the failover, %v before: a worker was restarted", now, pids)
	}
	if now := e2eDaemonPIDs(s); !maps.Equal(now, procs) {
		t.Errorf("the Tron and runners are processes %v after the failover, %v before: one was restarted", now, procs)
	}
	t.Logf("cluster test: %s in all", time.Since(begin).Round(time.Second))
}

// e2eDaemonPIDs are the Tron's and the runners' process ids by name.
func e2eDaemonPIDs(s *e2eStack) map[string]int {
	out := map[string]int{s.Tron.Name: s.Tron.PID()}
	for _, r := range s.Runners {
		out[r.Name] = r.PID()
	}
	return out
}

// e2eQueueField is one column of rabbitmqctl list_queues for queue name, asked of node.
func e2eQueueField(t *testing.T, node *servers.RabbitMQ, name, field string) string {
	t.Helper()
	out, err := node.Ctl("", "list_queues", "--quiet", "--no-table-headers", "name", field)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, name+"\t"); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("queue %s not in list_queues of %s:\n%s", name, node.NodeName(), out)
	return ""
}

// e2eBusiestNode is the index of the node to kill: each component picked its node from a
// shuffled list, so the test prefers a node holding both runner and frontend connections,
// then the one holding most of them; and what that node holds.
func e2eBusiestNode(t *testing.T, s *e2eStack) (int, string) {
	t.Helper()
	out, err := s.Cluster.Nodes[0].Ctl("", "list_connections", "--quiet", "--no-table-headers", "user", "port")
	if err != nil {
		t.Fatal(err)
	}
	// STOMP connections are listed apart, without their user: they are all the frontends'
	stomp, err := s.Cluster.Nodes[0].Ctl("", "list_stomp_connections", "--quiet", "port")
	if err != nil {
		t.Fatal(err)
	}
	for _, port := range strings.Fields(stomp) {
		out += "\n" + s.BrokerUsers[stack.RoleFrontend].Name + "\t" + port
	}
	byPort := map[int]int{}
	for i, n := range s.Cluster.Nodes {
		byPort[n.AMQPPort], byPort[n.STOMPPort] = i, i
	}
	counts := make([]map[string]int, len(s.Cluster.Nodes))
	for i := range counts {
		counts[i] = map[string]int{}
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		port, _ := strconv.Atoi(f[1])
		if i, ok := byPort[port]; ok && f[0] != s.BrokerUsers[stack.RoleTron].Name {
			counts[i][f[0]]++
		}
	}
	front, runner := s.BrokerUsers[stack.RoleFrontend].Name, s.BrokerUsers[stack.RoleRunner].Name
	score := func(c map[string]int) int {
		both := 0
		if c[front] > 0 && c[runner] > 0 {
			both = 1000
		}
		return both + c[front] + c[runner]
	}
	best := 0
	for i, c := range counts {
		if score(c) > score(counts[best]) {
			best = i
		}
	}
	return best, fmt.Sprintf("%v (all nodes: %v)", counts[best], counts)
}

// e2eWaitReconnected waits until both nginx workers' listeners, the Tron and both runners
// report their bus up.
func e2eWaitReconnected(t *testing.T, s *e2eStack) {
	t.Helper()
	testenv.WaitFor(t, 20*time.Second, "both workers connected, both runners and the Tron's bus up", func() bool {
		for _, v := range s.workerViews(t, "health") {
			if !v.Connected {
				return false
			}
		}
		for _, p := range append([]*stack.Proc{s.Tron}, s.Runners...) {
			url := s.TronURL
			if p != s.Tron {
				url = e2eRunnerURL(t, p)
			}
			if r, err := e2eDo(s.http, "GET", url+"/healthz", "", nil, nil); err != nil || r.status != 200 {
				return false
			}
		}
		return true
	})
}
