package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/logging"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/rtconfig"
	"github.com/funcatron/funcatron/internal/testenv"
)

// TestAnswerHeaderForms (issue 14 c): a request that says "answer-headers": "pairs" (our
// frontend) gets its answer's headers as [name, value] pairs; one without (the 2017
// frontend, which does ngx.header[name] = value over them) gets the map form, a repeated
// header as an array. Both keep both Set-Cookie values, and the body stays last.
func TestAnswerHeaderForms(t *testing.T) {
	t.Parallel()
	tr := newTron(t)
	r := startRunner(t, tr)
	host, path := uniq(t)+".example", "/forms"
	_, queue := tr.serveFn(r.Inbox(), host, path, protocol.Props{"greeting": "hi"}, "workers: 1")
	fe := newFrontend(t)
	for _, tc := range []struct {
		form, want string
	}{
		{"", `"headers":{`},
		{protocol.AnswerHeadersPairs, `"headers":[[`},
	} {
		svc := service(host, "GET", path+"/hello/bob", nil)
		svc.AnswerHeaders = tc.form
		id := fe.publish(queue, svc)
		a := fe.answer(id, 20*time.Second)
		fe.mu.Lock()
		raw := fe.raw[id]
		fe.mu.Unlock()
		if !bytes.Contains(raw, []byte(tc.want)) || !bytes.HasSuffix(raw, []byte(`"}}`)) {
			t.Errorf("answer-headers %q: answer %s, want %s and the body last", tc.form, raw, tc.want)
		}
		if tc.form == "" && !bytes.Contains(raw, []byte(`"Set-Cookie":["a=1","b=2"]`)) {
			t.Errorf("map form without Set-Cookie as an array: %s", raw)
		}
		if got := header(a, "Set-Cookie"); !slices.Equal(got, []string{"a=1", "b=2"}) {
			t.Errorf("answer-headers %q: Set-Cookie = %q", tc.form, got)
		}
	}
}

// TestBundleOutputShipped: a runner with Options.Logs ships its records to funcatron.logging,
// the bundles' output among them, with the bundle's sha and route (host, path) in attrs;
// at --log-level warn too (the bundle's output is its author's data: logging.ShipAlways).
func TestBundleOutputShipped(t *testing.T) {
	t.Parallel()
	for _, level := range []string{"info", "warn"} {
		t.Run(level, func(t *testing.T) { testBundleOutputShipped(t, level) })
	}
}

func testBundleOutputShipped(t *testing.T, level string) {
	got := loggingQueue(t)
	tr := newTron(t)
	logs, err := logging.Open(testenv.NewLogWriter(t), "runner", level, "text")
	if err != nil {
		t.Fatal(err)
	}
	r := startRunner(t, tr, func(o *Options) { o.Logs, o.Logger = logs, logs.Logger })
	host, path := uniq(t)+".example", "/out"
	sha := tr.upload(fnBundle(t, host, path, "env: {START: exit}"))
	tr.enable(r.Inbox(), sha, host, path, nil)
	deadline := time.After(20 * time.Second)
	for {
		select {
		case d := <-got:
			var rec logging.Record
			if err := json.Unmarshal(d.Body, &rec); err != nil {
				t.Fatalf("%v: %s", err, d.Body)
			}
			if rec.Msg != "fn: refusing to start" {
				continue
			}
			if d.RoutingKey != "info" || rec.Component != "runner" || rec.ID != r.Inbox() ||
				rec.Attrs["sha"] != sha || rec.Attrs["host"] != host || rec.Attrs["path"] != path || rec.Attrs["stream"] != "stderr" {
				t.Errorf("bundle output record: key %q %s", d.RoutingKey, d.Body)
			}
			return
		case <-deadline:
			t.Fatalf("the bundle's stderr line did not reach funcatron.logging within 20s at --log-level %s", level)
		}
	}
}

// loggingQueue declares funcatron.logging (the Tron's, in production) and binds a fresh
// queue to all of it.
func loggingQueue(t *testing.T) <-chan amqp.Delivery {
	t.Helper()
	_, ch := testenv.AMQPChannel(t, rabbit.URL())
	if err := ch.ExchangeDeclare(logging.Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	return testenv.Subscribe(t, rabbit.URL(), logging.Exchange, "#")
}

// configClient is a requester on funcatron.configuration holding the runner key (the
// Tron's role), on its own queue.
func configClient(t *testing.T, key []byte) *rtconfig.Endpoint {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := amqpbus.Dial(ctx, rabbit.URL(), amqpbus.Options{Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Declare(ctx, amqpbus.ConfigurationExchange()); err != nil {
		t.Fatal(err)
	}
	queue := "TR-" + uuid.NewString() + ".config"
	e := rtconfig.NewEndpoint(conn, key, queue, rtconfig.Node{ID: "client", Component: "test",
		Get: func() map[string]string { return nil }, Set: func(string, string) error { return errors.New("no") }}, testenv.Logger(t), nil)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done; conn.Close() })
	return e
}

// answerOf calls method on the runner alone, until its endpoint is bound and answers.
func answerOf(t *testing.T, e *rtconfig.Endpoint, r *Runner, method, key, value string) rtconfig.Answer {
	t.Helper()
	var got rtconfig.Answer
	testenv.WaitFor(t, 20*time.Second, "the runner answering "+method, func() bool {
		as, err := e.Call(context.Background(), method, rtconfig.Request{Key: key, Value: value, Nodes: []string{r.Inbox()}}, 1, time.Second)
		if err != nil || len(as) == 0 {
			return false
		}
		got = as[0]
		return true
	})
	return got
}

// TestConfigAndStatsd (issue 14 parts 3, 4): a runner answers methods.get and methods.set
// on funcatron.configuration (signed with the runner key): its log level changes at run
// time, and once a StatsD target is set it sends per-route counters and timings over UDP,
// named after the route's host and path, which a socket of the test receives. A request
// signed with another key gets no answer.
func TestConfigAndStatsd(t *testing.T) {
	t.Parallel()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tr := newTron(t)
	logs, err := logging.Open(testenv.NewLogWriter(t), "runner", "info", "text")
	if err != nil {
		t.Fatal(err)
	}
	r := startRunner(t, tr, func(o *Options) { o.Logs, o.Logger = logs, logs.Logger })
	e := configClient(t, harnessKey)

	if a := answerOf(t, e, r, rtconfig.MethodGet, "", ""); a.Values[rtconfig.KeyLogLevel] != "info" || a.Values[rtconfig.KeyStatsd] != "off" || a.Component != "runner" {
		t.Errorf("get: %+v", a)
	}
	if a := answerOf(t, e, r, rtconfig.MethodSet, rtconfig.KeyLogLevel, "debug"); !a.OK || logs.Level.Level() != slog.LevelDebug || a.Values[rtconfig.KeyLogLevel] != "debug" {
		t.Errorf("set log-level: %+v, level now %v", a, logs.Level.Level())
	}
	if a := answerOf(t, e, r, rtconfig.MethodSet, rtconfig.KeyLogLevel, "loud"); a.OK || a.Error == "" {
		t.Errorf("a bad level was taken: %+v", a)
	}
	if a := answerOf(t, e, r, rtconfig.MethodSet, rtconfig.KeyStatsd, udp.LocalAddr().String()); !a.OK {
		t.Fatalf("set statsd: %+v", a)
	}

	host, path := uniq(t)+".Example", "/stats/v1"
	sha := tr.upload(fnBundle(t, host, path, "workers: 1"))
	tr.enableOK(r.Inbox(), sha, host, path, protocol.Props{"greeting": "hi"})
	fe := newFrontend(t)
	fe.do(protocol.RouteQueue(host, path), service(host, "GET", path+"/hello/x", nil))
	fe.do(protocol.RouteQueue(host, path), service(host, "GET", path+"/crash", nil))
	name := "funcatron." + sanitize(host) + ".stats_v1"
	var got []string
	udp.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2048)
	for len(got) < 2 {
		n, _, err := udp.ReadFrom(buf)
		if err != nil {
			t.Fatalf("StatsD datagrams so far %q: %v", got, err)
		}
		got = append(got, string(buf[:n]))
	}
	if !strings.HasPrefix(got[0], name+".requests:1|c\n"+name+".duration:") || !strings.HasSuffix(got[0], "|ms") || strings.Contains(got[0], "errors") {
		t.Errorf("first request's datagram %q, want requests and duration of %s", got[0], name)
	}
	if !strings.Contains(got[1], name+".errors:1|c\n") {
		t.Errorf("the crash's datagram %q has no error count", got[1])
	}

	forger := configClient(t, []byte("not-the-runner-key-0123456789abcdef"))
	as, err := forger.Call(context.Background(), rtconfig.MethodSet, rtconfig.Request{Key: rtconfig.KeyLogLevel, Value: "error", Nodes: []string{r.Inbox()}}, 1, 2*time.Second)
	if !errors.Is(err, rtconfig.ErrNoAnswer) || logs.Level.Level() != slog.LevelDebug {
		t.Errorf("a request signed with another key: answers %+v, err %v, level %v", as, err, logs.Level.Level())
	}
}
