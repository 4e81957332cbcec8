// This file streams the lifecycle events (GET /api/v1/events) and the bundles' output (GET
// /api/v1/logs, logs.go) as Server-Sent Events, with `Accept: text/event-stream` (spec/tron-api.md "Live views"; the format is in
// docs/admin-api.md).

package tron

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/funcatron/funcatron/internal/bus"
)

const (
	// sseHeartbeat is how often an idle stream gets a comment line, so proxies that close
	// idle connections (nginx's proxy_read_timeout is 60 s) keep it open, and a client that
	// went away is noticed (the write fails).
	sseHeartbeat = 15 * time.Second
	// sseWriteTimeout bounds one write to a client: a client that reads nothing for this
	// long is dropped.
	sseWriteTimeout = 30 * time.Second
	// sseSlack is how many live events a client may lag behind, on top of the replay it
	// gets first (at most --event-buffer): a client further behind is dropped, so a slow
	// reader costs the Tron a bounded buffer and never blocks it.
	sseSlack = 256
	// sseMaxStreams bounds the streams open at once (dashboards, `funcatron events -f`):
	// each holds a goroutine and a buffer, and a token holder must not exhaust the Tron.
	sseMaxStreams = 64
)

// getEvents answers the recent lifecycle events, oldest first (the replay buffer of
// --event-buffer entries): as a JSON snapshot, or, when the client accepts
// text/event-stream, as a stream that then follows the new ones.
func (t *Tron) getEvents(ctx *fasthttp.RequestCtx) {
	if !acceptsEventStream(ctx) {
		writeJSON(ctx, http.StatusOK, map[string]any{"events": t.events.Recent()})
		return
	}
	serveSSE(t, ctx, t.events, nil, "funcatron events", t.opts.EventBuffer)
}

// serveSSE answers ctx with a stream of r's items that keep accepts (nil: all): the
// replay, then the new ones. buffered is r's size: the client's buffer holds it plus
// sseSlack. The events and the logs streams share it, and the bound on open streams.
func serveSSE[T any](t *Tron, ctx *fasthttp.RequestCtx, r *bus.Replay[T], keep func(T) bool, hello string, buffered int) {
	if !t.openStream() {
		writeError(ctx, http.StatusServiceUnavailable, fmt.Sprintf("too many live streams open (%d); close one and try again", t.maxStreams()))
		return
	}
	sub := subscribeSSE(t, r, keep, ctx.Conn(), buffered)
	ctx.SetStatusCode(http.StatusOK)
	ctx.SetContentType("text/event-stream; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.Header.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	ctx.SetConnectionClose()                           // the stream is the connection's last answer
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer t.closeStream()
		defer sub.cancel()
		streamSSE(t, w, sub, hello)
	})
}

// acceptsEventStream tells whether the request's Accept names text/event-stream.
func acceptsEventStream(ctx *fasthttp.RequestCtx) bool {
	return strings.Contains(strings.ToLower(string(ctx.Request.Header.Peek("Accept"))), "text/event-stream")
}

// sseSub is one client's subscription: the items not yet written, bounded.
type sseSub[T any] struct {
	conn    net.Conn
	ch      chan T
	dropped chan struct{} // closed when the client fell too far behind
	cancel  func()
}

// subscribeSSE subscribes a client on conn: the replay, then every new item keep accepts.
// When the client's buffer is full the subscription marks it dropped and closes conn,
// which ends a write blocked on it; the Tron's Add never waits.
func subscribeSSE[T any](t *Tron, r *bus.Replay[T], keep func(T) bool, conn net.Conn, buffered int) *sseSub[T] {
	s := &sseSub[T]{conn: conn, ch: make(chan T, buffered+sseSlack), dropped: make(chan struct{})}
	var once sync.Once
	s.cancel = r.Subscribe(func(e T) {
		if keep != nil && !keep(e) {
			return
		}
		select {
		case s.ch <- e:
		default:
			once.Do(func() {
				close(s.dropped)
				conn.Close()
				t.streams.dropped.Inc()
				t.log.Warn("dropped a live stream client that fell too far behind", "remote", conn.RemoteAddr().String())
			})
		}
	})
	return s
}

// streamSSE writes the client's items as they come, and a heartbeat comment when idle,
// until the client goes (a write fails), falls too far behind, or the Tron stops.
func streamSSE[T any](t *Tron, w *bufio.Writer, s *sseSub[T], hello string) {
	beat := time.NewTicker(t.heartbeat())
	defer beat.Stop()
	send := func(write func()) bool {
		write()
		s.conn.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		return w.Flush() == nil
	}
	if !send(func() { w.WriteString(": " + hello + "\n\n") }) {
		return
	}
	for {
		var ok bool
		select {
		case e := <-s.ch:
			ok = send(func() { writeSSE(w, e, s.ch) })
		case <-beat.C:
			ok = send(func() { w.WriteString(": heartbeat\n\n") })
		case <-s.dropped:
			return
		case <-t.runCtx.Done():
			return
		}
		if !ok {
			return
		}
	}
}

// writeSSE writes e and whatever else is already waiting, so a burst goes out in one
// flush. Each item is `data: <the item as JSON>` and a blank line.
func writeSSE[T any](w *bufio.Writer, e T, more <-chan T) {
	for {
		b, err := json.Marshal(e)
		if err == nil {
			w.WriteString("data: ")
			w.Write(b)
			w.WriteString("\n\n")
		}
		select {
		case e = <-more:
		default:
			return
		}
	}
}

// eventStreams counts the open streams, to bound them, and exports them as metrics.
type eventStreams struct {
	n       atomic.Int64
	open    prometheus.Gauge
	dropped prometheus.Counter
}

func newEventStreams(reg *prometheus.Registry) *eventStreams {
	s := &eventStreams{
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "funcatron_tron_event_streams", Help: "Open GET /api/v1/events and /api/v1/logs streams (dashboards, funcatron events -f, funcatron logs -f).",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "funcatron_tron_event_streams_dropped_total", Help: "Live stream clients (events, logs) dropped because they fell too far behind.",
		}),
	}
	reg.MustRegister(s.open, s.dropped)
	return s
}

// openStream counts a new stream in, unless the most allowed are open.
func (t *Tron) openStream() bool {
	if t.streams.n.Add(1) > int64(t.maxStreams()) {
		t.streams.n.Add(-1)
		return false
	}
	t.streams.open.Inc()
	return true
}

func (t *Tron) closeStream() {
	t.streams.n.Add(-1)
	t.streams.open.Dec()
}

func (t *Tron) maxStreams() int {
	if t.opts.maxEventStreams > 0 {
		return t.opts.maxEventStreams
	}
	return sseMaxStreams
}

func (t *Tron) heartbeat() time.Duration {
	if t.opts.eventHeartbeat > 0 {
		return t.opts.eventHeartbeat
	}
	return sseHeartbeat
}
