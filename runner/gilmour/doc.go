// Package gilmour is the bundle kind `gilmour` (spec/bundles.md §5): the runner is the
// bundle's Gilmour proxy on Redis. HTTP routes publish Gilmour requests, signals and
// compositions; the bundle's node process (started like exec http mode, runner/exec
// StartNode) serves the manifest's services and slots, and may use the proxy's own API
// over a unix socket. The manifest section and each operation's x-gilmour are parsed and
// checked by package bundles (bundles.GilmourConfig); this package runs them. Users'
// documentation: docs/bundle-gilmour.md.
//
// Files: kind.go (Kind, Start, Stop, Health), bus.go (the Redis connection), message.go
// (envelope, channel names), responses.go (one shared pub/sub connection for responses,
// a bounded sender → waiter map), request.go (request, signal), serve.go (HTTP → Gilmour),
// compose.go (compositions), subscribe.go + handle.go (Gilmour → node), lock.go
// (exclusion groups), health.go (node and Redis checks), proxy.go (the node's proxy API),
// errors.go (error policy).
//
// Decisions where the spec is silent, or that a reader should know:
//
//   - Requests: a fresh UUID sender each; PUBSUB NUMSUB first (0: 503 at once, "no active
//     listeners"); the response channel is SUBSCRIBEd on the instance's shared pub/sub
//     connection and the request is published only after Redis confirmed it. The first
//     response wins; the route's timeout (default 30 s) gives 504 with Gilmour's 499
//     message. Only data and code of a response are read (Ruby responders send random
//     senders); a response that is not a JSON object, or over 4 MiB, is a 502. The HTTP
//     status is the code when it is 200–599, 504 for 499, else 502; the body keeps the
//     Gilmour code. Redis errors are 503 (Retry-After: 1) and mark the instance
//     unavailable until the next good check. Redis commands are never retried (a PUBLISH
//     sent twice would run a request twice); dial timeout 2 s, I/O 3 s.
//   - Compositions (research §1.10) run in the runner. Inputs follow the Go library: pipe
//     chains, andand/oror/batch/parallel give every step the composition's input. A step's
//     message is merged over its input one level deep when both are objects, replaces the
//     input otherwise. Success is a 2xx code (Go checks == 200; a node answering 201 is a
//     success here). pipe and andand stop at the first failure, oror at the first success;
//     batch runs every step and its result is its last step's; parallel's result is the
//     list of its steps' data in completion order with the highest code. A step nobody
//     listens to is a 503 message, a bad response a 502 message. messages lists every
//     executed step's message in completion order; code is the combinator's own result.
//     Specs are bounded: 16 levels, 256 steps.
//   - Node side: services SUBSCRIBE gilmour.request.<topic>; slots gilmour.slot.<topic>,
//     PSUBSCRIBE when the topic has a "*". Groups are honoured for slots too (as Ruby does;
//     Go ignores them), with the libraries' lock SET <sender><group> <sender><group> NX EX
//     600; a slot without a group gets funcatron.bundle.<sha>, so a signal runs once per
//     bundle. A request without a sender (a non-JSON Ruby payload) cannot be answered and
//     is dropped; a slot message without one runs without a lock. The node gets
//     {topic, sender, data, timeout (whole seconds, rounded up)}; its body becomes data
//     (as JSON when it parses, else as a string), code 200 or its non-2xx status; slower
//     than the timeout (default 30 s, at most 600 s) is 499 and the connection is closed;
//     not running 503; failing 502. Responses carry sender gilmour.response.<sender>, a
//     499 the bare sender: what the Go library publishes. Calls to the node in flight are
//     bounded by concurrency; the receive loop waits for a free slot (backpressure).
//   - Health: every 10 s (Kind.HealthInterval) the ident is HSET again (Redis may have
//     restarted empty) and the node's health_check is GET within 2 s: not 2xx →
//     unavailable, its topics unsubscribed, resubscribed when it answers. Its socket not
//     being a socket while its process runs (checked before and after) → dirty: topics
//     unsubscribed for good, process stopped, proxy API read-only; HTTP routes keep
//     working (they do not involve the node). The health channel gilmour.health.<ident>
//     stays subscribed and answers (group "exclusive", as Go) with the sorted request and
//     slot channels subscribed. A crashed node is restarted by exec (backoff 100 ms to
//     5 s); meanwhile its messages get 503 at once.
//   - Proxy API: a socket in a private temp dir; a random UUID node id; other ids 403;
//     POST /nodes 403 (the manifest registers the node); DELETE /nodes/:id drops all its
//     slots and services; bodies up to 4 MiB; publishes in flight bounded by concurrency
//     (503 beyond). Subscription changes are confirmed by Redis before the answer.
//   - Error policy: every message the node side publishes (or a slot yields) with a code
//     of 300 or more; the record's fields hold what their names say.
package gilmour
