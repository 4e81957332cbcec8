// Package exec is the bundle kind `exec` (spec/bundles.md §4): any program, kept warm and
// serving HTTP/1.1 on a unix socket (http mode), or run once per request as a CGI/1.1
// script (cgi mode). The manifest's x-funcatron.exec section, with its defaults, is
// parsed and checked by package bundles (bundles.ExecConfig); this package runs it.
//
// Decisions where the spec is silent, or that a reader should know:
//
// Files: exec.go (the Kind), http.go + worker.go + forward.go (http mode), node.go (the
// same processes driven by another kind: StartNode), cgi.go (cgi
// mode), headers.go (the request headers both modes pass on), process.go (process groups,
// clean environment).
//
//   - Configuration: bundles.ExecConfig, with the defaults of package bundles (workers 2,
//     concurrency 32, timeout 30s, start-timeout 10s): one place for them.
//   - http mode: every worker must be ready for the enable to succeed; the error names the
//     worker and why (exit status and last stderr lines, socket never accepting, health
//     status). Requests go to the ready worker with the fewest in flight over a keep-alive
//     fasthttp.HostClient per worker (measured against net/http's Transport:
//     BenchmarkUnixClient); a request is never retried against a bundle. While no worker
//     is ready a request waits up to its timeout, then gets 502, and the instance's health
//     is unavailable. Hop-by-hop headers, those named by the response's Connection header
//     and Content-Length (the frontend re-frames the body) are dropped. Worker restarts
//     back off from 100 ms to 5 s, back to 100 ms after 10 s of life. Sockets live in a
//     short private dir under the system temp dir (sun_path holds 108 bytes); HOME is a
//     private temp dir per started bundle, removed when it stops.
//   - Request headers (headers.go, both modes): the client's headers less hop-by-hop ones
//     and those the runner sets (Host, X-Request-Id, X-Funcatron-Operation,
//     X-Forwarded-*); X-Forwarded-For is the client's chain plus its address. Repeated
//     Cookie headers become one, joined by "; " (RFC 6265 §5.4); other repeated headers
//     stay repeated in http mode and are joined by ", " in CGI variables.
//   - Processes run in their own process group with Pdeathsig SIGKILL (they die with a
//     killed runner); stop is SIGTERM to the group, SIGKILL after the grace period; every
//     child is waited for. Bundle stdout and stderr become log lines.
//   - cgi mode: the runner's own RFC 3875 client rather than net/http/cgi, which passes
//     LD_LIBRARY_PATH on, cannot use a process group and never kills a script past its
//     time. SCRIPT_NAME is the basePath ("" for "/"), PATH_INFO the rest of the path;
//     output that is not a CGI response (or over 64 MiB) is a 502.
package exec
