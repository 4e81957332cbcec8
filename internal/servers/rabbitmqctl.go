package servers

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
)

// rabbitmqctlBin is Debian's CLI script that runs as the calling user (the /usr/sbin wrapper
// drops to the rabbitmq user, which cannot read our node's Erlang cookie).
const rabbitmqctlBin = "/usr/lib/rabbitmq/bin/rabbitmqctl"

// NodeName is the node's Erlang name (rabbitmqctl -n).
func (r *RabbitMQ) NodeName() string {
	return fmt.Sprintf("funcatron-test-%d@localhost", r.AMQPPort)
}

// CtlCommand is a command prefix that runs rabbitmqctl against this node: the words of
// `env HOME=<dir> ... rabbitmqctl -n <node>` (the Erlang cookie lives in the node's HOME).
// scripts/broker-users.sh takes it as $RABBITMQCTL, joined with spaces (the node's paths
// hold none).
func (r *RabbitMQ) CtlCommand() []string {
	return append(append([]string{"env", "-i"}, r.env()...), rabbitmqctlBin, "-n", r.NodeName())
}

// Ctl runs rabbitmqctl against this node with args and stdin, and returns its stdout; a
// failure carries stderr.
func (r *RabbitMQ) Ctl(stdin string, args ...string) (string, error) {
	argv := append(r.CtlCommand(), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("rabbitmqctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}
