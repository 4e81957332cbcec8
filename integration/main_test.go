// Package integration holds end-to-end tests against real servers: a private RabbitMQ node
// (with STOMP), nginx with the repository's frontend configuration, and the Go daemons.
package integration

import (
	"os"
	"testing"

	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
)

// sharedRabbit is the one RabbitMQ node of this package's tests (a node takes seconds to
// start). Tests keep apart by using their own queue names; a test that stops or restarts the
// node must not call t.Parallel, so no other test runs meanwhile.
var sharedRabbit *servers.RabbitMQ

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithRabbitMQ(m, &sharedRabbit))
}
