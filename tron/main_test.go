package tron

import (
	"os"
	"testing"

	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
)

// broker is the one RabbitMQ node the package's tests share (a node takes seconds to
// start); each test uses a Tron queue of its own, so tests do not see each other's nodes.
var broker *servers.RabbitMQ

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithRabbitMQ(m, &broker))
}
