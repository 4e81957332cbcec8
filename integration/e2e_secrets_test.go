package integration

// The stack's secrets (issue 9 part 5 and 6, docs/security.md): no secret in a command line,
// each daemon holding only its own role's broker login, and using it; guest gone.

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/stack"
)

// e2eTestSecrets: no process on the machine has the admin token or a broker password in its
// command line (world-readable in /proc); the Tron's, each runner's and nginx's environment
// holds its own role's broker password and no other; a bundle process holds none; the broker
// sees exactly the three role users connected; guest cannot log in.
func e2eTestSecrets(t *testing.T, s *e2eStack) {
	secrets := map[string]string{"the admin token": s.Token}
	for role, u := range s.BrokerUsers {
		secrets[role+"'s broker password"] = u.Password
	}
	t.Run("NoSecretInAnyCommandLine", func(t *testing.T) {
		for _, pid := range e2eAllPIDs(t) {
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err != nil {
				continue // gone meanwhile
			}
			for what, secret := range secrets {
				if bytes.Contains(cmdline, []byte(secret)) {
					t.Errorf("process %d has %s in its command line: %q", pid, what, cmdline)
				}
			}
		}
	})
	t.Run("EachDaemonHoldsOnlyItsRole", func(t *testing.T) {
		// nginx reuses its environment's memory for its process titles, so /proc shows what
		// its processes do not hold, not what they do: the broker's view below covers that.
		daemons := map[int]string{s.Tron.PID(): stack.RoleTron, e2eNginxMaster(t, s): stack.RoleFrontend}
		for _, r := range s.Runners {
			daemons[r.PID()] = stack.RoleRunner
		}
		for _, pid := range e2eWorkerPIDs(t, s) {
			daemons[pid] = stack.RoleFrontend
		}
		for pid, own := range daemons {
			env := e2eEnviron(t, pid)
			for role, u := range s.BrokerUsers {
				has := bytes.Contains(env, []byte(u.Password))
				if role != own && has {
					t.Errorf("%s process %d holds %s's broker password", own, pid, role)
				}
				if role == own && own != stack.RoleFrontend && !has {
					t.Errorf("%s process %d does not hold its own broker password", own, pid)
				}
			}
			if bytes.Contains(env, []byte(s.Token)) {
				t.Errorf("%s process %d has the admin token in its environment", own, pid)
			}
		}
	})
	t.Run("BundleProcessesHoldNoSecret", func(t *testing.T) {
		runners := map[int]bool{}
		for _, r := range s.Runners {
			runners[r.PID()] = true
		}
		n := 0
		for _, pid := range e2eAllPIDs(t) {
			if !runners[e2eParent(pid)] {
				continue
			}
			n++
			env := e2eEnviron(t, pid)
			for what, secret := range secrets {
				if bytes.Contains(env, []byte(secret)) {
					t.Errorf("bundle process %d has %s in its environment", pid, what)
				}
			}
		}
		if n == 0 {
			t.Error("found no bundle process under the runners")
		}
	})
	t.Run("BrokerSeesTheRoleUsers", func(t *testing.T) {
		amqpUsers := e2eCtlColumn(t, s, "list_connections", "user")
		want := map[string]bool{"funcatron-" + stack.RoleTron: true, "funcatron-" + stack.RoleRunner: true}
		if !maps.Equal(amqpUsers, want) {
			t.Errorf("AMQP connections of users %v, want %v", amqpUsers, want)
		}
		stompUsers := e2eCtlColumn(t, s, "list_stomp_connections", "auth_login")
		if want := map[string]bool{"funcatron-" + stack.RoleFrontend: true}; !maps.Equal(stompUsers, want) {
			t.Errorf("STOMP connections of users %v, want %v", stompUsers, want)
		}
	})
	t.Run("GuestCannotLogIn", func(t *testing.T) {
		c, err := amqp.Dial(fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", s.Rabbit.AMQPPort))
		if err == nil {
			c.Close()
			t.Fatal("guest logged in")
		}
	})
}

// e2eCtlColumn is the set of values of one column of a rabbitmqctl listing.
func e2eCtlColumn(t *testing.T, s *e2eStack, command, column string) map[string]bool {
	t.Helper()
	out, err := s.Rabbit.Ctl("", command, column, "--quiet", "--no-table-headers")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, v := range strings.Fields(out) {
		set[v] = true
	}
	return set
}

// e2eAllPIDs lists every process on the machine.
func e2eAllPIDs(t *testing.T) []int {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, d := range dirs {
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// e2eParent is a process's parent pid (0 when it is gone).
func e2eParent(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses, so after the last ')'.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

func e2eEnviron(t *testing.T, pid int) []byte {
	t.Helper()
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatalf("reading the environment of process %d: %v", pid, err)
	}
	return env
}

// e2eNginxMaster is the pid of nginx's master process (from its pid file).
func e2eNginxMaster(t *testing.T, s *e2eStack) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Nginx.Prefix, "nginx.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}
