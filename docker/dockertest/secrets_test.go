package dockertest

import (
	"os"
	"sort"
	"strings"
	"testing"
)

// secretsOf is what each role's container must see under /run/funcatron/secrets (mode, owner
// uid, name) and the uid it runs as: only the secrets it reads, owned by it, 0600.
var secretsOf = map[string]struct {
	uid   string
	files []string
}{
	"tron":     {"10001", []string{"600 10001 admin-token", "600 10001 broker-tron-password", "600 10001 bus-key", "600 10001 frontend-key"}},
	"runner":   {"0", []string{"600 0 broker-runner-password", "600 0 bus-key"}},
	"frontend": {"10002", []string{"600 10002 broker-frontend-password", "600 10002 frontend-key"}},
}

// checkSecrets: each container holds exactly its secrets with the right owner and mode and
// runs as its user; the broker has the three role users and no guest; no image carries an
// Erlang cookie (a fixed secret every container of the image would share).
func checkSecrets(t *testing.T, p *project) {
	for role, want := range secretsOf {
		out, err := p.compose("exec", "-T", role, "sh", "-c", "id -u; cd /run/funcatron/secrets && stat -c '%a %u %n' *")
		if err != nil {
			t.Errorf("%s: %v", role, err)
			continue
		}
		lines := strings.Split(out, "\n")
		if lines[0] != want.uid {
			t.Errorf("%s runs as uid %s, want %s", role, lines[0], want.uid)
		}
		got := lines[1:]
		sort.Strings(got)
		if strings.Join(got, "\n") != strings.Join(want.files, "\n") {
			t.Errorf("%s's secrets:\n%s\nwant:\n%s", role, strings.Join(got, "\n"), strings.Join(want.files, "\n"))
		}
	}
	users, err := p.compose("exec", "-T", "rabbitmq", "rabbitmqctl", "-q", "list_users", "--no-table-headers")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(users, "\n") {
		names = append(names, strings.Fields(line)[0])
	}
	sort.Strings(names)
	if got := strings.Join(names, " "); got != "funcatron-frontend funcatron-runner funcatron-tron" {
		t.Errorf("broker users %q, want the three role users and no guest", got)
	}
	for _, img := range images {
		if _, err := run(os.Environ(), "docker", "run", "--rm", "--network", "none", "--entrypoint", "sh", img+":"+imageTag(),
			"-c", "! ls -a /var/lib/rabbitmq/.erlang.cookie /root/.erlang.cookie 2>/dev/null"); err != nil {
			t.Errorf("image %s carries an Erlang cookie: %v", img, err)
		}
	}
}
