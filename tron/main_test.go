package tron

import (
	"fmt"
	"os"
	"testing"

	"github.com/funcatron/funcatron/internal/testenv"
)

// broker is the one RabbitMQ node the package's tests share (a node takes seconds to
// start); each test uses a Tron queue of its own, so tests do not see each other's nodes.
var broker *testenv.RabbitMQ

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tron-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	broker, err = testenv.NewRabbitMQ(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting RabbitMQ:", err)
		return 1
	}
	defer broker.Close()
	return m.Run()
}
