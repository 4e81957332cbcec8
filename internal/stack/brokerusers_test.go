package stack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/rtconfig"
	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
)

// TestBrokerUsers runs scripts/broker-users.sh on a fresh node and checks the claims of its
// permission design (docs/security.md): guest is gone, each role can do what it does in
// Funcatron, and cannot do what it must not. The stack-based suites (integration/, bench)
// prove the permissions are sufficient for the real processes.
func TestBrokerUsers(t *testing.T) {
	node := testenv.StartRabbitMQ(t)
	// Before the script, while guest still exists: a login without credentials must not
	// become guest (no stomp.default_user), though guest's own login works.
	t.Run("STOMPNeedsALogin", func(t *testing.T) {
		if got := stompConnect(t, node.STOMPPort, nil); got != "ERROR" {
			t.Errorf("a STOMP CONNECT without login got %s, want ERROR", got)
		}
		if got := stompConnect(t, node.STOMPPort, []string{"login:guest", "passcode:guest"}); got != "CONNECTED" {
			t.Errorf("a STOMP CONNECT as guest got %s, want CONNECTED (the check above proves nothing)", got)
		}
	})
	secrets := filepath.Join(t.TempDir(), "secrets")
	users, err := brokerUsers(node, secrets)
	if err != nil {
		t.Fatal(err)
	}
	url := func(role string) string {
		s := &Stack{Rabbit: node, BrokerUsers: users}
		return s.BrokerURL(role)
	}
	t.Run("GuestCannotLogIn", func(t *testing.T) {
		_, err := amqp.Dial(fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", node.AMQPPort))
		var ae *amqp.Error
		if !errors.As(err, &ae) || ae.Code != amqp.AccessRefused {
			t.Fatalf("guest logging in: %v, want ACCESS_REFUSED (403)", err)
		}
	})
	t.Run("SecretFiles", func(t *testing.T) { checkSecretFiles(t, secrets) })
	t.Run("Idempotent", func(t *testing.T) {
		again, err := brokerUsers(node, secrets)
		if err != nil {
			t.Fatal(err)
		}
		for role, u := range users {
			if again[role] != u {
				t.Errorf("a second run changed %s's login", role)
			}
		}
	})
	route := protocol.RouteQueue("perm.example.com", "/api")
	inbox := protocol.FrontendInboxPrefix + "7c1e0b8e-5f4e-4a8e-9d55-2f6f0c1b7d10"
	// What each role does (the order matters: the Tron's topology first).
	t.Run("TronDoesItsPart", func(t *testing.T) { tronDoesItsPart(t, url(RoleTron), route) })
	t.Run("RunnerDoesItsPart", func(t *testing.T) { runnerDoesItsPart(t, url(RoleRunner), route) })
	t.Run("FrontendDoesItsPart", func(t *testing.T) { frontendDoesItsPart(t, url(RoleFrontend), inbox, route) })
	t.Run("DeadLettersBoundedInBytes", func(t *testing.T) { deadLettersBounded(t, node, secrets, url) })
	t.Run("FrontendCannot", func(t *testing.T) {
		denied(t, url(RoleFrontend), []deniedOp{
			{"consume a route queue", consume(route)},
			{"consume for_tron", consume(protocol.DefaultTronQueue)},
			{"consume funcatron.dead", consume(protocol.DeadLetterQueue)},
			{"declare a route queue", declareRoute(route)},
			{"delete a route queue", deleteQueue(route)},
			{"delete for_tron", deleteQueue(protocol.DefaultTronQueue)},
			{"purge a route queue", purge(route)},
			{"declare an exchange", declareExchange("funcatron.mine")},
			{"delete funcatron.events", deleteExchange(protocol.EventsExchange)},
			{"bind its inbox to funcatron.events", bindInbox(inbox+"-b", protocol.EventsExchange)},
			{"bind its inbox to funcatron.dead", bindInbox(inbox+"-b", protocol.DeadLetterExchange)},
			{"publish to funcatron.events", publish(protocol.EventsExchange)},
			{"declare a queue of another name", declareQueue("RU-x")},
			{"publish to funcatron.configuration", publish(protocol.ConfigurationExchange)},
			{"bind its inbox to funcatron.configuration", bindInbox(inbox+"-b", protocol.ConfigurationExchange)},
			{"bind its inbox to funcatron.logging", bindInbox(inbox+"-b", protocol.LoggingExchange)},
		})
	})
	t.Run("RunnerCannot", func(t *testing.T) {
		denied(t, url(RoleRunner), []deniedOp{
			{"consume for_tron", consume(protocol.DefaultTronQueue)},
			{"consume funcatron.dead", consume(protocol.DeadLetterQueue)},
			{"declare for_tron", declareQueue(protocol.DefaultTronQueue)},
			{"delete for_tron", deleteQueue(protocol.DefaultTronQueue)},
			{"purge for_tron", purge(protocol.DefaultTronQueue)},
			{"declare a frontend inbox", declareQueue(protocol.FrontendInboxPrefix + "x")},
			{"declare an exchange", declareExchange(protocol.EventsExchange)},
			{"delete funcatron.events", deleteExchange(protocol.EventsExchange)},
			{"bind its inbox to funcatron.events", bindInbox("RU-bind-test", protocol.EventsExchange)},
			{"bind its inbox to funcatron.dead", bindInbox("RU-bind-test", protocol.DeadLetterExchange)},
			{"publish to funcatron.events", publish(protocol.EventsExchange)},
			{"publish to funcatron.configuration (only the Tron asks)", publish(protocol.ConfigurationExchange)},
			{"bind its inbox to funcatron.configuration", bindInbox("RU-bind-test", protocol.ConfigurationExchange)},
			{"bind its inbox to funcatron.logging (only the Tron reads the logs)", bindInbox("RU-bind-test", protocol.LoggingExchange)},
			{"declare the Tron's logs queue", declareQueue("TR-0b9f1f7e-3333-4a2b-8c3d-000000000004.logs")},
		})
	})
	t.Run("TronCannot", func(t *testing.T) {
		denied(t, url(RoleTron), []deniedOp{
			{"declare a runner inbox", declareQueue(protocol.RunnerInboxPrefix + "x")},
			{"declare a frontend inbox", declareQueue(protocol.FrontendInboxPrefix + "x")},
		})
	})
}

// deadLettersBounded: broker-users.sh set its operator policy on funcatron.dead (declared
// by the Tron's part), 256 MiB by default; with FUNCATRON_DEAD_LETTER_MAX_BYTES at 1 MiB,
// four dead letters of 400 KiB leave the newest two in the queue: the policy is in effect.
func deadLettersBounded(t *testing.T, node *servers.RabbitMQ, secrets string, url func(string) string) {
	policies, err := node.Ctl("", "list_operator_policies", "--quiet", "--no-table-headers")
	if err != nil {
		t.Fatal(err)
	}
	if want := "/\tfuncatron-dead-bytes\t^funcatron\\.dead$\tqueues\t{\"max-length-bytes\":268435456}\t1"; !strings.Contains(policies, want) {
		t.Errorf("operator policies:\n%s\nwant the line %q", policies, want)
	}
	t.Setenv("FUNCATRON_DEAD_LETTER_MAX_BYTES", "1048576")
	if _, err := brokerUsers(node, secrets); err != nil {
		t.Fatal(err)
	}
	c := dialBus(t, url(RoleTron))
	for i := range 4 {
		p := amqpbus.Publishing{Exchange: protocol.DeadLetterExchange, Body: make([]byte, 400<<10), MessageID: fmt.Sprint("dead-", i)}
		if err := c.Publish(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitFor(t, 10*time.Second, "funcatron.dead at 2 messages (819200 bytes)", func() bool {
		return deadLetterQueue(t, node, "messages", "message_bytes") == "2\t819200"
	})
	_, ch := testenv.AMQPChannel(t, url(RoleTron))
	for _, want := range []string{"dead-2", "dead-3"} {
		d, ok, err := ch.Get(protocol.DeadLetterQueue, true)
		if err != nil || !ok || d.MessageId != want {
			t.Errorf("funcatron.dead gave %q (%v, %v), want %s: the oldest go first", d.MessageId, ok, err, want)
		}
	}
}

// deadLetterQueue is the given columns of funcatron.dead in rabbitmqctl list_queues,
// tab-separated.
func deadLetterQueue(t *testing.T, node *servers.RabbitMQ, columns ...string) string {
	t.Helper()
	out, err := node.Ctl("", append([]string{"list_queues", "--quiet", "--no-table-headers", "name"}, columns...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if name, rest, _ := strings.Cut(line, "\t"); name == protocol.DeadLetterQueue {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("no %s in\n%s", protocol.DeadLetterQueue, out)
	return ""
}

// stompConnect sends a STOMP CONNECT with the given extra headers and returns the command
// of the broker's answer (CONNECTED or ERROR).
func stompConnect(t *testing.T, port int, headers []string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	frame := "CONNECT\naccept-version:1.2\nhost:/\n"
	for _, h := range headers {
		frame += h + "\n"
	}
	if _, err := conn.Write([]byte(frame + "\n\x00")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the answer to CONNECT: %v", err)
	}
	return strings.TrimSpace(line)
}

func checkSecretFiles(t *testing.T, secrets string) {
	fi, err := os.Stat(secrets)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v, mode %v; want 0700", secrets, err, fi.Mode().Perm())
	}
	for _, role := range []string{RoleTron, RoleRunner, RoleFrontend} {
		p := filepath.Join(secrets, "broker-"+role+"-password")
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() < 32 {
			t.Errorf("%s: %v, mode %v, %d bytes; want 0600 and a 32-character password", p, err, fi.Mode().Perm(), fi.Size())
		}
	}
}

func dialBus(t *testing.T, url string) *amqpbus.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := amqpbus.Dial(ctx, url, amqpbus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tronDoesItsPart: the Tron's topology, inbox, route queue declaration and publishes, as
// tron/connect.go and tron/enable.go make them.
func tronDoesItsPart(t *testing.T, url, route string) {
	ctx := context.Background()
	c := dialBus(t, url)
	if err := amqpbus.DeclareBase(ctx, c, protocol.QueueClassic); err != nil {
		t.Fatalf("declaring the base topology: %v", err)
	}
	b, err := amqpbus.NewBus(ctx, c, amqpbus.BusOptions{Inbox: amqpbus.TronQueue(protocol.DefaultTronQueue, protocol.QueueClassic)})
	if err != nil {
		t.Fatalf("declaring for_tron: %v", err)
	}
	if err := b.DeclareRouteQueue(ctx, route); err != nil {
		t.Fatalf("declaring a route queue: %v", err)
	}
	if err := b.Publish(ctx, protocol.EventsExchange, "bundle.enabled.x", []byte("{}")); err != nil {
		t.Fatalf("publishing an event: %v", err)
	}
	if err := c.Publish(ctx, amqpbus.Publishing{Key: route, Body: []byte("{}")}); err != nil {
		t.Fatalf("publishing through the default exchange: %v", err)
	}
	mustConsume(t, url, protocol.DefaultTronQueue)
	configQueue(t, url, "TR-0b9f1f7e-2222-4a2b-8c3d-000000000002.config")
	declareAndConsume(t, url, amqpbus.TronLogsQueue("0b9f1f7e-3333-4a2b-8c3d-000000000003", 10))
	if err := c.Publish(ctx, amqpbus.Publishing{Exchange: protocol.ConfigurationExchange, Key: rtconfig.MethodGet, Body: []byte("{}")}); err != nil {
		t.Fatalf("publishing a configuration request: %v", err)
	}
}

// configQueue declares a node's configuration queue as internal/rtconfig does (exclusive,
// bound to funcatron.configuration) and consumes it, on one connection.
func configQueue(t *testing.T, url, name string) {
	t.Helper()
	declareAndConsume(t, url, rtconfig.QueueSpec(name))
}

// declareAndConsume declares q with its bindings and consumes it, on one connection.
func declareAndConsume(t *testing.T, url string, q amqpbus.QueueSpec) {
	t.Helper()
	_, ch := testenv.AMQPChannel(t, url)
	if _, err := ch.QueueDeclare(q.Name, q.Durable, q.AutoDelete, q.Exclusive, false, q.Args); err != nil {
		t.Fatalf("declaring %s: %v", q.Name, err)
	}
	for _, b := range q.Bindings {
		if err := ch.QueueBind(q.Name, b.Key, b.Exchange, false, nil); err != nil {
			t.Fatalf("binding %s to %s: %v", q.Name, b.Exchange, err)
		}
	}
	if _, err := ch.Consume(q.Name, "", true, true, false, false, nil); err != nil {
		t.Fatalf("consuming %s: %v", q.Name, err)
	}
}

// runnerDoesItsPart: the runner's inbox, a route queue it serves, answers and control
// messages through the default exchange, as runner/transport.go makes them.
func runnerDoesItsPart(t *testing.T, url, route string) {
	ctx := context.Background()
	c := dialBus(t, url)
	if _, err := amqpbus.NewBus(ctx, c, amqpbus.BusOptions{Inbox: amqpbus.RunnerInbox("0b9f1f7e-1111-4a2b-8c3d-000000000001")}); err != nil {
		t.Fatalf("declaring its inbox: %v", err)
	}
	if err := c.Declare(ctx, amqpbus.RouteQueue(route, protocol.QueueClassic)); err != nil {
		t.Fatalf("declaring a route queue: %v", err)
	}
	if err := c.Declare(ctx, amqpbus.RouteQueue(protocol.RouteQueue("new.example.com", "/"), protocol.QueueClassic)); err != nil {
		t.Fatalf("creating a route queue: %v", err)
	}
	if err := c.Publish(ctx, amqpbus.Publishing{Key: protocol.DefaultTronQueue, Body: []byte("{}")}); err != nil {
		t.Fatalf("publishing to for_tron: %v", err)
	}
	if err := c.Publish(ctx, amqpbus.Publishing{Exchange: protocol.LoggingExchange, Key: "info", Body: []byte("{}")}); err != nil {
		t.Fatalf("publishing to funcatron.logging: %v", err)
	}
	mustConsume(t, url, route)
	configQueue(t, url, "RU-0b9f1f7e-1111-4a2b-8c3d-000000000001.config")
}

// frontendDoesItsPart: what the STOMP plugin does for the frontend's SUBSCRIBE to
// /queue/FRNT<uuid> (declare exclusive, auto-delete; consume) and its SENDs to
// /amq/queue/<route> and /amq/queue/for_tron (the default exchange).
func frontendDoesItsPart(t *testing.T, url, inbox, route string) {
	_, ch := testenv.AMQPChannel(t, url)
	if _, err := ch.QueueDeclare(inbox, false, true, true, false, nil); err != nil {
		t.Fatalf("declaring its inbox: %v", err)
	}
	if _, err := ch.Consume(inbox, "", true, true, false, false, nil); err != nil {
		t.Fatalf("consuming its inbox: %v", err)
	}
	c := dialBus(t, url)
	for _, q := range []string{route, protocol.DefaultTronQueue} {
		if err := c.Publish(context.Background(), amqpbus.Publishing{Key: q, Body: []byte("{}")}); err != nil {
			t.Fatalf("publishing to %s: %v", q, err)
		}
	}
}

func mustConsume(t *testing.T, url, queue string) {
	t.Helper()
	_, ch := testenv.AMQPChannel(t, url)
	if _, err := ch.Consume(queue, "", false, false, false, false, nil); err != nil {
		t.Fatalf("consuming %s: %v", queue, err)
	}
}

// deniedOp is something a role must not be able to do, on a channel of its own.
type deniedOp struct {
	what string
	do   func(ch *amqp.Channel) error
}

// denied checks that the broker refuses each op with ACCESS_REFUSED (403).
func denied(t *testing.T, url string, ops []deniedOp) {
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, op := range ops {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		closed := ch.NotifyClose(make(chan *amqp.Error, 1))
		err = op.do(ch)
		if err == nil { // an asynchronous refusal (publish) closes the channel
			select {
			case ae := <-closed:
				err = ae
			case <-time.After(5 * time.Second):
			}
		}
		var ae *amqp.Error
		if !errors.As(err, &ae) || ae.Code != amqp.AccessRefused {
			t.Errorf("it can %s (%v); want ACCESS_REFUSED", op.what, err)
		}
		ch.Close()
	}
}

func consume(q string) func(*amqp.Channel) error {
	return func(ch *amqp.Channel) error {
		_, err := ch.Consume(q, "", false, false, false, false, nil)
		return err
	}
}

func declareRoute(q string) func(*amqp.Channel) error {
	return func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(q, true, false, false, false, amqp.Table{"x-dead-letter-exchange": protocol.DeadLetterExchange})
		return err
	}
}

func declareQueue(q string) func(*amqp.Channel) error {
	return func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(q, false, true, false, false, nil)
		return err
	}
}

func deleteQueue(q string) func(*amqp.Channel) error {
	return func(ch *amqp.Channel) error {
		_, err := ch.QueueDelete(q, false, false, false)
		return err
	}
}

func purge(q string) func(*amqp.Channel) error {
	return func(ch *amqp.Channel) error {
		_, err := ch.QueuePurge(q, false)
		return err
	}
}

func declareExchange(name string) func(*amqp.Channel) error {
	return func(ch *amqp.Channel) error {
		return ch.ExchangeDeclare(name, amqp.ExchangeTopic, true, false, false, false, nil)
	}
}

func deleteExchange(name string) func(*amqp.Channel) error {
	return func(ch *amqp.Channel) error { return ch.ExchangeDelete(name, false, false) }
}

// bindInbox declares q (an inbox of the role's own kind, which it may declare) and binds it
// to exchange.
func bindInbox(q, exchange string) func(*amqp.Channel) error {
	return func(ch *amqp.Channel) error {
		if _, err := ch.QueueDeclare(q, false, true, true, false, nil); err != nil {
			return fmt.Errorf("declaring %s to bind it: %w", q, err)
		}
		return ch.QueueBind(q, "#", exchange, false, nil)
	}
}

func publish(exchange string) func(*amqp.Channel) error {
	return func(ch *amqp.Channel) error {
		return ch.PublishWithContext(context.Background(), exchange, "x", false, false, amqp.Publishing{Body: []byte("{}")})
	}
}
