package stack

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/funcatron/funcatron/internal/servers"
)

// Broker roles (spec/protocol.md §7 "Least privilege on the broker"): each process gets
// only its own role's user, made by scripts/broker-users.sh.
const (
	RoleTron     = "tron"
	RoleRunner   = "runner"
	RoleFrontend = "frontend"
)

// BrokerUser is a role's RabbitMQ login.
type BrokerUser struct {
	Name, Password string
}

// brokerUsers runs scripts/broker-users.sh against node (per-role users, guest deleted),
// with the passwords kept in secrets (a second run of the same directory reuses them), and
// returns each role's login.
func brokerUsers(node *servers.RabbitMQ, secrets string) (map[string]BrokerUser, error) {
	script := filepath.Join(servers.RepoRoot(), "scripts", "broker-users.sh")
	cmd := exec.Command("bash", script, secrets)
	cmd.Env = append(os.Environ(), "RABBITMQCTL="+strings.Join(node.CtlCommand(), " "))
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("scripts/broker-users.sh: %v\n%s", err, out)
	}
	users := map[string]BrokerUser{}
	for _, role := range []string{RoleTron, RoleRunner, RoleFrontend} {
		b, err := os.ReadFile(filepath.Join(secrets, "broker-"+role+"-password"))
		if err != nil {
			return nil, err
		}
		pw, _, _ := strings.Cut(string(b), "\n") // the script reads the first line too
		users[role] = BrokerUser{Name: "funcatron-" + role, Password: pw}
	}
	return users, nil
}

// BrokerURL is the AMQP URL of the stack's broker with role's login; for a cluster, the
// comma-separated URLs of every node (what --rabbit-url takes).
func (s *Stack) BrokerURL(role string) string {
	u := s.BrokerUsers[role]
	var urls []string
	for _, n := range s.brokerNodes() {
		urls = append(urls, fmt.Sprintf("amqp://%s@127.0.0.1:%d/", url.UserPassword(u.Name, u.Password).String(), n.AMQPPort))
	}
	return strings.Join(urls, ",")
}
