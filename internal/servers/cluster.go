package servers

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/funcatron/funcatron/internal/wait"
)

// RabbitCluster is several private RabbitMQ nodes clustered on one machine
// (spec/testing.md "A RabbitMQ cluster"): each node has its own name, ports and data dir
// under dir/node-<i>, as NewRabbitMQ makes them, with the STOMP plugin; they share one
// Erlang cookie, and every node after the first has joined the first one's cluster. Users,
// vhosts and permissions are the cluster's: set them on any node.
type RabbitCluster struct {
	Nodes []*RabbitMQ
}

// NewRabbitCluster starts n nodes under dir and clusters them. Close stops them all.
func NewRabbitCluster(dir string, n int) (*RabbitCluster, error) {
	if n < 1 {
		return nil, errors.New("a cluster needs at least one node")
	}
	cookie, err := newCookie()
	if err != nil {
		return nil, err
	}
	c := &RabbitCluster{Nodes: make([]*RabbitMQ, n)}
	// Booted in parallel: a node takes seconds to boot, mostly waiting.
	errs := parallel(n, func(i int) (err error) {
		c.Nodes[i], err = startClusterNode(filepath.Join(dir, "node-"+strconv.Itoa(i)), cookie)
		if err != nil {
			err = fmt.Errorf("starting cluster node %d: %w", i, err)
		}
		return err
	})
	if err := errors.Join(errs...); err != nil {
		c.Close()
		return nil, err
	}
	// One at a time: two nodes joining at once raced on Mnesia's schema (start_app failed
	// with mnesia_app in one run of the cluster test).
	for _, node := range c.Nodes[1:] {
		if err := node.join(c.Nodes[0]); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// parallel runs fn(0) … fn(n-1) at once and returns their errors.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errs
}

// newCookie is a random Erlang cookie: nodes and rabbitmqctl talk only with this cluster's.
func newCookie() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return strings.ToUpper(hex.EncodeToString(b)), nil
}

// startClusterNode starts a node whose HOME (dir) holds the shared cookie.
func startClusterNode(dir, cookie string) (*RabbitMQ, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ".erlang.cookie"), []byte(cookie), 0o400); err != nil {
		return nil, err
	}
	return NewRabbitMQ(dir)
}

// join makes r a member of first's cluster (join_cluster resets the node's own data) and
// waits until it serves AMQP and STOMP again.
func (r *RabbitMQ) join(first *RabbitMQ) error {
	for _, args := range [][]string{{"stop_app"}, {"join_cluster", first.NodeName()}, {"start_app"}} {
		if _, err := r.Ctl("", args...); err != nil {
			return fmt.Errorf("joining %s to %s: %w", r.NodeName(), first.NodeName(), err)
		}
	}
	if !wait.Until(30*time.Second, func() bool { return r.amqpReady() && portOpen(r.STOMPPort) }) {
		return fmt.Errorf("%s not serving within 30s of joining the cluster", r.NodeName())
	}
	return nil
}

// URLs is the comma-separated AMQP URLs of every node (what --rabbit-url takes), with
// each node's login (SetLogin).
func (c *RabbitCluster) URLs() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = n.URL()
	}
	return strings.Join(urls, ",")
}

// STOMPHosts is the frontends' RABBIT_HOSTS: host:port of every node's STOMP listener.
func (c *RabbitCluster) STOMPHosts() string {
	hosts := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		hosts[i] = fmt.Sprintf("127.0.0.1:%d", n.STOMPPort)
	}
	return strings.Join(hosts, ",")
}

// SetLogin makes every node's URL log in as user.
func (c *RabbitCluster) SetLogin(user, password string) {
	for _, n := range c.Nodes {
		n.SetLogin(user, password)
	}
}

// Running is the names of the cluster's running nodes as node i sees them
// (rabbitmqctl cluster_status).
func (c *RabbitCluster) Running(i int) ([]string, error) {
	out, err := c.Nodes[i].Ctl("", "cluster_status", "--formatter", "json")
	if err != nil {
		return nil, err
	}
	var st struct {
		Running []string `json:"running_nodes"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("reading cluster_status of %s: %w", c.Nodes[i].NodeName(), err)
	}
	return st.Running, nil
}

// Close stops every node, the last joined first.
func (c *RabbitCluster) Close() {
	for i := len(c.Nodes) - 1; i >= 0; i-- {
		if c.Nodes[i] != nil {
			c.Nodes[i].Close()
		}
	}
}
