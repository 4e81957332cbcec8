// Package runner is Funcatron's worker as a library: runner.New(opts), then Run(ctx). It
// announces itself to the Tron (awake, heartbeat, died), follows its control messages
// (tron-info, all-bundles, enable, disable, resend-awake; all signed with the runner key,
// spec/protocol.md §7: anything else on its inbox is refused), and serves each enabled
// route queue by running the route's Func Bundle (spec/protocol.md §3-4, spec/bundles.md
// §3-4). cmd/runner is its thin main: an internal/options.Daemon (flags, environment,
// logging, exit codes) around Options.Flags and New, as cmd/tron is around the Tron's. An
// error about an option (Validate's, the runner key's, isolation's) wraps
// ErrInvalidOptions: exit 2; any other (a taken --listen address) exits 1.
//
// Files: options.go (Options, flags, Validate), runner.go (lifecycle), control.go (control messages), heartbeat.go, bundle.go
// (enable / disable), store.go (bundle cache), route.go (a route, its swap, its concurrency limit), serve.go
// (one request: decode, dispatch, answer, settle), records.go (a records message of several
// requests, spec/protocol.md §8), replybatch.go (raw answers batched per reply queue), answer.go, metrics.go and
// health_metric.go, health.go, transport.go (internal/amqpbus), isolation.go (may this
// runner isolate bundles; what it does without --bundle-uids), config.go (run-time
// configuration over funcatron.configuration: log level, StatsD target), statsd.go (the
// per-route StatsD datagrams).
//
// Bundle kinds are plug-ins (spec/architecture.md): runner/kind is the interface (a Kind
// starts an Instance; the core sends it Calls, reads its Health, stops it), runner/exec,
// runner/gilmour and runner/zbus implement it, runner/kinds lists them for cmd/runner.
// The core never names a kind: it looks the bundle's kind up in Options.Kinds.
//
// Decisions where the spec is silent, or that a reader should know:
//
//   - Bundle isolation (docs/security.md): with --bundle-uids each started bundle runs
//     under a uid of its own (runner/exec); the runner must be root or hold CAP_SETUID,
//     CAP_SETGID, CAP_KILL, CAP_CHOWN and CAP_DAC_OVERRIDE, else New fails naming what is
//     missing. Root without --bundle-uids: New refuses (bundles would run as root). Another
//     user without it: a loud warning, bundles run as that user. The data dir's
//     subdirectories are 0700.
//   - Delivery: see serve.go and records.go. The answer is published (confirmed) before the
//     request is acked (a records message: all its answers); a refused answer is requeued after a 100 ms pause; a bundle failure is
//     answered 502/504, never requeued; a message that is not a service request with a
//     reply-queue is dead-lettered and counted; a request that arrives while its route is
//     being disabled is requeued for another runner.
//   - The route queue is computed from the enable's host and path (what the Tron told the
//     frontends), the bundle's own when the message has no path, and declared with the
//     enable's queue-type (classic when absent; an unknown one acks `error`), so that its
//     arguments are exactly the Tron's (spec/protocol.md §9); consuming re-declares it with
//     the same arguments, on whichever broker node the runner is connected to.
//   - Enable: download (the message's signed url, else http://tron-host/api/v1/bundle/<sha>),
//     verify the sha, cache atomically, bundles.Open + WithProps, unpack once per sha,
//     start, and only then switch the route to it and ack ok. The bundle it replaces keeps
//     its requests in flight, is drained (up to its timeout) and stopped after the ack.
//     The subscription is renewed only when the bundle's concurrency changes (prefetch
//     concurrency messages, at most concurrency requests at once; prefetchFor says why):
//     the new one starts before the old one stops.
//   - Records (spec/protocol.md §8): the route's concurrency limit holds requests while they
//     run the bundle, not while their answers are published, so a slow broker round trip
//     does not idle the bundle. The records of messages held beyond the concurrency wait
//     in memory, counted as queued. A request decoded to be served skips the
//     fields no kind reads (protocol.DecodeRequest). Any failure acks `error` with
//     the reason and leaves the route as it was. Enables and disables of one route run in
//     arrival order; different routes proceed in parallel.
//   - A disable of a sha its route no longer serves (it was replaced) leaves the route
//     alone, and acks ok. A disable of a sha the runner never served acks ok.
//   - One heartbeat loop per runner; resend-awake only sends awake. Besides every
//     period, a heartbeat follows each awake, enable and disable (coalesced). Stats are
//     per route queue since the previous heartbeat: count and errors (5xx answers and
//     unusable messages), inflight now, total-ms summed (sub-millisecond remainders carry
//     over to the next heartbeat).
//   - Each served bundle's health (kind.Health: ok, unavailable, dirty) is reported in
//     the heartbeat's route entries (`status`) and as funcatron_runner_bundle_health.
//   - Shutdown (ctx's end; there is no `die` for runners): control jobs are cancelled (an enable still starting
//     its bundle fails and is acked `error`), every route stops consuming, its requests in flight are answered and acked, its processes stop, then
//     `died` goes to the Tron.
package runner
