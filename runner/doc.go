// Package runner is Funcatron's worker as a library: runner.New(opts), then Run(ctx). It
// announces itself to the Tron (awake, heartbeat, died), follows its control messages
// (tron-info, all-bundles, enable, disable, resend-awake, die), and serves each enabled
// route queue by running the route's Func Bundle (spec/protocol.md §3-4, spec/bundles.md
// §3-4). cmd/runner is its thin main.
//
// Files: runner.go (lifecycle), control.go (control messages), heartbeat.go, bundle.go
// (enable / disable), store.go (bundle cache), route.go (a route and its swap), serve.go
// (one request: decode, dispatch, answer, settle), answer.go, metrics.go, health.go,
// transport.go (internal/amqpbus), kind.go, exec.go + worker.go + forward.go (exec http
// mode), cgi.go (exec cgi mode), process.go (process groups, clean environment).
//
// Decisions where the spec is silent, or that a reader should know:
//
//   - Delivery: see serve.go. The answer is published (confirmed) before the request is
//     acked; a refused answer is requeued after a 100 ms pause; a bundle failure is
//     answered 502/504, never requeued; a message that is not a service request with a
//     reply-queue is dead-lettered and counted; a request that arrives while its route is
//     being disabled is requeued for another runner.
//   - The route queue is computed from the enable's host and path (what the Tron told the
//     frontends), the bundle's own when the message has no path.
//   - Enable: download (the message's signed url, else http://tron-host/api/v1/bundle/<sha>),
//     verify the sha, cache atomically, bundles.Open + WithProps, unpack once per sha,
//     start, and only then switch the route to it and ack ok. The bundle it replaces keeps
//     its requests in flight, is drained (up to its timeout) and stopped after the ack.
//     The subscription is renewed only when the prefetch (the bundle's concurrency)
//     changes: the new one starts before the old one stops. Any failure acks `error` with
//     the reason and leaves the route as it was. Enables and disables of one route run in
//     arrival order; different routes proceed in parallel.
//   - A disable of a sha its route no longer serves (it was replaced) leaves the route
//     alone, and acks ok. A disable of a sha the runner never served acks ok.
//   - One heartbeat loop per runner; resend-awake only sends awake. Besides every
//     interval, a heartbeat follows each awake, enable and disable (coalesced). Stats are
//     per route queue since the previous heartbeat: count and errors (5xx answers and
//     unusable messages), inflight now, total-ms summed (sub-millisecond remainders carry
//     over to the next heartbeat).
//   - Kind exec, http mode: every worker must be ready for the enable to succeed; the ack's
//     reason names the worker and why (exit status and last stderr lines, socket never
//     accepting, health status). Requests go to the ready worker with the fewest in flight
//     over a keep-alive fasthttp.HostClient per worker (measured against net/http's
//     Transport: BenchmarkUnixClient); a request is never retried against a bundle. While
//     no worker is ready a request waits up to its timeout, then gets 502. Hop-by-hop
//     headers, those named by the response's Connection header and Content-Length (the
//     frontend re-frames the body) are dropped. Worker restarts back off from 100 ms to 5 s,
//     back to 100 ms after 10 s of life. Sockets live in a short private dir under the
//     system temp dir (sun_path holds 108 bytes); HOME is a private temp dir per started
//     bundle, removed when it stops.
//   - Processes run in their own process group with Pdeathsig SIGKILL (they die with a
//     killed runner); stop is SIGTERM to the group, SIGKILL after StopGrace; every child is
//     waited for. Bundle stdout and stderr become log lines.
//   - Kind exec, cgi mode: the runner's own RFC 3875 client rather than net/http/cgi, which
//     passes LD_LIBRARY_PATH on, cannot use a process group and never kills a script past
//     its time. SCRIPT_NAME is the basePath ("" for "/"), PATH_INFO the rest of the path;
//     output that is not a CGI response (or over 64 MiB) is a 502.
//   - Kinds gilmour and zbus are not served yet: their enable is acked `error`.
//   - Shutdown (ctx's end or `die`): control jobs are cancelled (an enable still starting
//     its bundle fails and is acked `error`), every route stops consuming, its requests in flight are answered and acked, its processes stop, then
//     `died` goes to the Tron.
package runner
