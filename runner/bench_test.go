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

// nopDelivery is a delivery that settles into nothing; records > 0 makes it a records
// message.
type nopDelivery struct {
	ct      string
	b       []byte
	records int
}

func (d *nopDelivery) contentType() string          { return d.ct }
func (d *nopDelivery) body() []byte                 { return d.b }
func (d *nopDelivery) recordCount() (int, error)    { return d.records, nil }
func (d *nopDelivery) settle(amqpbus.Outcome) error { return nil }

// nopBroker confirms every publish at once.
type nopBroker struct{}

func (nopBroker) declare(context.Context, string, protocol.QueueType) error { return nil }
func (nopBroker) consume(context.Context, string, int, func(delivery)) error {
	return nil
}
func (nopBroker) publish(context.Context, string, []byte, int) error { return nil }

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
// catalogue is one request per message (base64 bodies); records/N is a records message of
// N raw requests, per request.
func BenchmarkHandle(b *testing.B) {
	for _, size := range []int{0, 1 << 10, 64 << 10} {
		for _, n := range []int{0, 1, 32} {
			name := fmt.Sprintf("catalogue/%dB", size)
			if n > 0 {
				name = fmt.Sprintf("records-%d/%dB", n, size)
			}
			b.Run(name, func(b *testing.B) {
				r, rt, d := benchSetup(b, size, n)
				c := &consumer{concurrency: 32, prefetch: 1, lim: make(limit, 32)}
				b.ReportAllocs()
				b.SetBytes(int64(len(d.b)))
				for b.Loop() {
					r.handle(rt, c, d)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*max(1, n)), "ns/request")
			})
		}
	}
}

// benchSetup is a runner with a no-op broker, a route served in-process and a delivery of
// n records (0: the catalogue's form) with bodies of size.
func benchSetup(b *testing.B, size, n int) (*Runner, *route, *nopDelivery) {
	manifest := "swagger: \"2.0\"\ninfo: {title: b, version: \"1\"}\nbasePath: /hello\n" +
		"x-funcatron: {exec: {command: [bin/fn]}}\n" + fnPaths
	bundle, err := bundles.Open(makeBundle(b, manifest, file{"bin/fn", []byte("#!/bin/sh\n"), 0o755}), bundles.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	m := newMetrics()
	r := &Runner{
		opts: Options{PublishTimeout: time.Second, MaxMessageBytes: protocol.DefaultMaxMessageBytes, MaxBatch: 32, MaxBatchBytes: 1 << 20},
		log:  slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: m, broker: nopBroker{},
	}
	r.replies = newReplyBatches(r)
	rt := newRoute("bench", "", "/bench", m)
	payload := bytes.Repeat([]byte("x"), size)
	rt.cur.Store(newServed("sha", "", "/hello", staticInstance{payload}, routerMatcher(bundle.Router())))
	svc := service("example.com", "GET", "/hello/hello/bob?x=1", payload)
	svc.RequestID, svc.ReplyTo, svc.ReplyQueue = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "FRNTbench"
	// Every field our frontend sends (frontend-lua/lib/funcatron/message.lua).
	svc.AnswerHeaders, svc.ServerAddr, svc.RemotePort, svc.HTTPUserAgent = protocol.AnswerHeadersPairs, "127.0.0.1", "52044", "test"
	svc.Request, svc.URIArgs = "GET /hello/hello/bob?x=1 HTTP/1.1", protocol.URIArgs{"x": {"1"}}
	svc.Headers["accept"] = protocol.Values{"*/*"}
	protocol.Stamp(svc, "FRNT41c01e80-c693-4dc5-8cdd-4dfd9b3d4d2e", "0.1.0")
	if n == 0 {
		body, _ := protocol.Encode(protocol.JSON, svc)
		return r, rt, &nopDelivery{ct: protocol.ContentTypeJSON, b: body}
	}
	var body []byte
	for range n {
		body, _ = protocol.AppendServiceRecord(body, svc)
	}
	return r, rt, &nopDelivery{ct: protocol.ContentTypeJSON, b: body, records: n}
}
