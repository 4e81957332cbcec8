// Shipping log records to funcatron.logging (spec/protocol.md §5): a slog.Handler that
// passes every record to the process's own handler (text or JSON on stderr) and copies
// those at or above the level into a bounded channel, which a Shipper drains onto the
// topic exchange. Logging never waits for the broker: a full channel drops the record,
// and so does a publish that fails; both are counted (Dropped, a metric of the component).

package logging

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/funcatron/funcatron/internal/wait"
)

// Exchange is the topic exchange log records go to; the routing key is Key(level).
const Exchange = "funcatron.logging"

// Bounds of shipping: records queued at most (beyond: dropped), and how long one publish
// may wait (a broker that is gone holds one record that long, never the component).
// After a failed publish the shipper pauses (records queue meanwhile): a missing
// funcatron.logging (a runner started before any Tron declared it) is one 404 channel
// error and one new channel a second, not one per record, each in the broker's log.
const (
	shipBuffer     = 1024
	publishTimeout = 2 * time.Second
	failurePause   = time.Second
)

// Record is the body of a message on funcatron.logging. Level is an addition to the
// spec's {component, id, at, msg, attrs}: a consumer bound to "#" sees it without the key.
// Component is the part that logged: the record's own component attribute (amqpbus, the
// bus inside a tron or runner), else the process's (tron, runner).
type Record struct {
	Component string         `json:"component"`
	ID        string         `json:"id"`
	At        int64          `json:"at"` // epoch milliseconds
	Level     string         `json:"level"`
	Msg       string         `json:"msg"`
	Attrs     map[string]any `json:"attrs,omitempty"`
}

// PublishFunc publishes a JSON body to a topic exchange with a routing key (the bus's
// Publish).
type PublishFunc func(ctx context.Context, exchange, key string, body []byte) error

// Shipper queues records and publishes them. Its zero value is not usable: NewShipper.
type Shipper struct {
	ch        chan Record
	component atomic.Pointer[string]
	id        atomic.Pointer[string]
	dropped   atomic.Uint64
	shipped   atomic.Uint64
}

// NewShipper returns a Shipper for records of component (tron, runner); its id is set
// with SetID once known (the node's inbox).
func NewShipper(component string) *Shipper {
	s := &Shipper{ch: make(chan Record, shipBuffer)}
	s.component.Store(&component)
	empty := ""
	s.id.Store(&empty)
	return s
}

// SetID names the node in the records queued from now on.
func (s *Shipper) SetID(id string) { s.id.Store(&id) }

// Dropped is how many records were not shipped (channel full, or the publish failed).
func (s *Shipper) Dropped() uint64 { return s.dropped.Load() }

// Shipped is how many records the broker confirmed.
func (s *Shipper) Shipped() uint64 { return s.shipped.Load() }

// queue adds r without waiting; a full channel drops it. r's Component is the shipper's
// unless the record named its own (see componentOf).
func (s *Shipper) queue(r Record) {
	if r.Component == "" {
		r.Component = *s.component.Load()
	}
	r.ID = *s.id.Load()
	select {
	case s.ch <- r:
	default:
		s.dropped.Add(1)
	}
}

// Run publishes queued records with publish until ctx ends. It logs nothing itself (a
// failure would only queue more records): failures are counted in Dropped.
func (s *Shipper) Run(ctx context.Context, publish PublishFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-s.ch:
			s.ship(ctx, publish, r)
		}
	}
}

func (s *Shipper) ship(ctx context.Context, publish PublishFunc, r Record) {
	body, err := json.Marshal(r)
	if err != nil { // an attribute json cannot write: ship its text instead
		r.Attrs = map[string]any{"attrs": fmt.Sprint(r.Attrs)}
		body, _ = json.Marshal(r)
	}
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := publish(pctx, Exchange, r.Level, body); err != nil {
		s.dropped.Add(1)
		wait.Pause(ctx, failurePause)
		return
	}
	s.shipped.Add(1)
}

// tee is the handler: next gets every record it enables; records at or above level (every
// record when always) are also queued on the shipper, with the attributes and groups given
// so far.
type tee struct {
	next   slog.Handler
	level  slog.Leveler
	always bool // ShipAlways
	s      *Shipper
	attrs  map[string]any
	prefix string // the open groups, "a.b."
}

// ShipAlways returns l with every record it logs shipped, whatever the level; the process's
// own handler (stderr) still applies the level. It is for the bundles' output, which is the
// user's data, not the component's diagnostics: a runner at --log-level warn still ships its
// bundles' lines, so `funcatron logs` and GET /api/v1/logs show them. A logger not made by
// Open is returned as it is.
func ShipAlways(l *slog.Logger) *slog.Logger {
	t, ok := l.Handler().(*tee)
	if !ok {
		return l
	}
	c := *t
	c.always = true
	return slog.New(&c)
}

// Handler returns a handler that passes records to next and ships those at or above level.
func (s *Shipper) Handler(next slog.Handler, level slog.Leveler) slog.Handler {
	return &tee{next: next, level: level, s: s}
}

func (t *tee) Enabled(ctx context.Context, l slog.Level) bool {
	return t.always || l >= t.level.Level() || t.next.Enabled(ctx, l)
}

func (t *tee) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if t.next.Enabled(ctx, r.Level) {
		err = t.next.Handle(ctx, r)
	}
	if t.always || r.Level >= t.level.Level() {
		attrs := make(map[string]any, len(t.attrs)+r.NumAttrs())
		for k, v := range t.attrs {
			attrs[k] = v
		}
		r.Attrs(func(a slog.Attr) bool { addAttr(attrs, t.prefix, a); return true })
		at := r.Time
		if at.IsZero() {
			at = time.Now()
		}
		t.s.queue(Record{
			Component: componentOf(attrs), At: at.UnixMilli(), Level: Key(r.Level), Msg: r.Message, Attrs: attrs,
		})
	}
	return err
}

// componentOf takes a record's own "component" attribute out of attrs and returns it: a
// library logging under the process's logger names itself (amqpbus logs with
// component=amqpbus inside the runner), and a record carries one component, the most
// specific. "" when the record names none (the shipper's component is used).
func componentOf(attrs map[string]any) string {
	c, ok := attrs["component"].(string)
	if !ok || c == "" {
		return ""
	}
	delete(attrs, "component")
	return c
}

func (t *tee) WithAttrs(as []slog.Attr) slog.Handler {
	c := *t
	c.next = t.next.WithAttrs(as)
	c.attrs = make(map[string]any, len(t.attrs)+len(as))
	for k, v := range t.attrs {
		c.attrs[k] = v
	}
	for _, a := range as {
		addAttr(c.attrs, t.prefix, a)
	}
	return &c
}

func (t *tee) WithGroup(name string) slog.Handler {
	if name == "" {
		return t
	}
	c := *t
	c.next = t.next.WithGroup(name)
	c.prefix = t.prefix + name + "."
	return &c
}

// addAttr puts a into m under prefix + key, groups flattened with dots, values as JSON
// can write them (errors as their text).
func addAttr(m map[string]any, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			addAttr(m, p, g)
		}
		return
	}
	if a.Key == "" {
		return
	}
	m[prefix+a.Key] = plain(v)
}

func plain(v slog.Value) any {
	switch v.Kind() {
	case slog.KindTime:
		return v.Time().UTC().Format(time.RFC3339Nano)
	case slog.KindDuration:
		return v.Duration().String()
	case slog.KindAny:
		x := v.Any()
		if err, ok := x.(error); ok && err != nil {
			return err.Error()
		}
		if _, jerr := json.Marshal(x); jerr != nil {
			return fmt.Sprint(x)
		}
		return x
	}
	return v.Any()
}

// Metrics are the shipper's counters for the component's registry:
// funcatron_<component>_log_records_shipped_total and ..._dropped_total.
func (s *Shipper) Metrics() []prometheus.Collector {
	c := *s.component.Load()
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "funcatron_" + c + "_log_records_shipped_total",
			Help: "Log records published to funcatron.logging (confirmed by the broker).",
		}, func() float64 { return float64(s.Shipped()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "funcatron_" + c + "_log_records_dropped_total",
			Help: "Log records not published to funcatron.logging: the queue was full (a slow or absent broker) or the publish failed.",
		}, func() float64 { return float64(s.Dropped()) }),
	}
}

// Start sets the node's id and ships until the returned stop is called (it waits for the
// shipping to end). The caller starts it once its bus is connected; records logged before
// wait in the queue.
func (s *Shipper) Start(id string, publish PublishFunc) (stop func()) {
	s.SetID(id)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, publish) }()
	return func() { cancel(); <-done }
}
