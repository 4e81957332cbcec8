package runner

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/funcatron/funcatron/internal/logging"
	"github.com/funcatron/funcatron/internal/protocol"
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
	sha := tr.upload(fnBundle(t, host, path, "workers: 1"))
	tr.enableOK(r.Inbox(), sha, host, path, protocol.Props{"greeting": "hi"})
	queue := protocol.RouteQueue(host, path)
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
// the bundles' output among them, with the bundle's sha and route (host, path) in attrs.
func TestBundleOutputShipped(t *testing.T) {
	t.Parallel()
	got := loggingQueue(t)
	tr := newTron(t)
	logs, err := logging.Open(testenv.NewLogWriter(t), "runner", "info", "text")
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
			t.Fatal("the bundle's stderr line did not reach funcatron.logging within 20s")
		}
	}
}

// loggingQueue declares funcatron.logging (the Tron's, in production) and binds a fresh
// queue to all of it.
func loggingQueue(t *testing.T) <-chan amqp.Delivery {
	t.Helper()
	conn, err := amqp.Dial(rabbit.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare(logging.Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err == nil {
		err = ch.QueueBind(q.Name, "#", logging.Exchange, false, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	d, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
