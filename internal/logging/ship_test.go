package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/logging"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

// syncBuffer is the process's stderr: the text handler writes to it from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Count(s.b.Bytes(), []byte("\n"))
}

// TestShipToRabbitMQ: records at or above the level reach funcatron.logging on a real
// broker, keyed by their RackHD level name, with {component, id, at, msg, attrs}; below the
// level nothing is shipped. Then the broker is stopped: logging goes on at full speed (the
// text handler gets every line), and what cannot be shipped is counted as dropped.
func TestShipToRabbitMQ(t *testing.T) {
	rabbit := testenv.StartRabbitMQ(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := amqpbus.Dial(ctx, rabbit.URL(), amqpbus.Options{Logger: testenv.Logger(t), MaxBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := amqpbus.DeclareBase(ctx, conn, protocol.QueueClassic); err != nil {
		t.Fatal(err)
	}
	got := testenv.Subscribe(t, rabbit.URL(), logging.Exchange, "#")
	var stderr syncBuffer
	logs, err := logging.Open(&stderr, "runner", "info", "text")
	if err != nil {
		t.Fatal(err)
	}
	stop := logs.Shipper.Start("RU-test", func(ctx context.Context, exchange, key string, body []byte) error {
		return conn.Publish(ctx, amqpbus.Publishing{Exchange: exchange, Key: key, ContentType: "application/json", Body: body})
	})
	defer stop()

	log := logs.Logger.With("sha", "ab12").WithGroup("req")
	log.Debug("not shipped: below info")
	log.Info("hello", "n", 3)
	log.Warn("careful", "err", errors.New("boom"))
	log.Error("broken")
	log.Log(ctx, logging.LevelEmerg, "on fire")
	want := []struct{ key, msg string }{{"info", "hello"}, {"warning", "careful"}, {"error", "broken"}, {"emerg", "on fire"}}
	for i, w := range want {
		select {
		case d := <-got:
			var r logging.Record
			if err := json.Unmarshal(d.Body, &r); err != nil {
				t.Fatalf("record %d: %v: %s", i, err, d.Body)
			}
			if d.RoutingKey != w.key || r.Msg != w.msg || r.Component != "runner" || r.ID != "RU-test" || r.At == 0 || r.Attrs["sha"] != "ab12" {
				t.Errorf("record %d: key %q body %s, want key %q msg %q", i, d.RoutingKey, d.Body, w.key, w.msg)
			}
			if i == 0 && r.Attrs["req.n"] != 3.0 {
				t.Errorf("grouped attribute: %v", r.Attrs)
			}
			if i == 1 && r.Attrs["req.err"] != "boom" {
				t.Errorf("error attribute: %v", r.Attrs)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("record %d (%s) did not arrive", i, w.msg)
		}
	}

	rabbit.Stop()
	const n = 5000
	start := time.Now()
	for i := 0; i < n; i++ {
		logs.Logger.Info("while the broker is gone", "i", i)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("%d records took %v with the broker stopped: logging waited for it", n, took)
	}
	if lines := stderr.lines(); lines < n+4 {
		t.Errorf("stderr has %d lines, want at least %d", lines, n+4)
	}
	testenv.WaitFor(t, 10*time.Second, "the records that could not be shipped counted", func() bool {
		return logs.Shipper.Dropped() >= n-1024-1
	})
	if s := logs.Shipper.Shipped(); s < 4 {
		t.Errorf("shipped %d, want at least the 4 confirmed", s)
	}
}

// TestShipOneComponent: a record logged with its own component attribute (amqpbus under the
// runner's logger) ships with that component and without the attribute; a record without
// one ships with the process's. One component per record.
func TestShipOneComponent(t *testing.T) {
	logs, err := logging.Open(io.Discard, "runner", "info", "text")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan logging.Record, 2)
	stop := logs.Shipper.Start("RU-test", func(_ context.Context, _, _ string, body []byte) error {
		var r logging.Record
		if err := json.Unmarshal(body, &r); err != nil {
			t.Errorf("%v: %s", err, body)
		}
		got <- r
		return nil
	})
	defer stop()
	logs.Logger.With("component", "amqpbus", "inbox", "RU-test").Info("re-subscribing")
	logs.Logger.Info("own line")
	for _, want := range []struct{ msg, component string }{{"re-subscribing", "amqpbus"}, {"own line", "runner"}} {
		select {
		case r := <-got:
			if _, dup := r.Attrs["component"]; r.Msg != want.msg || r.Component != want.component || dup {
				t.Errorf("record %+v, want msg %q with component %q and no component attribute", r, want.msg, want.component)
			}
			if want.component == "amqpbus" && r.Attrs["inbox"] != "RU-test" {
				t.Errorf("the other attributes are kept: %v", r.Attrs)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("record %q was not shipped", want.msg)
		}
	}
}

// TestShipPausesAfterFailure: after a publish fails (funcatron.logging missing, broker
// gone) the next one waits a second, so a missing exchange costs the broker one channel
// error a second, not one per record.
func TestShipPausesAfterFailure(t *testing.T) {
	logs, err := logging.Open(io.Discard, "runner", "info", "text")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var calls []time.Time
	stop := logs.Shipper.Start("RU-test", func(context.Context, string, string, []byte) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, time.Now())
		return errors.New("404 no exchange")
	})
	defer stop()
	logs.Logger.Info("one")
	logs.Logger.Info("two")
	testenv.WaitFor(t, 5*time.Second, "both records dropped", func() bool { return logs.Shipper.Dropped() == 2 })
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 {
		t.Fatalf("%d publishes, want 2", len(calls))
	}
	if gap := calls[1].Sub(calls[0]); gap < 900*time.Millisecond {
		t.Errorf("second publish %v after the failed first, want about a second", gap)
	}
}

// TestShipAlways: at --log-level warn, a ShipAlways logger (the bundles' output) ships its
// info lines but the process's stderr does not get them; the other loggers ship and print
// warnings only.
func TestShipAlways(t *testing.T) {
	var stderr syncBuffer
	logs, err := logging.Open(&stderr, "runner", "warn", "text")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan logging.Record, 10)
	stop := logs.Shipper.Start("RU-test", func(_ context.Context, _, _ string, body []byte) error {
		var r logging.Record
		json.Unmarshal(body, &r)
		got <- r
		return nil
	})
	defer stop()
	logs.Logger.Info("runner chatter")
	logging.ShipAlways(logs.Logger.With("bundle_output", true)).Info("the bundle's line")
	logs.Logger.Warn("runner warning")
	for _, want := range []string{"the bundle's line", "runner warning"} {
		select {
		case r := <-got:
			if r.Msg != want || (want == "the bundle's line" && r.Level != "info") {
				t.Errorf("shipped %+v, want %q", r, want)
			}
			if want == "the bundle's line" && r.Attrs["bundle_output"] != true {
				t.Errorf("the bundle's line lost its attributes: %v", r.Attrs)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q was not shipped", want)
		}
	}
	stderr.mu.Lock()
	defer stderr.mu.Unlock()
	if out := stderr.b.String(); strings.Contains(out, "chatter") || strings.Contains(out, "bundle's line") || !strings.Contains(out, "runner warning") {
		t.Errorf("stderr at warn = %q, want the warning only", out)
	}
}
