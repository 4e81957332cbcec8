package runner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/runner/kind"
)

// nopDelivery is a delivery that settles into nothing.
type nopDelivery struct {
	ct string
	b  []byte
}

func (d *nopDelivery) contentType() string          { return d.ct }
func (d *nopDelivery) body() []byte                 { return d.b }
func (d *nopDelivery) settle(amqpbus.Outcome) error { return nil }

// nopBroker confirms every publish at once.
type nopBroker struct{}

func (nopBroker) declare(context.Context, string, protocol.QueueType) error { return nil }
func (nopBroker) consume(context.Context, string, int, func(delivery)) error {
	return nil
}
func (nopBroker) publish(context.Context, string, []byte) error { return nil }

// staticInstance answers every call in-process with a fixed response.
type staticInstance struct{ body []byte }

func (s staticInstance) Serve(_ context.Context, _ *kind.Call, out *protocol.AnswerBody) {
	out.Status = 200
	out.Headers = append(out.Headers[:0], [2]string{"Content-Type", "text/plain"})
	out.Body = s.body
}
func (staticInstance) Concurrency() int           { return 32 }
func (staticInstance) Timeout() time.Duration     { return time.Second }
func (staticInstance) Health() kind.Health        { return kind.HealthOK }
func (staticInstance) Stop(context.Context) error { return nil }

// BenchmarkHandle measures the runner's own work per request: decode the service message
// (JSON, as the frontend sends it), match the route, call an in-process bundle, encode the
// answer, publish (a no-op here) and settle. Body sizes: request and answer alike.
func BenchmarkHandle(b *testing.B) {
	manifest := "swagger: \"2.0\"\ninfo: {title: b, version: \"1\"}\nbasePath: /hello\n" +
		"x-funcatron: {exec: {command: [bin/fn]}}\n" + fnPaths
	bundle, err := bundles.Open(makeBundle(b, manifest, file{"bin/fn", []byte("#!/bin/sh\n"), 0o755}), bundles.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{0, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			m := newMetrics()
			r := &Runner{
				opts: Options{PublishTimeout: time.Second}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
				metrics: m, broker: nopBroker{},
			}
			rt := newRoute("bench", "", "/bench", m)
			payload := bytes.Repeat([]byte("x"), size)
			rt.cur.Store(newServed("sha", "", "/hello", staticInstance{payload}, routerMatcher(bundle.Router())))
			svc := service("example.com", "GET", "/hello/hello/bob?x=1", payload)
			svc.RequestID, svc.ReplyTo, svc.ReplyQueue = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "FRNTbench"
			protocol.Stamp(svc, "", "")
			body, _ := protocol.Encode(protocol.JSON, svc)
			d := &nopDelivery{ct: protocol.ContentTypeJSON, b: body}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				r.handle(rt, d)
			}
		})
	}
}
