// Package tron is Funcatron's control plane as a library: the admin HTTP API
// (spec/tron-api.md), the bundle store, membership of runners and frontends, route tables
// for frontends and enable / disable for runners (spec/protocol.md §3).
//
//	t, err := tron.New(opts) // validates opts (Options.Validate), opens the data dir, binds the listener
//	addr := t.Addr()         // the real address, also after ":0"
//	err = t.Run(ctx)         // connects to RabbitMQ, serves until ctx ends
//
// cmd/tron is its thin main: an internal/options.Daemon (flags, environment, logging, exit
// codes) around Options.Flags and New, as cmd/runner is around the runner's. An error about
// an option (Validate's, or a refused token or key file) wraps ErrInvalidOptions: exit 2.
//
// Files: options.go (Options, flags, Validate), tron.go (life cycle), api.go + handlers.go (HTTP),
// sse.go (the event stream), dashboard.go + web/ (the page at GET /), resolve.go (sha
// prefixes), apibody.go (request bodies, bounded before they are read),
// catalog.go + store.go + inspect.go (bundles), state.go + atomic.go (durable state),
// secret.go (token, URL signing), membership.go + control.go (nodes and their messages),
// enable.go + routes.go (enable, disable, route table), routetable.go (table-version and
// re-sending the table to frontends that have not acked it), events.go, metrics.go,
// stats.go, logs.go (the live log view), config.go (run-time configuration: funcatron.configuration, GET|POST
// /api/v1/config, POST /api/v1/stats), connect.go (amqpbus).
//
// # Decisions where the spec is silent
//
//   - Data dir layout: bundles/<sha>.zst (zstd) and bundles/<sha>.json (metadata, written
//     after the bundle, removed before it; an orphan bundle file is an interrupted upload
//     or delete and is removed at start), state.json (enabled bundles with props and
//     order, StatsD target), token (generated admin token), url-key (HMAC key). Every file
//     is written atomically (temp file, fsync, rename, fsync of the directory), mode 0600.
//   - A bundle is verified (sha of the decompressed bytes) on every download; a mismatch
//     is a 500 asking for a new upload. Downloads are buffered in memory to be verified
//     before the first byte goes out (bounded by --max-bundle-bytes).
//   - Bodies (apibody.go, docs/security.md "Bounded input"): decided on the headers alone
//     (fasthttp's HeaderReceived): no token, or over 64 KiB (add_func: --max-bundle-bytes),
//     and none of the body is read (401/413, connection closed). add_func streams into a
//     temp file of the data dir, mapped for validation, at most --max-uploads at once (503
//     with Retry-After beyond). Metadata files larger than a --max-manifest-bytes manifest
//     can make are skipped at start (the bundle is then disabled).
//   - --queue-type (classic | quorum, spec/protocol.md §9) is the type of the route queues,
//     for_tron and funcatron.dead, and travels in enable's queue-type. With quorum queues
//     the route entries' runner counts come from the runners' heartbeats (served.go).
//   - A message to a runner's inbox that is unroutable (after one that was routed) makes the
//     Tron forget the runner (its inbox went with a broker node, or it died): its next
//     heartbeat gets resend-awake, and its awake every enable it missed (membership.go
//     forgetGone). Frontends send awake on every new session of their own.
//   - Enable declares the route queue first: if that fails (bus down) the call is 503 and
//     nothing changes. Then the state is saved, `enable` goes to every live runner as one
//     message, and the call waits up to --enable-wait for the first ok ack (an ack without
//     status, the catalogue's form, counts as ok); once one came, it listens 100 ms more
//     for the other runners so the answer can list them. 202 with "warning" when there is
//     no runner, when none acked in time, or when all acked with an error ("errors" lists
//     them). The route table goes to frontends after that wait, so they do not route to a
//     queue nobody serves yet; with "replace":true the replaced bundle's `disable` goes to
//     runners only after the new route table went out (one route message), so the route
//     never goes dark. Re-enabling an enabled sha updates its props and counts as the most
//     recent enable.
//   - Two bundles conflict when their routes are the same for a frontend: host compared
//     lower-case without port ("" and "*" both mean any host), path without trailing slash.
//   - Disable sends the new route table to frontends first, then `disable` to runners;
//     disabling a bundle that is not enabled is 200 and sends nothing. With the bus down
//     enable and disable are 503 and change nothing (runners could not be told).
//   - A runner whose heartbeat lists a bundle that is not enabled (it missed the disable)
//     is sent `disable` for it, so no runner keeps taking a route no frontend routes to.
//   - Signed download URLs: `?exp=<unix seconds>&sig=<hex HMAC-SHA256(url-key, sha+exp)>`,
//     valid for --url-ttl (1 h); a URL expiring further ahead than that is refused too.
//     They are sent as `url` in enable and all-bundles (an addition to the catalogue).
//   - The admin token: --token-file, else Options.Token (FUNCATRON_TOKEN, no flag so it
//     never shows in a process listing), else a generated one in the data dir. A token
//     file readable by group or others is refused (so is a loose secret in the data dir).
//   - Signed control messages (spec/protocol.md §7, buskeys.go): the runner key
//     (--bus-key-file, else <data-dir>/bus-key, generated) and the frontend key
//     (--frontend-key-file, else <data-dir>/frontend-key). The bus verifies every message on
//     the Tron queue before decoding; the key that verifies it is its role (SignedBy), and
//     a node is only what its role allows: runner key → runner, frontend key → frontend,
//     unsigned → frontend with --accept-unsigned-frontends only. A node's later heartbeat,
//     ack or died counts only under the key of its awake (a frontend cannot say a runner
//     died, nor ack an enable for it); an unsigned awake supersedes nobody (no `die`). The
//     Tron signs by the destination's role: runner inboxes with the runner key, frontend
//     inboxes with the frontend key. Refusals: funcatron_tron_refused_messages_total{reason}.
//   - Membership: a node is keyed by its inbox (`from`); replies use the codec of its
//     awake (frontends always JSON). The sweep runs every half heartbeat period and drops
//     nodes silent for 3 periods. An awake of unknown type, or without `from`, is logged
//     once per sender and ignored; catalogue actions that have no business on the Tron
//     queue (route, service, ...) are logged once per sender; unknown actions are logged
//     once per sender by internal/amqpbus. A heartbeat or ack counts as a sign of life.
//   - GET /api/v1/stats "routes": per route queue the runners' counters summed since this
//     Tron started, and inflight summed over the live runners' last heartbeats.
//   - Events (funcatron.events, JSON) carry {key, event, at, ...}: sha/host/path for
//     bundles, node/node-type/instance-id for nodes, routes (count) for route.updated. Also
//     published: bundle.deleted.<sha>. The last --event-buffer (256) events are kept in a
//     replay buffer served by GET /api/v1/events (oldest first), for late subscribers.
//   - Sha prefixes: a route taking a sha takes 8 to 63 hex digits too, resolved against the
//     stored bundles (404 none, 409 several, naming them). A signed download URL names the
//     full sha (it is what is signed).
//   - Props on replace: an enable without a props key (or with null) that replaces another
//     bundle takes that bundle's props; with no replace it gets none, as before.
//   - Event stream (sse.go, format in docs/admin-api.md): one `data:` line of JSON per event,
//     no event/id fields (a client that reconnects gets the replay again); a comment at the
//     start and every 15 s while idle; each client has a buffer of --event-buffer + 256
//     events: when it is full the client's connection is closed (publish never waits), and
//     every write has a 30 s deadline. The stream is the connection's last answer. At most
//     64 streams are open at once (503 beyond).
//   - Log view (logs.go): GET /api/v1/logs?sha=|route= serves the bundles' output (records
//     of funcatron.logging with bundle_output true) the same way, from a replay buffer of
//     the last 1000 filled by the Tron's exclusive queue TR-<uuid>.logs (bound with "#",
//     at most 10000 records on the broker). The streams of both share the 64.
//   - Dashboard (dashboard.go, web/): GET / and /ui/{app.js,style.css} are open and static,
//     with a Content-Security-Policy that allows only the page's own origin. It polls
//     /api/v1/stats every 2 s for rates; times show as RFC 3339 in UTC.
//   - Extra answers: add_func also returns size, uploaded-at and new (false when the same
//     bytes were stored already); enable returns sha and queue; unknown paths are 404 and
//     wrong methods 405 with Allow, both after authentication, so an unauthenticated
//     caller learns nothing.
//
// # Concurrency
//
// Run owns three goroutines (errgroup): the HTTP server, the bus consumer (handlers run one
// at a time, in arrival order) and the sweep. Two mutexes: ctl serializes changes of the
// enabled set together with the messages announcing them (so nodes see changes in order,
// and a node that wakes up cannot miss one); mu guards the maps and the state and is held
// only briefly, never while sending. Lock order: ctl, then mu. An enable waits for acks
// with neither held.
package tron
