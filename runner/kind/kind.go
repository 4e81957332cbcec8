// Package kind is what the runner core and the bundle kinds agree on (spec/architecture.md:
// kinds as plug-ins). A Kind starts an Instance for an enabled bundle; the core hands the
// instance one Call per request, reads its health for heartbeats and metrics, and stops it.
// The core never names a kind: it looks the bundle's kind up in a Registry (the runner's
// Options.Kinds; runner/kinds lists the built-in ones).
package kind

import (
	"context"
	"log/slog"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/protocol"
)

// Kind starts instances of the bundles of one kind.
type Kind interface {
	// Start starts an instance of the bundle s describes and returns once it can serve, or
	// fails with a message for the Tron's operator (it goes into the enable's ack). ctx
	// bounds the start only: the instance lives until Stop.
	Start(ctx context.Context, s *Spec) (Instance, error)
}

// Registry maps each bundle kind a runner serves to its implementation.
type Registry map[bundles.Kind]Kind

// Spec is an enabled bundle as a kind receives it.
type Spec struct {
	SHA            string
	Host, BasePath string // the route it serves
	Queue          string // the route queue (for logs and metrics)
	Bundle         *bundles.Bundle
	Dir            string         // the unpacked bundle; the kind's processes run there
	Props          map[string]any // given at enable time
	PropsJSON      []byte         // Props as JSON (what processes get in FUNCATRON_PROPS)
	Log            *slog.Logger   // already carries queue and sha
	Grace          time.Duration  // SIGTERM → SIGKILL for processes the kind starts
	OnRestart      func()         // a process of the instance was restarted (a metric)
	// UIDs is the runner's --bundle-uids: the kind runs the instance's processes under a
	// uid of this range of their own (zero: as the runner's user, no isolation).
	UIDs UIDRange
	// Output receives the instance's stdout and stderr lines; nil logs them on Log.
	Output Output
}

// Instance is one started bundle (one sha with one set of props) as its kind runs it.
//
// Serve always fills out: a bundle that fails yields a 5xx answer, never an error, so every
// request gets an answer. It may be called concurrently, at most Concurrency() times at
// once (the route queue's prefetch bounds it). Stop is called once, after the core stopped
// sending calls and the calls in flight finished (or their time ran out).
type Instance interface {
	Serve(ctx context.Context, c *Call, out *protocol.AnswerBody)
	// Concurrency is the most calls the instance takes at once.
	Concurrency() int
	// Timeout bounds one call; the core waits that long for calls in flight on a stop.
	Timeout() time.Duration
	// Health is the instance's current state, reported in heartbeats and metrics.
	Health() Health
	Stop(ctx context.Context) error
}

// Health is an instance's state (spec/bundles.md §5 names them for the gilmour kind; every
// kind reports one).
type Health string

const (
	// HealthOK: serving.
	HealthOK Health = "ok"
	// HealthUnavailable: the bundle's process does not answer its health check; calls get
	// 503 until it does again.
	HealthUnavailable Health = "unavailable"
	// HealthDirty: the bundle's process cannot be trusted (e.g. its socket is not what was
	// started); all activity stopped.
	HealthDirty Health = "dirty"
)

// Healths lists every Health, for metrics.
var Healths = []Health{HealthOK, HealthUnavailable, HealthDirty}
