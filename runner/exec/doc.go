// Package exec is the bundle kind `exec` (spec/bundles.md §4): any program, kept warm and
// serving HTTP/1.1 on a unix socket (http mode), or run once per request as a CGI/1.1
// script (cgi mode). The manifest's x-funcatron.exec section, with its defaults, is
// parsed and checked by package bundles (bundles.ExecConfig); this package runs it.
//
// Decisions where the spec is silent, or that a reader should know:
//
// Files: exec.go (the Kind), node.go (StartNode: the same warm http-mode processes,
// isolated and supervised the same way, driven by another kind: the gilmour node, the zbus
// command server), http.go + worker.go + forward.go (http mode), cgi.go (cgi mode),
// headers.go (the request headers both modes pass on), process.go (the one place bundle
// processes are started: clean environment, process group, uid), sandbox.go (a started
// bundle's uid, private directory and command lookup), uids.go (uid leases, killing by
// uid), reaper.go (the runner as child subreaper), output.go (bounded stdout/stderr
// capture). docs/security.md ("Bundle isolation") is the user's account of all of it.
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
//     back off from 100 ms to 5 s, back to 100 ms after 10 s of life. Sockets and HOME live
//     in the bundle's private directory under the system temp dir (a short path: sun_path
//     holds 108 bytes), removed when it stops; a socket whose listener is not the bundle's
//     uid is refused (SO_PEERCRED).
//   - Request headers (headers.go, both modes): the client's headers less hop-by-hop ones
//     and those the runner sets (Host, X-Request-Id, X-Funcatron-Operation,
//     X-Forwarded-*); X-Forwarded-For is the client's chain plus its address. Repeated
//     Cookie headers become one, joined by "; " (RFC 6265 §5.4); other repeated headers
//     stay repeated in http mode and are joined by ", " in CGI variables.
//   - Processes run in their own process group with Pdeathsig SIGKILL (they die with a
//     killed runner) and, with --bundle-uids, under the uid and gid the instance leased,
//     without supplementary groups; stop is SIGTERM to the group, SIGKILL after the grace
//     period, then SIGKILL to every process of the uid; a worker's exit kills its group;
//     an orphan of a bundle process (its parent exited) is killed by the reaper. Every
//     child is waited for. Bundle stdout and stderr become bounded lines (kind.Output).
//   - A command's bare name (no /) is the bundle's file of that name, else a program on
//     PATH, resolved once when the bundle starts; isolated, only what every uid can reach.
//   - cgi mode: the runner's own RFC 3875 client rather than net/http/cgi, which passes
//     LD_LIBRARY_PATH on, cannot use a process group and never kills a script past its
//     time. SCRIPT_NAME is the basePath ("" for "/"), PATH_INFO the rest of the path;
//     output that is not a CGI response, or over 64 MiB, is a 502 (never a truncated 200).
package exec
