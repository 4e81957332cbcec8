// This file is the live log view (spec/tron-api.md "Live views"): the Tron consumes
// funcatron.logging with a queue of its own, keeps the last logBuffer records, and GET
// /api/v1/logs?sha=…|route=… answers the bundles' output among them, as a JSON snapshot or
// as Server-Sent Events (sse.go), as GET /api/v1/events does.
//
// Decisions: only bundle output (records with the attribute bundle_output true, written by
// runners for a bundle's stdout and stderr lines) is kept and served; the nodes' own logs
// stay in their stderr. The queue TR-<uuid>.logs is exclusive and auto-deleted, so a Tron
// that goes leaves nothing behind; it holds at most logQueueMax records (the oldest are
// dropped), so a Tron that falls behind costs the broker a bounded queue.

package tron

import (
	"context"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/valyala/fasthttp"

	"github.com/funcatron/funcatron/internal/amqpbus"
	"github.com/funcatron/funcatron/internal/bus"
	"github.com/funcatron/funcatron/internal/logging"
	"github.com/funcatron/funcatron/internal/protocol"
)

const (
	// logBuffer is how many bundle output records the Tron keeps for GET /api/v1/logs.
	logBuffer = 1000
	// logQueueMax bounds the Tron's logs queue on the broker.
	logQueueMax = 10000
	// logRecordMax bounds one record: a larger one is dropped unread.
	logRecordMax = 64 << 10
)

// newLogs is the replay buffer of bundle output records.
func newLogs() *bus.Replay[logging.Record] { return bus.NewReplay[logging.Record](logBuffer) }

// serveLogs consumes funcatron.logging into the replay buffer until ctx ends.
func (t *Tron) serveLogs(ctx context.Context, conn *amqpbus.Conn) {
	spec := amqpbus.ConsumeSpec{Queue: amqpbus.TronLogsQueue(uuid.NewString(), logQueueMax), Prefetch: 64, Sequential: true}
	if err := conn.Consume(ctx, spec, t.takeLog); err != nil && ctx.Err() == nil {
		t.log.Error("consuming funcatron.logging", "err", err)
	}
}

// takeLog keeps a bundle output record; anything else (a node's own log, a record over
// logRecordMax, nested too deep, too wide or not JSON) is acknowledged and forgotten: logs
// are transient. The decode is every consumer's bounded one (protocol.CheckSize, then
// protocol.Unmarshal): whoever has a runner's broker login can publish here.
func (t *Tron) takeLog(_ context.Context, d *amqpbus.Delivery) {
	defer d.Settle(amqpbus.Ack)
	var r logging.Record
	if protocol.CheckSize(d.Body, logRecordMax) != nil || protocol.Unmarshal(protocol.JSON, d.Body, &r) != nil {
		return
	}
	if r.Attrs["bundle_output"] == true {
		t.logs.Add(r)
	}
}

// logFilter is what GET /api/v1/logs selects: one bundle (sha), or one route.
type logFilter struct {
	sha        string
	host, path string // host "" = any host
	byRoute    bool
}

func (f logFilter) keep(r logging.Record) bool {
	attr := func(k string) string { s, _ := r.Attrs[k].(string); return s }
	if f.sha != "" {
		return attr("sha") == f.sha
	}
	if !f.byRoute {
		return true
	}
	return routeKey(attr("host"), attr("path")) == routeKey(f.host, f.path)
}

// parseLogFilter reads sha= (a full sha or a unique prefix, resolved as the bundle routes
// do) or route= (host/path, */path for a route of any host); neither selects all output.
func (t *Tron) parseLogFilter(ctx *fasthttp.RequestCtx) (logFilter, error) {
	args := ctx.QueryArgs()
	sha, route := string(args.Peek("sha")), string(args.Peek("route"))
	switch {
	case sha != "" && route != "":
		return logFilter{}, newAPIError(http.StatusBadRequest, "give sha= or route=, not both")
	case sha != "":
		full, err := t.resolveSHA(sha)
		return logFilter{sha: full}, err
	case route != "":
		host, path, ok := strings.Cut(route, "/")
		if !ok || len(route) > 1024 {
			return logFilter{}, newAPIError(http.StatusBadRequest, "route %q: want host/path, or */path for any host", route)
		}
		return logFilter{host: host, path: "/" + path, byRoute: true}, nil
	}
	return logFilter{}, nil
}

// getLogs answers the kept bundle output the filter selects, oldest first: a JSON
// snapshot, or, when the client accepts text/event-stream, a stream that then follows.
func (t *Tron) getLogs(ctx *fasthttp.RequestCtx) {
	f, err := t.parseLogFilter(ctx)
	if err != nil {
		t.writeErr(ctx, err)
		return
	}
	if acceptsEventStream(ctx) {
		serveSSE(t, ctx, t.logs, f.keep, "funcatron logs", logBuffer)
		return
	}
	out := []logging.Record{}
	for _, r := range t.logs.Recent() {
		if f.keep(r) {
			out = append(out, r)
		}
	}
	writeJSON(ctx, http.StatusOK, map[string]any{"logs": out})
}
