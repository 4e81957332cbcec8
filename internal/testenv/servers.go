// The testing.TB wrappers of internal/servers.

package testenv

import (
	"fmt"
	"os"
	"testing"

	"github.com/funcatron/funcatron/internal/servers"
)

// StartRabbitMQ starts a node for one test and stops it in t.Cleanup.
func StartRabbitMQ(t testing.TB) *servers.RabbitMQ {
	t.Helper()
	r, err := servers.NewRabbitMQ(t.TempDir())
	if err != nil {
		t.Fatalf("starting RabbitMQ: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// StartRedis starts a redis-server for one test and stops it in t.Cleanup.
func StartRedis(t testing.TB) *servers.Redis {
	t.Helper()
	r, err := servers.NewRedis(t.TempDir())
	if err != nil {
		t.Fatalf("starting Redis: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// StartNginx starts a frontend nginx (servers.NewNginx) in a temp prefix and stops it in
// t.Cleanup, dumping the end of its error log if the test failed.
func StartNginx(t testing.TB, o servers.NginxOptions) *servers.Nginx {
	t.Helper()
	n, err := servers.NewNginx(t.TempDir(), o)
	if err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	t.Cleanup(func() {
		n.Stop()
		if t.Failed() {
			t.Logf("--- nginx error log (%s) ---\n%s", n.ErrorLogPath(), n.ErrorLogTail(6000))
		}
	})
	return n
}

// MainWithRabbitMQ is the body of a TestMain for a package whose tests share one broker
// (a node takes seconds to start): it starts a node in a temp dir, stores it in *r, runs the
// tests and stops the node. Its result is the exit code: os.Exit(MainWithRabbitMQ(m, &r)).
// A node that does not start fails the whole package, never skips it.
func MainWithRabbitMQ(m *testing.M, r **servers.RabbitMQ) int {
	dir, err := os.MkdirTemp("", "funcatron-rabbitmq-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	node, err := servers.NewRabbitMQ(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting RabbitMQ:", err)
		return 1
	}
	defer node.Close()
	*r = node
	return m.Run()
}
