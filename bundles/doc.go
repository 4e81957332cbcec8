// Package bundles reads, checks and unpacks Func Bundles, and finds a
// bundle's operation for a request (spec/bundles.md §1-3).
//
// A Func Bundle is a zip holding, at its root, one manifest (funcatron.yaml,
// funcatron.yml or funcatron.json: a Swagger 2.0 or OpenAPI 3.x document)
// and the code that serves it. The API:
//
//	b, err := bundles.Open(data, bundles.Limits{}) // checks everything; err is *InvalidError
//	b.SHA, b.Kind, b.Host, b.BasePath, b.Operations, b.Manifest, b.Exec, b.Gilmour
//	pb, err := b.WithProps(props)                 // fills ${props.NAME} in x-funcatron
//	err = b.Unpack(dir)                           // atomic, never writes outside dir
//	m, err := b.Router().Match("GET", "/hello/greet/bob") // m.Operation, m.Params; err is *RouteError (404/405)
//	err = bundles.Pack(w, dir)                    // a directory as a reproducible bundle zip
//
// How the parts use it: the Tron calls Open on an upload and reports
// {sha: SHA, type: Kind, host: Host, route: BasePath, operations: Operations,
// swagger: Manifest}, answering 400 with the error text when Open fails. A
// runner calls Open on the downloaded bytes (checking again), WithProps at
// each enable, Unpack once per sha, and Router().Match for every request.
//
// Decisions where the spec is silent, each documented where it is made:
//   - Relative symlinks that stay inside the bundle are allowed, worked out
//     through the archive's own links (link.go); anything else is refused.
//   - Names with a backslash are refused, as are duplicate names and entries
//     under a file or link. "./" elements and doubled slashes are cleaned.
//   - Open decompresses every entry, so a corrupt bundle or one whose headers
//     lie is refused at upload, not discovered by a runner.
//   - A JSON manifest is parsed with encoding/json (yaml.v3 refuses some
//     valid JSON); YAML with yaml.v3. Errors name file, line and reason.
//   - An operation without an operationId is routed with an empty id, as long
//     as some operation has one.
//   - A trailing slash is ignored in matching; literal segments win over
//     parameters, with fallback when the preferred branch lacks the method
//     (see Router).
//   - Exec defaults: command bin/run, mode http, 2 workers, concurrency 32,
//     timeout 30s, start-timeout 10s. Unknown keys in x-funcatron and its exec
//     section are refused, so typos do not silently become defaults.
//   - Kind gilmour (gilmour.go, composition.go): x-funcatron.gilmour (redis,
//     concurrency, error_policy, node with services and slots) and each
//     operation's x-gilmour (request, signal or composition, timeout), which
//     every operation of such a bundle needs, with an operationId. Keys use
//     underscores, as the spec writes them (health_check, error_policy,
//     start_timeout). Services need a group and no wildcard; request, signal
//     and composition topics have no wildcard either (they reach services).
//     Timeouts are seconds or durations, default 30s, at most 600s (the
//     exclusion lock's life). ParseComposition and ParseSubscription are what
//     the runner uses for the node's proxy API too. Errors inside a list name
//     the line of the list item.
//   - Kind zbus (zbus.go): x-funcatron.zbus and the operations' x-zbus are
//     read into ZbusConfig; twin is required; the node keys (command, workers,
//     env, health, start-timeout, timeout) mean what they mean for exec;
//     endpoints must be a literal boolean, since endpoints: true adds the POST
//     /zbus-* operations to the router when the bundle is opened. The
//     runtimes are not part of this package.
//
// This package does no network I/O and starts no processes.
package bundles
