package exec

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/runner/kind"
)

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
	c := &kind.Call{Svc: svc, Op: "echo", Path: "/echo", BasePath: "/hello"}

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
				req.Header.Set("X-Funcatron-Operation", c.Op)
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
