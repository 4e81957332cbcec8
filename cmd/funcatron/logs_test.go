package main

import (
	"context"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/logging"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/funcatron/funcatron/tron"
)

// TestLogsSnapshotAndFollow: records a runner ships to funcatron.logging reach `funcatron
// logs`, filtered by bundle (sha prefix, title) and by route, times in RFC 3339, as a
// snapshot and followed (the stream, then `logs -f` through the command line).
func TestLogsSnapshotAndFollow(t *testing.T) {
	rabbit := testenv.StartRabbitMQ(t)
	tt := startTronWith(t, nil, func(o *tron.Options) { o.RabbitURL = rabbit.URL() })
	tt.cli(t, "upload", bundleFile(t, "lga", "1", "/lga", "1"))
	tt.cli(t, "upload", bundleFile(t, "lgb", "1", "/lgb", "2"))
	c := newClient(&globals{tron: tt.url, token: testToken}, io.Discard)
	shaA, err := c.resolve("lga", false)
	if err != nil {
		t.Fatal(err)
	}
	shaB, _ := c.resolve("lgb", false)
	conn, err := amqpbus.Dial(context.Background(), rabbit.URL(), amqpbus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ship := func(sha, path, msg string, output bool) {
		attrs := map[string]any{"sha": sha, "host": "", "path": path, "stream": "stderr"}
		if output {
			attrs["bundle_output"] = true
		}
		body, _ := json.Marshal(logging.Record{Component: "runner", ID: "RU-x", At: time.Now().UnixMilli(), Level: "info", Msg: msg, Attrs: attrs})
		if err := conn.Publish(context.Background(), amqpbus.Publishing{Exchange: protocol.LoggingExchange, Key: "info", Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	var out string
	testenv.WaitFor(t, 20*time.Second, "the bundle's line in funcatron logs", func() bool {
		ship(shaA, "/lga", "line of a", true) // again until the Tron's queue is bound
		out, _ = tt.cli(t, "logs", shaA[:8])
		return strings.Contains(out, "line of a")
	})
	ship(shaB, "/lgb", "line of b", true)
	ship(shaA, "/lga", "not output", false)
	testenv.WaitFor(t, 10*time.Second, "the other bundle's line", func() bool {
		o, _ := tt.cli(t, "logs", "*/lgb")
		return strings.Contains(o, "line of b")
	})
	out, code := tt.cli(t, "logs", "lga")
	want := regexp.MustCompile(`(?m)^` + rfc3339.String() + `  ` + shaA[:12] + `  \*/lga  stderr  line of a$`)
	if code != 0 || !want.MatchString(out) || strings.Contains(out, "line of b") || strings.Contains(out, "not output") {
		t.Errorf("logs lga = %d %q, want only bundle a's output, as %s", code, out, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 100)
	done := make(chan error, 1)
	go func() {
		done <- c.followSSE(ctx, "/api/v1/logs?route=*/lgb", func(raw []byte) error {
			var r logRecord
			json.Unmarshal(raw, &r)
			got <- r.Msg
			return nil
		})
	}()
	ship(shaA, "/lga", "live a", true)
	ship(shaB, "/lgb", "live b", true)
	for m := ""; m != "live b"; {
		select {
		case m = <-got:
			if strings.Contains(m, " a") {
				t.Errorf("the stream of */lgb carried %q", m)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the new line did not arrive on the followed stream")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("following ended with %v, want nil when interrupted", err)
	}
	// The same through the command line: `logs -f ROUTE` replays, then follows, filtered.
	f := tt.follow(t, `cli live b$`, "logs", "-f", "*/lgb")
	notA := func(line string) {
		if strings.Contains(line, "*/lga") {
			t.Errorf("logs -f */lgb printed %q", line)
		}
	}
	f.waitLine(t, `  \*/lgb  stderr  line of b$`, notA)
	ship(shaA, "/lga", "cli live a", true)
	ship(shaB, "/lgb", "cli live b", true)
	f.waitLine(t, `^`+rfc3339.String()+`  `+shaB[:12]+`  \*/lgb  stderr  cli live b$`, notA)
	f.ended(t)
}
