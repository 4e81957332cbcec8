// Package zbus is the bundle kind `zbus` (spec/bundles.md §6): msgbusd commands over
// Redis. The runner calls commands for HTTP requests (HTTP → zbus), acts as the twin's
// msgbusd (the role, held by one runner per Redis), serves commands with the bundle's node
// (zbus → bundle), and offers msgbusd's HTTP endpoints (/zbus-remote, /zbus-reply,
// /zbus-cmd, /zbus-result) through the frontends. The manifest's x-funcatron.zbus section
// and the operations' x-zbus are parsed and checked by package bundles (bundles.ZbusConfig);
// docs/bundle-zbus.md describes the kind for users.
//
// Files: kind.go (Kind, Start, Stop), message.go (the message, its checks), redis.go (keys,
// client, pops), call.go + answer.go (HTTP → zbus), role.go (lease and claim), daemon.go
// (msgbusd's loops), taken.go (the taken lists: at-least-once pops), backlog.go (entries,
// expiry, retries), twins.go (other twins over HTTP), serve.go (commands to the node),
// endpoints.go (the /zbus-* endpoints).
//
// Decisions where the spec and the seed are silent:
//
//   - Queue ends. Clients push to msgbus.system.local with RPUSH (the seed) or LPUSH (the
//     npm client); msgbusd's queues are popped from the left, as msgbusd's BLPOP does (with
//     BLMOVE, see "At least once"); our own pushes to them are RPUSH (FIFO). msgbus.<cmd>
//     gets LPUSH (msgbusd) and our servers pop it with BRPOP (the seed); replies to a caller's ret are LPUSHed, and ret expires 30 min after
//     the last push (msgbusd development), so a caller that went away leaves nothing behind.
//   - Fields. Messages keep every field they came with (sig, pxy, ...) and their order;
//     a message built here has msgbusd's order. err may be rmb-peer's {code, message}: its
//     message is taken. src may be a decimal string (rmb-peer).
//   - The role. One msgbusd per Redis: msgbusd's queues have fixed names, so two twins (or
//     two deployments) cannot share one. A deployment (the route queue serving the bundle)
//     claims the Redis (msgbus.system.funcatron.claim, refreshed by every runner serving it,
//     TTL 3 × LeaseTTL); another route claiming it fails its enable with a message naming the
//     holder. Among the runners of one deployment, the lease msgbus.system.funcatron.lease
//     (TTL LeaseTTL, default 6 s, renewed every third of it) picks the one that runs
//     msgbusd's loop; a Redis error drops the role at once, and it is taken again when Redis
//     is back and the lease free. A message already taken from Redis is handled to its end,
//     writes retried until Redis is back, so an outage loses nothing of it.
//   - At least once. msgbusd pops its queues with BLPOP: a holder that dies (kill -9, a
//     crash) loses what it had popped and not written on, and what Redis handed to its
//     blocked pop while it was dying. We promise that no request is lost silently, so each
//     of msgbusd's queues is taken by a loop of its own with BLMOVE (Redis ≥ 6.2) into the
//     role's taken list msgbus.system.funcatron.taken.<local|remote|reply>, and the message
//     is removed from there (LREM 1) once it is written on: the backlog entry stored and
//     the request delivered to msgbus.<cmd> or sent, the remote request delivered, the reply
//     answered or forwarded, or the message dropped as bad (one being handled when the
//     runner stops stays: its writes may have been cut short). A taker that holds nothing of
//     its own (when the role is taken, and after a take that waited in vain: a message
//     Redis gave to a connection of ours that was cut) first moves what is in its taken
//     list back to the front of the queue, in order. So a request the dying holder had
//     already written on may be handled twice: two uids, each with its backlog entry; the
//     caller's BLPOP takes the first reply, a later one stays on ret (it expires) and the
//     first uid's entry may still answer a timeout at exp. A message found in a taken list a
//     4th time (maxReplays 3, counted in msgbus.system.funcatron.replays by its SHA-1, kept
//     an hour after the last put-back) is dropped and logged: it may be what kills its
//     holders.
//     A backlog entry is removed and its caller answered in one Lua script, so a reply
//     taken twice is answered once. Not covered: a command a dying runner's server had
//     popped from msgbus.<cmd> (its caller gets the timeout err at exp), a request or a reply
//     being POSTed to another twin (a request's caller gets the timeout err at exp).
//   - Backlog. An entry per destination, under its uid, holding the forwarded request with
//     the caller's ret. Whoever removes the entry (reply, expiry, final send failure) answers
//     the caller: one answer per uid. Expiry is checked every ScrubInterval (1 s); exp 0
//     means 3600 (msgbusd). The backlog holds at most 100 000 requests; more get
//     "msgbusd is overloaded (backlog full)".
//   - Local destinations go straight to msgbus.<cmd> (rmb-rs v0), not over HTTP to
//     ourselves. A destination not in the directory gets "destination not found" at once.
//   - Retries to another twin live in msgbus.system.retry (so a new holder carries them on):
//     try retries RetryInterval (5 s) apart after the first send, then
//     "could not send request and all retries done". Any answer but 2xx is a failure. Replies
//     for another twin get 3 tries 1 s apart, then are dropped (logged), as msgbusd does.
//   - HTTP → zbus answers: one destination: 200 with dat decoded (Content-Type JSON when it
//     parses, else text or octet-stream), or {"err","uid","src"} with 504 (request
//     timeout...), 404 (function not found), else 502; several: an array of {"src","dat"}
//     (dat as JSON when it parses, else a string) or {"src","err"} in dst order, a
//     destination that did not answer by exp holding the timeout err; 502 when all are
//     errors. No reply by exp: 504. Redis unreachable: 503.
//   - The node gets the decoded dat as a POST to the serve entry's path, with X-Zbus-Cmd,
//     X-Zbus-Uid and X-Zbus-Src; a non-2xx answer becomes err "status N: <start of the
//     body>", a timeout "the command did not answer in time", a crash "the command failed to
//     answer".
//   - Endpoints take what msgbusd would act on: a message that parses, ver 1, now within
//     60 s (MaxAge) of ours either way; /zbus-remote: dst [this twin], a served cmd, uid set,
//     ret msgbus.system.reply, src in the directory when there is one; /zbus-reply: dst [this
//     twin] and a uid of the backlog sent to the replying twin; /zbus-cmd: a served cmd (ret
//     and dst are set here); /zbus-result: a uuid4 retqueue, at most 100 replies.
//   - Bounds: messages over MaxMessageBytes (4 MiB) are dropped when taken (go-redis reads a
//     value whole, so the bound is on what is kept and handled), refused by endpoints (413)
//     and by HTTP calls; at most concurrency commands run on the node at once, and a command
//     is popped only when a slot is free; at most 16 HTTP sends to twins at once.
package zbus
