// The paths a request can take, which the row loop runs over: the two reference paths of
// our own nginx, then each Funcatron path (one per frontend). A path through Funcatron knows
// the broker nodes it crosses, whose counters give the messages per request.

package main

import (
	"github.com/funcatron/funcatron/internal/servers"
)

// Kinds of path.
const (
	kindCeiling   = "ceiling"   // nginx answers itself
	kindDirect    = "direct"    // nginx proxies to the function process (= 1.00)
	kindFuncatron = "funcatron" // nginx → RabbitMQ → runner → function and back
)

// Names of the paths the main stack has (Short, in the JSON and the target checks).
const (
	shortCeiling   = "ceiling"
	shortDirect    = "direct"
	shortRecords   = "records"
	shortCatalogue = "catalogue"
)

// path is one way through the system a row measures.
type path struct {
	Name  string // the table's label
	Short string // one word for the CPU table and the JSON
	Kind  string
	base  string // http://127.0.0.1:<port>
	// brokers are the RabbitMQ nodes a Funcatron path's messages cross: their counters are
	// read before and after each row (none: a reference path).
	brokers []*servers.RabbitMQ
}

// url is where the path's requests go for a body (-1: GET).
func (p *path) url(bodySize int) string {
	switch {
	case p.Kind == kindCeiling:
		return p.base + ceilingPath
	case bodySize < 0:
		return p.base + greetPath
	}
	return p.base + echoPath
}

// moreStacks start further systems after the main stack and the reference nginx, and return
// what stops them at the end (called even when start failed, if not nil). Each adds its
// frontends with b.addFrontend (a path with its broker nodes: the row loop then measures it
// for every body, at 32 connections and one at a time, and reads those nodes' counters) and
// its runners' pids to b.roles.runners (for the CPU table; broker nodes below this program
// are found by name). A file of this package adds to it in an init function (bench/cluster.go:
// a three-node RabbitMQ cluster), so the rows of every stack come out of one row loop,
// neighbours in time.
var moreStacks []func(b *bench) (stop func(), err error)

// addPath puts p at the end of the row loop.
func (b *bench) addPath(p *path) { b.paths = append(b.paths, p) }

// pathByShort is the path named short (nil: none).
func (b *bench) pathByShort(short string) *path {
	for _, p := range b.paths {
		if p.Short == short {
			return p
		}
	}
	return nil
}
