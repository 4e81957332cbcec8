package runner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/protocol"
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

func (nopBroker) declare(context.Context, string) error { return nil }
func (nopBroker) consume(context.Context, string, int, func(delivery)) error {
	return nil
}
func (nopBroker) publish(context.Context, string, []byte) error { return nil }

// staticInstance answers every call in-process with a fixed response.
type staticInstance struct{ body []byte }

func (s staticInstance) serve(_ context.Context, _ *call, out *protocol.AnswerBody) {
	out.Status = 200
	out.Headers = append(out.Headers[:0], [2]string{"Content-Type", "text/plain"})
	out.Body = s.body
}
func (staticInstance) concurrency() int           { return 32 }
func (staticInstance) timeout() time.Duration     { return time.Second }
func (staticInstance) stop(context.Context) error { return nil }

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
			rt := newRoute("bench", m)
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

// BenchmarkUnixClient compares the two HTTP clients that could talk to an http-mode
// bundle over its unix socket, against one in-process net/http server: fasthttp's
// HostClient (what the runner uses) and net/http's Transport with a unix DialContext.
func BenchmarkUnixClient(b *testing.B) {
	sock := filepath.Join(b.TempDir(), "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	resp := bytes.Repeat([]byte("y"), 1<<10)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.Write(resp)
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	svc := service("example.com", "POST", "/hello/echo", bytes.Repeat([]byte("x"), 1<<10))
	c := &call{svc: svc, op: "echo", path: "/echo", basePath: "/hello"}

	b.Run("fasthttp", func(b *testing.B) {
		hc := &fasthttp.HostClient{
			Addr: "bundle", Dial: func(string) (net.Conn, error) { return net.Dial("unix", sock) },
			MaxConns: 32, DisablePathNormalizing: true, DisableHeaderNamesNormalizing: true,
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var out protocol.AnswerBody
			for pb.Next() {
				req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				buildRequest(req, c)
				if err := hc.DoTimeout(req, res, time.Second); err != nil {
					b.Error(err)
				}
				readResponse(res, &out)
				fasthttp.ReleaseRequest(req)
				fasthttp.ReleaseResponse(res)
			}
		})
	})
	b.Run("net-http", func(b *testing.B) {
		tr := &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
			MaxIdleConnsPerHost: 32,
		}
		client := &http.Client{Transport: tr, Timeout: time.Second}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest(svc.Method, "http://bundle"+svc.RequestURI, bytes.NewReader(svc.Body))
				req.Host = svc.Host
				for k, vs := range svc.Headers {
					for _, v := range vs {
						req.Header.Add(k, v)
					}
				}
				req.Header.Set("X-Funcatron-Operation", c.op)
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				var out protocol.AnswerBody
				out.Status = res.StatusCode
				for k, vs := range res.Header {
					for _, v := range vs {
						out.Headers = append(out.Headers, [2]string{k, v})
					}
				}
				out.Body, _ = io.ReadAll(res.Body)
				res.Body.Close()
			}
		})
	})
}
